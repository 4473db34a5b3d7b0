// node:fs — every operation is the `fs` hostcall {op: read|write|list|stat|mkdir|delete, path, ...}; the
// supervisor confines paths and decides. Paths are made absolute here (against process.cwd(), i.e. the
// workspace) so the ledger shows what was asked for. Callback forms run the sync form in a microtask: the
// worker is single-threaded and a hostcall is one round trip, so ordering is the same as Node's.
// Operations the hostcall has no op for: rename/copy = read + write (+ delete), chmod/symlink/utimes throw
// ENOTSUP, watch() returns an inert watcher (no file events reach a sandboxed extension).
import * as host from "pi:host";
import { Buffer } from "buffer";
import { resolve as resolvePath, join as joinPath, matchesGlob } from "path";
import { EventEmitter } from "events";
import { Readable, Writable } from "stream";

const HOST_CODE_TO_ERRNO = {
  not_found: "ENOENT", enoent: "ENOENT", exists: "EEXIST", already_exists: "EEXIST", not_a_directory: "ENOTDIR",
  is_a_directory: "EISDIR", not_empty: "ENOTEMPTY", too_large: "EFBIG",
};
const ERRNO = { ENOENT: -2, EACCES: -13, EEXIST: -17, ENOTDIR: -20, EISDIR: -21, ENOTEMPTY: -39, ENOTSUP: -95, EINVAL: -22, EBADF: -9, EFBIG: -27, EIO: -5 };
const DESCRIPTIONS = { ENOENT: "no such file or directory", EACCES: "permission denied", EEXIST: "file already exists",
  ENOTDIR: "not a directory", EISDIR: "illegal operation on a directory", ENOTEMPTY: "directory not empty",
  ENOTSUP: "operation not supported in the pi sandbox", EINVAL: "invalid argument", EBADF: "bad file descriptor",
  EFBIG: "file too large", EIO: "i/o error" };

export function fsError(code, syscall, path, hostMessage, hostCode) {
  const desc = hostMessage ? `${DESCRIPTIONS[code] || code} (${hostMessage})` : DESCRIPTIONS[code] || code;
  const err = new Error(`${code}: ${desc}, ${syscall}${path !== undefined ? ` '${path}'` : ""}`);
  err.code = code;
  err.errno = ERRNO[code] || -1;
  err.syscall = syscall;
  if (path !== undefined) err.path = path;
  if (hostCode !== undefined) err.hostCode = hostCode;
  return err;
}

function mapHostError(err, syscall, path) {
  if (!err || err.name !== "HostcallError") return err;
  // The fs connector answers OS failures as code "io" + reason ("not_found", "exists", ...); pipeline refusals
  // (policy, confinement, quota, trust) carry their own codes and all become EACCES.
  const raw = String(err.code || "");
  const reason = String(err.reason || "");
  let code = /^E[A-Z]+$/.test(raw) ? raw : HOST_CODE_TO_ERRNO[reason.toLowerCase()] || HOST_CODE_TO_ERRNO[raw.toLowerCase()];
  if (!code && reason === "permission_denied") code = "EACCES";
  if (!code) code = /deni|forbid|policy|confine|outside|kill|quarant|quota|trust/i.test(`${raw} ${reason}`) ? "EACCES" : "EIO";
  return fsError(code, syscall, path, err.message, raw);
}

function hc(syscall, path, params) {
  try {
    return host.callSync("fs", { ...params, path });
  } catch (err) {
    throw mapHostError(err, syscall, path);
  }
}

export function toPath(p, name = "path") {
  if (p instanceof URL || (p && typeof p === "object" && p.href && p.protocol)) {
    if (p.protocol !== "file:") throw Object.assign(new TypeError("The URL must be of scheme file"), { code: "ERR_INVALID_URL_SCHEME" });
    p = decodeURIComponent(p.pathname);
  } else if (p instanceof Uint8Array) p = Buffer.from(p).toString();
  if (typeof p !== "string") {
    throw Object.assign(new TypeError(`The "${name}" argument must be of type string or an instance of Buffer or URL.`), { code: "ERR_INVALID_ARG_TYPE" });
  }
  if (p.includes("\u0000")) throw Object.assign(new TypeError(`The "${name}" argument must not contain null bytes`), { code: "ERR_INVALID_ARG_VALUE" });
  return resolvePath(p);
}

function encodingOf(options, fallback) {
  if (typeof options === "string") return options;
  if (options && options.encoding) return options.encoding;
  return fallback;
}

