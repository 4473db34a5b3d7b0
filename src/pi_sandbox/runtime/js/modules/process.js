// node:process — a headless process object for a sandboxed worker.
// * env is a Proxy: every read goes through the `env` hostcall ({name} -> {value}); enumeration uses
//   {op:"list"} -> {names}. Writes stay local to this extension (an overlay), never reach the host.
//   A denied read behaves like an unset variable (Node semantics); the denial is in the ledger.
// * cwd/argv/pid/platform come from host.info(); exit() throws instead of exiting.
// * memoryUsage()/cpuUsage()/resourceUsage() return documented stub numbers (zeros + heap from nothing):
//   the worker cannot observe the supervisor's accounting.
import * as host from "pi:host";
import { EventEmitter } from "events";

let cachedInfo = null;
function info() {
  if (!cachedInfo) cachedInfo = host.info() || {};
  return cachedInfo;
}

const overlay = new Map(); // name -> string | undefined (undefined = deleted locally)
// The extension's own places, answered locally (no hostcall): its tmp dir as TMPDIR/TMP/TEMP (what os.tmpdir()
// returns) and its data dir as PI_EXTENSION_DATA_DIR. Both are writable for it alone.
// HOME and PWD are what os.homedir() and process.cwd() already answer (the same host.info() values), so
// reading them discloses nothing new; extensions build paths from them at load (`join(process.env.HOME!,
// ".pi")`), which threw when a policy that refuses `env` left them unset.
for (const [name, key] of [["TMPDIR", "tmpdir"], ["TMP", "tmpdir"], ["TEMP", "tmpdir"], ["PI_EXTENSION_DATA_DIR", "dataDir"],
  ["HOME", "homedir"], ["PWD", "cwd"]]) {
  const value = (host.info() || {})[key];
  if (value) overlay.set(name, String(value));
}

// Enumeration ({...process.env}, Object.keys/entries) would otherwise cost one hostcall per variable: ownKeys
// batch-reads the visible names ({names: [...]}, ≤256 per call) into a snapshot that lives until the next
// microtask, so a spread is 2 hostcalls. Single reads never use a stale value.
let snapshot = null;
function takeSnapshot(names) {
  const values = new Map();
  for (let i = 0; i < names.length; i += 256) {
    try {
      const res = host.callSync("env", { names: names.slice(i, i + 256) });
      const got = (res && res.values) || {};
      for (const n of names.slice(i, i + 256)) values.set(n, got[n] === null || got[n] === undefined ? undefined : String(got[n]));
    } catch (err) {
      if (!(err && err.name === "HostcallError")) throw err;
      for (const n of names.slice(i, i + 256)) values.set(n, undefined);
    }
  }
  snapshot = values;
  queueMicrotask(() => { snapshot = null; });
}

function readEnv(name) {
  if (overlay.has(name)) return overlay.get(name);
  if (snapshot && snapshot.has(name)) return snapshot.get(name);
  try {
    const res = host.callSync("env", { name });
    const value = res && typeof res === "object" ? res.value : res;
    return value === null || value === undefined ? undefined : String(value);
  } catch (err) {
    if (err && err.name === "HostcallError") return undefined;
    throw err;
  }
}

function listEnv() {
  let names = [];
  try {
    const res = host.callSync("env", { op: "list" });
    names = Array.isArray(res) ? res : (res && Array.isArray(res.names) ? res.names : []);
  } catch (err) {
    if (!(err && err.name === "HostcallError")) throw err;
  }
  const all = new Set(names.map(String));
  for (const [k, v] of overlay) {
    if (v === undefined) all.delete(k);
    else all.add(k);
  }
  const fromHost = [...all].filter((k) => !overlay.has(k));
  if (fromHost.length) takeSnapshot(fromHost);
  // Names whose value the host withholds read as unset: leave them out, as Node would for an unset variable.
  return [...all].filter((k) => overlay.has(k) || (snapshot && snapshot.get(k) !== undefined));
}

const env = new Proxy(Object.create(null), {
  get(_t, name) {
    if (typeof name !== "string") return undefined;
    return readEnv(name);
  },
  set(_t, name, value) {
    if (typeof name === "string") overlay.set(name, String(value));
    return true;
  },
  deleteProperty(_t, name) {
    if (typeof name === "string") overlay.set(name, undefined);
    return true;
  },
  has(_t, name) {
    return typeof name === "string" && readEnv(name) !== undefined;
  },
  ownKeys() {
    return listEnv();
  },
  getOwnPropertyDescriptor(_t, name) {
    if (typeof name !== "string") return undefined;
    const value = readEnv(name);
    if (value === undefined) return undefined;
    return { value, writable: true, enumerable: true, configurable: true };
  },
  defineProperty(_t, name, desc) {
    if (typeof name === "string") overlay.set(name, String(desc.value));
    return true;
  },
});

