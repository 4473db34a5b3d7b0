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
  assertPath(p);
  if (p === "") return ".";
  let end = p.length;
  while (end > 1 && p[end - 1] === "/") end--;
  const idx = p.lastIndexOf("/", end - 1);
  if (idx === -1) return ".";
  if (idx === 0) return "/";
  let d = p.slice(0, idx);
  while (d.length > 1 && d.endsWith("/")) d = d.slice(0, -1);
  return d;
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

export function extname(p) {
  const base = basename(p);
  const idx = base.lastIndexOf(".");
  if (idx <= 0) return "";
  return base.slice(idx);
}

export function parse(p) {
  assertPath(p);
  const root = p.startsWith("/") ? "/" : "";
  const base = basename(p);
  const ext = extname(p);
  let dir = dirname(p);
  if (dir === "." && !p.includes("/")) dir = "";
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