// ---- result normalisation (tolerant of the connector's exact shape) -----------------------------------
function contentBytes(res, requested) {
  let data = res, encoding = requested;
  if (res && typeof res === "object" && !(res instanceof Uint8Array)) {
    data = res.data !== undefined ? res.data : res.content !== undefined ? res.content : res.text;
    encoding = res.encoding || requested;
  }
  if (data instanceof Uint8Array) return Buffer.from(data);
  if (typeof data !== "string") data = "";
  return Buffer.from(data, encoding === "base64" ? "base64" : "utf8");
}

function kindOf(s) {
  const t = String(s.type || s.kind || "").toLowerCase();
  if (t === "dir" || t === "directory" || s.is_dir === true || s.isDirectory === true) return "dir";
  if (t === "symlink" || t === "link" || s.is_symlink === true) return "symlink";
  if (t === "file" || s.is_file === true || s.isFile === true) return "file";
  return t || "file";
}

export class Stats {
  constructor(raw) {
    const s = raw && typeof raw === "object" ? raw : {};
    this._kind = kindOf(s);
    this.size = Number(s.size || 0);
    const ms = (v) => (v === undefined || v === null ? 0 : typeof v === "number" ? (v > 1e11 ? v : v * 1000) : Date.parse(v));
    this.mtimeMs = s.mtime_ms !== undefined ? Number(s.mtime_ms) : ms(s.mtime);
    this.atimeMs = s.atime_ms !== undefined ? Number(s.atime_ms) : this.mtimeMs;
    this.ctimeMs = s.ctime_ms !== undefined ? Number(s.ctime_ms) : this.mtimeMs;
    this.birthtimeMs = s.birthtime_ms !== undefined ? Number(s.birthtime_ms) : this.ctimeMs;
    this.mtime = new Date(this.mtimeMs);
    this.atime = new Date(this.atimeMs);
    this.ctime = new Date(this.ctimeMs);
    this.birthtime = new Date(this.birthtimeMs);
    const typeBits = this._kind === "dir" ? 0o040000 : this._kind === "symlink" ? 0o120000 : 0o100000;
    const perm = s.mode !== undefined ? Number(s.mode) : this._kind === "dir" ? 0o755 : 0o644;
    this.mode = perm < 0o10000 ? typeBits | perm : perm; // the connector may send permission bits only
    this.uid = 1000; this.gid = 1000; this.dev = 0; this.ino = 0; this.nlink = 1; this.rdev = 0;
    this.blksize = 4096; this.blocks = Math.ceil(this.size / 512);
  }
  isFile() { return this._kind === "file"; }
  isDirectory() { return this._kind === "dir"; }
  isSymbolicLink() { return this._kind === "symlink"; }
  isFIFO() { return false; }
  isSocket() { return false; }
  isBlockDevice() { return false; }
  isCharacterDevice() { return false; }
}

export class Dirent {
  constructor(name, kind, parentPath) { this.name = name; this._kind = kind; this.parentPath = parentPath; this.path = parentPath; }
  isFile() { return this._kind === "file"; }
  isDirectory() { return this._kind === "dir"; }
  isSymbolicLink() { return this._kind === "symlink"; }
  isFIFO() { return false; }
  isSocket() { return false; }
  isBlockDevice() { return false; }
  isCharacterDevice() { return false; }
}

// ---- sync API ------------------------------------------------------------------------------------------
export function readFileSync(file, options) {
  if (typeof file === "number") return fdRead(file, options);
  const path = toPath(file);
  const enc = encodingOf(options, null);
  const wantText = enc && /^utf-?8$/i.test(enc);
  const bytes = contentBytes(hc("open", path, { op: "read", encoding: wantText ? "utf8" : "base64" }), wantText ? "utf8" : "base64");
  return enc ? bytes.toString(enc) : bytes;
}

function writeParams(data, options) {
  const enc = encodingOf(options, "utf8");
  if (typeof data === "string" && /^utf-?8$/i.test(enc)) return { data, encoding: "utf8" };
  const bytes = typeof data === "string" ? Buffer.from(data, enc) : ArrayBuffer.isView(data) ? Buffer.from(data) : Buffer.from(String(data));
  return { data: bytes.toString("base64"), encoding: "base64" };
}

