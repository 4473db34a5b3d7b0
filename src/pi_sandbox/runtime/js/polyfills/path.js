// path — the npm package `path-browserify` (Node's POSIX path for browsers). Added here: `win32` (the sandbox is
// POSIX: an alias, documented), `toNamespacedPath`, `matchesGlob` (Node 22). `resolve()` starts from
// `process.cwd()`, the workspace.
import posix from "path-browserify/index.js";

const path = { ...posix };
path.toNamespacedPath = (p) => p;
path.matchesGlob = (p, pattern) => globToRegExp(String(pattern)).test(String(p));
path.posix = path;
path.win32 = path;

function globToRegExp(glob) {
  let out = "";
  for (let i = 0; i < glob.length; i++) {
    const ch = glob[i];
    if (ch === "*") {
      if (glob[i + 1] === "*") {
        i++;
        if (glob[i + 1] === "/") {
          i++;
          out += "(?:.*/)?";
        } else out += ".*";
      } else out += "[^/]*";
    } else if (ch === "?") out += "[^/]";
    else if (ch === "{") {
      const end = glob.indexOf("}", i);
      if (end === -1) out += "\\{";
      else {
        out += "(?:" + glob.slice(i + 1, end).split(",").map((s) => s.replace(/[.+^$()|[\]\\]/g, "\\$&").replace(/\*/g, "[^/]*")).join("|") + ")";
        i = end;
      }
    } else if (ch === "[") {
      const end = glob.indexOf("]", i);
      if (end === -1) out += "\\[";
      else {
        out += "[" + glob.slice(i + 1, end).replace(/^!/, "^") + "]";
        i = end;
      }
    } else out += ch.replace(/[.+^$()|\\]/g, "\\$&");
  }
  return new RegExp(`^${out}$`);
}

export const { sep, delimiter, normalize, isAbsolute, join, resolve, relative, dirname, basename, extname, parse,
  format, toNamespacedPath, matchesGlob, posix: posixPath, win32 } = path;
export { posixPath as posix };
export default path;
