// node:path — POSIX semantics (the worker is always "linux"). Pure JS, no host access.
// `resolve` uses process.cwd() which reads host.info().cwd (the workspace), never the real process cwd.

function assertPath(p, name = "path") {
  if (typeof p !== "string") {
    const err = new TypeError(`The "${name}" argument must be of type string. Received ${typeof p}`);
    err.code = "ERR_INVALID_ARG_TYPE";
    throw err;
  }
}

// Index assignment instead of push/pop: paths feed every fs hostcall, and an extension that hijacks
// Array.prototype.push in its own realm must not turn its file paths into "/".
function normalizeParts(p, allowAboveRoot) {
  const out = [];
  for (const seg of p.split("/")) {
    if (seg === "" || seg === ".") continue;
    if (seg === "..") {
      if (out.length && out[out.length - 1] !== "..") out.length -= 1;
      else if (allowAboveRoot) out[out.length] = "..";
    } else out[out.length] = seg;
  }
  return out;
}

function currentDir() {
  const proc = globalThis.process;
  return proc && typeof proc.cwd === "function" ? proc.cwd() : "/";
}

export const sep = "/";
export const delimiter = ":";

export function normalize(p) {
  assertPath(p);
  if (p === "") return ".";
  const abs = p.startsWith("/");
  const trailing = p.endsWith("/");
  let body = normalizeParts(p, !abs).join("/");
  if (body === "" && !abs) body = ".";
  if (body !== "" && trailing) body += "/";
  return (abs ? "/" : "") + body;
}

export function isAbsolute(p) {
  assertPath(p);
  return p.startsWith("/");
}

export function join(...parts) {
  parts.forEach((p) => assertPath(p));
  const joined = parts.filter((p) => p !== "").join("/");
  return joined === "" ? "." : normalize(joined);
}

export function resolve(...parts) {
  let resolved = "";
  for (let i = parts.length - 1; i >= -1 && !resolved.startsWith("/"); i--) {
    const p = i >= 0 ? parts[i] : currentDir();
    assertPath(p);
    if (p === "") continue;
    resolved = resolved === "" ? p : `${p}/${resolved}`;
  }
  const body = normalizeParts(resolved, false).join("/");
  return "/" + body;
}

export function relative(from, to) {
  assertPath(from, "from");
  assertPath(to, "to");
  const a = resolve(from).split("/").filter(Boolean);
  const b = resolve(to).split("/").filter(Boolean);
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  return [...Array(a.length - i).fill(".."), ...b.slice(i)].join("/");
}

export function dirname(p) {
  // Node semantics: drop the last segment and exactly one separator before it ("a//b" -> "a/"), keep "//" roots.
  assertPath(p);
  if (p === "") return ".";
  const hasRoot = p[0] === "/";
  let end = -1;
  let inTrailingSlashes = true;
  for (let i = p.length - 1; i >= 1; i--) {
    if (p[i] === "/") {
      if (!inTrailingSlashes) { end = i; break; }
    } else inTrailingSlashes = false;
  }
  if (end === -1) return hasRoot ? "/" : ".";
  if (hasRoot && end === 1) return "//";
  return p.slice(0, end);
}

export function basename(p, ext) {
  assertPath(p);
  let end = p.length;
  while (end > 1 && p[end - 1] === "/") end--;
  const trimmed = p.slice(0, end);
  let base = trimmed.slice(trimmed.lastIndexOf("/") + 1);
  if (base === "" && trimmed === "/") base = "";
  if (ext !== undefined && base.endsWith(ext) && base !== ext) base = base.slice(0, -ext.length);
  return base;
}

function extOfBase(base) {
  // Node: no extension for "..", for names whose only dot leads (".bashrc"), or without a dot.
  if (base === "..") return "";
  const idx = base.lastIndexOf(".");
  return idx <= 0 ? "" : base.slice(idx);
}

export function extname(p) {
  return extOfBase(basename(p));
}

export function parse(p) {
  assertPath(p);
  const root = p.startsWith("/") ? "/" : "";
  let end = p.length;
  while (end > 1 && p[end - 1] === "/") end--;
  const trimmed = p.slice(0, end);
  const idx = trimmed.lastIndexOf("/");
  const base = p === "/" ? "" : basename(p);
  const ext = extOfBase(base);
  const dir = idx === -1 ? "" : idx === 0 ? "/" : trimmed.slice(0, idx);
  return { root, dir, base, ext, name: ext ? base.slice(0, -ext.length) : base };
}

export function format(obj) {
  const dir = obj.dir || obj.root || "";
  const base = obj.base || `${obj.name || ""}${obj.ext ? (obj.ext.startsWith(".") ? "" : ".") + obj.ext : ""}`;
  if (!dir) return base;
  return dir === obj.root ? `${dir}${base}` : `${dir}/${base}`;
}

export function toNamespacedPath(p) { return p; }
export function matchesGlob(p, pattern) {
  // Minimal glob: *, **, ? — enough for the rare extension that calls it.
  const re = pattern
    .replace(/[.+^${}()|[\]\\]/g, "\\$&")
    .replace(/\*\*\/?/g, "\u0000")
    .replace(/\*/g, "[^/]*")
    .replace(/\?/g, "[^/]")
    .replace(/\u0000/g, ".*");
  return new RegExp(`^${re}$`).test(p);
}

const posix = {
  sep, delimiter, normalize, isAbsolute, join, resolve, relative, dirname, basename, extname,
  parse, format, toNamespacedPath, matchesGlob,
};
posix.posix = posix;
posix.win32 = posix; // no win32 semantics in the worker; alias keeps `path.win32.x` from crashing
export { posix };
export const win32 = posix;
export default posix;