export function writeFileSync(file, data, options) {
  if (typeof file === "number") return fdWrite(file, data, options);
  const path = toPath(file);
  const flag = options && typeof options === "object" ? options.flag : undefined;
  if (flag && flag.startsWith("a")) return appendFileSync(path, data, options);
  if (flag && flag.includes("x") && existsSync(path)) throw fsError("EEXIST", "open", path);
  hc("open", path, { op: "write", ...writeParams(data, options) });
  return undefined;
}

export function appendFileSync(file, data, options) {
  // The write op's `append: true` appends atomically (O_APPEND) in the connector.
  hc("open", toPath(file), { op: "write", append: true, ...writeParams(data, options) });
}

export function statSync(file, options = {}) {
  const path = toPath(file);
  try {
    return new Stats(hc("stat", path, { op: "stat" }));
  } catch (err) {
    if (options.throwIfNoEntry === false && err.code === "ENOENT") return undefined;
    throw err;
  }
}
export const lstatSync = statSync;

export function existsSync(file) {
  try { statSync(file); return true; } catch { return false; }
}

export function accessSync(file) { statSync(file); }

function listEntries(path) {
  const res = hc("scandir", path, { op: "list" });
  const items = Array.isArray(res) ? res : res && Array.isArray(res.entries) ? res.entries : [];
  return items.map((it) => (typeof it === "string" ? { name: it, kind: null } : { name: String(it.name), kind: kindOf(it) }));
}

export function readdirSync(dir, options = {}) {
  const path = toPath(dir);
  const opts = typeof options === "string" ? { encoding: options } : options || {};
  const out = [];
  const walk = (abs, rel) => {
    for (const e of listEntries(abs)) {
      let kind = e.kind;
      if (kind === null && (opts.withFileTypes || opts.recursive)) {
        kind = new Stats(hc("stat", joinPath(abs, e.name), { op: "stat" }))._kind;
      }
      const name = rel ? `${rel}/${e.name}` : e.name;
      out.push(opts.withFileTypes ? new Dirent(e.name, kind, abs) : name);
      if (opts.recursive && kind === "dir") walk(joinPath(abs, e.name), name);
    }
  };
  walk(path, "");
  return out;
}

export function mkdirSync(dir, options) {
  const path = toPath(dir);
  const recursive = typeof options === "object" && options !== null ? !!options.recursive : false;
  if (recursive && existsSync(path)) return undefined;
  hc("mkdir", path, { op: "mkdir", recursive });
  return recursive ? path : undefined;
}

export function rmSync(file, options = {}) {
  const path = toPath(file);
  try {
    hc("rm", path, { op: "delete", recursive: !!options.recursive });
  } catch (err) {
    if (options.force && err.code === "ENOENT") return;
    throw err;
  }
}
export function unlinkSync(file) { hc("unlink", toPath(file), { op: "delete", recursive: false }); }
export function rmdirSync(dir, options = {}) { hc("rmdir", toPath(dir), { op: "delete", recursive: !!options.recursive }); }

export function copyFileSync(src, dest, mode = 0) {
  const from = toPath(src, "src");
  const to = toPath(dest, "dest");
  if (mode & 1 && existsSync(to)) throw fsError("EEXIST", "copyfile", to);
  writeFileSync(to, readFileSync(from));
}

export function cpSync(src, dest, options = {}) {
  const from = toPath(src, "src");
  const to = toPath(dest, "dest");
  if (statSync(from).isDirectory()) {
    if (!options.recursive) throw fsError("EISDIR", "cp", from);
    mkdirSync(to, { recursive: true });
    for (const name of readdirSync(from)) cpSync(joinPath(from, name), joinPath(to, name), options);
  } else copyFileSync(from, to);
}

export function renameSync(oldPath, newPath) {
  const from = toPath(oldPath, "oldPath");
  const to = toPath(newPath, "newPath");
  if (statSync(from).isDirectory()) throw fsError("ENOTSUP", "rename", from, "renaming directories is not supported");
  writeFileSync(to, readFileSync(from));
  unlinkSync(from);
}

export function realpathSync(file) { const path = toPath(file); statSync(path); return path; }
realpathSync.native = realpathSync;

export function mkdtempSync(prefix) {
  for (let i = 0; i < 10; i++) {
    const candidate = toPath(prefix + Math.random().toString(36).slice(2, 8));
    if (!existsSync(candidate)) { hc("mkdir", candidate, { op: "mkdir", recursive: true }); return candidate; }
  }
  throw fsError("EEXIST", "mkdtemp", prefix);
}