const startNs = BigInt(Math.round(performance.now() * 1e6));

function hrtime(prev) {
  const ms = performance.now();
  let sec = Math.floor(ms / 1000);
  let ns = Math.round((ms % 1000) * 1e6);
  if (prev) {
    sec -= prev[0];
    ns -= prev[1];
    if (ns < 0) { sec -= 1; ns += 1e9; }
  }
  return [sec, ns];
}
hrtime.bigint = () => BigInt(Math.round(performance.now() * 1e6));

function makeStream(level, fd) {
  const s = new EventEmitter();
  s.fd = fd;
  s.isTTY = false;
  s.columns = 80;
  s.rows = 24;
  s.writable = true;
  s.write = (chunk, enc, cb) => {
    const text = typeof chunk === "string" ? chunk : new TextDecoder().decode(chunk);
    host.log(level, text.endsWith("\n") ? text.slice(0, -1) : text);
    const done = typeof enc === "function" ? enc : cb;
    if (typeof done === "function") queueMicrotask(() => done(null));
    return true;
  };
  s.end = (chunk) => { if (chunk) s.write(chunk); };
  s.getColorDepth = () => 1;
  s.hasColors = () => false;
  return s;
}

class ExitError extends Error {
  constructor(code) {
    super(`pi-sandbox: process.exit(${code}) is not allowed in an extension; throw an error or return instead`);
    this.code = "ERR_PROCESS_EXIT";
    this.exitCode = code;
  }
}

const proc = new EventEmitter();
Object.assign(proc, {
  title: "pi-extension",
  env,
  get argv() { return ["/usr/bin/node", "pi-extension", ...(info().argv || [])]; },
  execArgv: [],
  execPath: "/usr/bin/node",
  version: "v20.18.0",
  versions: { node: "20.18.0", v8: "0.0.0-sandbox", uv: "0.0.0", modules: "115", quickjs: "ng" },
  release: { name: "node", lts: "Iron" },
  arch: "x64",
  get platform() { return info().platform || "linux"; },
  get pid() { return info().pid || 1; },
  ppid: 0,
  exitCode: undefined,
  config: { variables: {} },
  features: {},
  stdout: makeStream("info", 1),
  stderr: makeStream("error", 2),
  stdin: Object.assign(new EventEmitter(), { fd: 0, isTTY: false, setRawMode() {}, resume() {}, pause() {} }),
  cwd() { return info().cwd || "/"; },
  chdir() {
    throw Object.assign(new Error("pi-sandbox: process.chdir() is not supported in extensions"), { code: "ENOTSUP" });
  },
  exit(code = 0) { throw new ExitError(code); },
  abort() { throw new ExitError(134); },
  kill() {
    throw Object.assign(new Error("pi-sandbox: process.kill() is not available to extensions"), { code: "EPERM" });
  },
  nextTick(fn, ...args) { queueMicrotask(() => fn(...args)); },
  hrtime,
  uptime() { return Number(hrtime.bigint() - startNs) / 1e9; },
  memoryUsage: Object.assign(() => ({ rss: 0, heapTotal: 0, heapUsed: 0, external: 0, arrayBuffers: 0 }), { rss: () => 0 }),
  cpuUsage() { return { user: 0, system: 0 }; },
  resourceUsage() { return { userCPUTime: 0, systemCPUTime: 0, maxRSS: 0 }; },
  emitWarning(msg) { host.log("warn", typeof msg === "string" ? msg : String(msg && msg.message)); },
  umask() { return 0o022; },
  getuid() { return 1000; },
  getgid() { return 1000; },
  geteuid() { return 1000; },
  getegid() { return 1000; },
  binding(name) {
    throw Object.assign(new Error(`pi-sandbox: process.binding('${name}') is not available to extensions`), { code: "ERR_FORBIDDEN_BUILTIN" });
  },
  dlopen() {
    throw Object.assign(new Error("pi-sandbox: native addons are not available to extensions"), { code: "ERR_FORBIDDEN_BUILTIN" });
  },
});

export default proc;
export { env, hrtime, ExitError };
export const cwd = () => proc.cwd();
export const nextTick = proc.nextTick;
export const exit = proc.exit;
export const stdout = proc.stdout;
export const stderr = proc.stderr;
export const stdin = proc.stdin;
export const platform = "linux";
export const argv = proc.argv;
export const version = proc.version;
export const versions = proc.versions;
export const emitWarning = proc.emitWarning;
export const memoryUsage = proc.memoryUsage;