function unsupported(syscall) {
  return (p) => { throw fsError("ENOTSUP", syscall, p === undefined || typeof p === "number" ? undefined : String(p)); };
}
export const chmodSync = unsupported("chmod");
export const chownSync = unsupported("chown");
export const symlinkSync = unsupported("symlink");
export const linkSync = unsupported("link");
export const readlinkSync = (p) => { throw fsError("EINVAL", "readlink", toPath(p)); };
export const utimesSync = unsupported("utime");
export const truncateSync = (p, len = 0) => writeFileSync(p, readFileSync(p).subarray(0, len));

// ---- a tiny fd table over whole-file reads/writes ---------------------------------------------------------
const fds = new Map();
let nextFd = 10;
export function openSync(file, flags = "r") {
  const path = toPath(file);
  const f = String(flags);
  let data = Buffer.alloc(0);
  if (f.startsWith("r") || f.startsWith("a")) {
    try { data = readFileSync(path); } catch (err) { if (f.startsWith("r") || err.code !== "ENOENT") throw err; }
  } else if (f.includes("x") && existsSync(path)) throw fsError("EEXIST", "open", path);
  const fd = nextFd++;
  fds.set(fd, { path, flags: f, data, pos: f.startsWith("a") ? data.length : 0, dirty: f.startsWith("w") });
  return fd;
}
function fdEntry(fd, syscall) {
  const e = fds.get(fd);
  if (!e) throw fsError("EBADF", syscall);
  return e;
}
function fdRead(fd, options) {
  const e = fdEntry(fd, "read");
  const enc = encodingOf(options, null);
  return enc ? e.data.toString(enc) : Buffer.from(e.data);
}
function fdWrite(fd, data, options) {
  const e = fdEntry(fd, "write");
  const add = typeof data === "string" ? Buffer.from(data, encodingOf(options, "utf8")) : Buffer.from(data);
  const next = Buffer.alloc(Math.max(e.data.length, e.pos + add.length));
  next.set(e.data);
  next.set(add, e.pos);
  e.data = next;
  e.pos += add.length;
  e.dirty = true;
  return add.length;
}
export function writeSync(fd, data, ...rest) {
  if (typeof data !== "string" && rest.length) {
    const [offset = 0, length = data.length - offset] = rest;
    return fdWrite(fd, data.subarray(offset, offset + length));
  }
  return fdWrite(fd, data, rest[1]);
}
export function readSync(fd, buffer, offset = 0, length = buffer.length - offset, position = null) {
  const e = fdEntry(fd, "read");
  const start = position === null || position === undefined ? e.pos : position;
  const chunk = e.data.subarray(start, start + length);
  buffer.set(chunk, offset);
  if (position === null || position === undefined) e.pos += chunk.length;
  return chunk.length;
}
export function fstatSync(fd) { const e = fdEntry(fd, "fstat"); return new Stats({ type: "file", size: e.data.length }); }
export function fsyncSync(fd) { const e = fdEntry(fd, "fsync"); if (e.dirty) { writeFileSync(e.path, e.data); e.dirty = false; } }
export function closeSync(fd) { fsyncSync(fd); fds.delete(fd); }

// ---- streams, watchers --------------------------------------------------------------------------------------
export function createReadStream(file, options = {}) {
  const stream = new Readable({ read() {} });
  stream.path = toPath(file);
  queueMicrotask(() => {
    try {
      let data = readFileSync(stream.path);
      if (options.start !== undefined || options.end !== undefined) data = data.subarray(options.start || 0, options.end === undefined ? undefined : options.end + 1);
      const enc = encodingOf(options, null);
      stream.push(enc ? data.toString(enc) : data);
      stream.push(null);
    } catch (err) { stream.destroy(err); }
  });
  return stream;
}

export function createWriteStream(file, options = {}) {
  const path = toPath(file);
  const append = typeof options === "object" && options.flags && options.flags.startsWith("a");
  const chunks = [];
  const stream = new Writable({
    write(chunk, enc, cb) { chunks.push(typeof chunk === "string" ? Buffer.from(chunk, enc === "buffer" ? "utf8" : enc) : Buffer.from(chunk)); cb(); },
    final(cb) {
      try { (append ? appendFileSync : writeFileSync)(path, Buffer.concat(chunks)); cb(); } catch (err) { cb(err); }
    },
  });
  stream.path = path;
  stream.bytesWritten = 0;
  return stream;
}

/** Node 22 fs.globSync over readdir (patterns: *, **, ?; relative to options.cwd or the workspace). */
export function globSync(pattern, options = {}) {
  const patterns = Array.isArray(pattern) ? pattern : [pattern];
  const root = toPath(options.cwd || ".");
  const out = [];
  for (const rel of readdirSync(root, { recursive: true })) {
    if (patterns.some((p) => matchesGlob(rel, p))) out.push(options.withFileTypes ? new Dirent(rel.split("/").pop(), null, root) : rel);
  }
  return out;
}
export function glob(pattern, options, cb) {
  if (typeof options === "function") { cb = options; options = {}; }
  queueMicrotask(() => { let r; try { r = globSync(pattern, options); } catch (err) { cb(err); return; } cb(null, r); });
}

export class Dir {
  constructor(path, entries) { this.path = path; this._entries = entries; }
  readSync() { return this._entries.shift() || null; }
  async read() { return this.readSync(); }
  closeSync() {}
  async close() {}
  async *[Symbol.asyncIterator]() { let d; while ((d = this.readSync())) yield d; }
}
export function opendirSync(dir) { const p = toPath(dir); return new Dir(p, readdirSync(p, { withFileTypes: true })); }

export function watch() {
  const w = new EventEmitter();
  w.close = () => {};
  w.ref = () => w;
  w.unref = () => w;
  return w;
}
export function watchFile() {}
export function unwatchFile() {}

export const constants = { F_OK: 0, R_OK: 4, W_OK: 2, X_OK: 1, COPYFILE_EXCL: 1, COPYFILE_FICLONE: 2, O_RDONLY: 0, O_WRONLY: 1, O_RDWR: 2 };
export const F_OK = 0, R_OK = 4, W_OK = 2, X_OK = 1;

// ---- callback forms -----------------------------------------------------------------------------------
function callbackify(fn) {
  return (...args) => {
    const cb = typeof args[args.length - 1] === "function" ? args.pop() : null;
    if (!cb) throw Object.assign(new TypeError('The "cb" argument must be of type function'), { code: "ERR_INVALID_ARG_TYPE" });
    queueMicrotask(() => {
      let result;
      try { result = fn(...args); } catch (err) { cb(err); return; }
      cb(null, result);
    });
  };
}
export const readFile = callbackify(readFileSync);
export const writeFile = callbackify(writeFileSync);
export const appendFile = callbackify(appendFileSync);
export const stat = callbackify(statSync);
export const lstat = callbackify(lstatSync);
export const readdir = callbackify(readdirSync);
export const mkdir = callbackify(mkdirSync);
export const rm = callbackify(rmSync);
export const unlink = callbackify(unlinkSync);
export const rmdir = callbackify(rmdirSync);
export const rename = callbackify(renameSync);
export const copyFile = callbackify(copyFileSync);
export const cp = callbackify(cpSync);
export const access = callbackify(accessSync);
export const realpath = callbackify(realpathSync);
export const mkdtemp = callbackify(mkdtempSync);
export const open = callbackify(openSync);
export const close = callbackify(closeSync);
export const chmod = callbackify(chmodSync);
export function exists(p, cb) { queueMicrotask(() => cb(existsSync(p))); }

export const _sync = {
  readFileSync, writeFileSync, appendFileSync, statSync, lstatSync, existsSync, accessSync, readdirSync, mkdirSync,
  rmSync, unlinkSync, rmdirSync, copyFileSync, cpSync, renameSync, realpathSync, mkdtempSync, chmodSync, chownSync,
  symlinkSync, linkSync, readlinkSync, utimesSync, truncateSync, openSync, closeSync, readSync, writeSync, fstatSync,
  fsyncSync, globSync, opendirSync,
};

// `fs.promises` / `import { promises } from "fs"`: a live re-export (no TDZ access during the fs <-> fs/promises
// import cycle, whichever of the two is loaded first).
export { default as promises } from "fs/promises";
import * as promisesModule from "fs/promises";

const fsDefault = {
  ..._sync, readFile, writeFile, appendFile, stat, lstat, readdir, mkdir, rm, unlink, rmdir, rename, copyFile, cp,
  access, realpath, mkdtemp, open, close, chmod, exists, createReadStream, createWriteStream, watch, watchFile,
  unwatchFile, constants, F_OK, R_OK, W_OK, X_OK, Stats, Dirent, Dir, glob,
  get promises() { return promisesModule.default; },
};
export { fsDefault as default };
