// pi:host — the only door from JS to the supervisor (see the bridge contract).
//
// The worker binds a handful of raw functions as globals before this module runs; this module
// captures them in its closure and deletes the globals, so extension code sees only the exported
// API. None of these functions has authority of its own: every effect is a hostcall that the
// supervisor's dispatch pipeline decides, executes and records.

const g = globalThis;

// Stack traces: internal modules are registered under secret names (`pi:host~<32 hex>`, see
// runtime/modules.py) so extension code cannot import them; this formatter shows them without the
// secret. It is set through the engine's own setter, then the property is locked: extension code can
// neither replace it (assignments are ignored) nor receive call-site objects (which hand out functions).
const SEALED = /~[0-9a-f]{32}$/;
function formatStack(err, sites) {
  // Out of memory: build nothing (allocating here would replace the engine's "out of memory" error).
  if (err === null || (err && err.name === "InternalError")) return "";
  let out = "";
  for (const site of sites) {
    const name = site.getFunctionName() || "<anonymous>";
    if (site.isNative()) {
      out += `    at ${name} (native)\n`;
    } else {
      const file = String(site.getFileName()).replace(SEALED, "");
      out += `    at ${name} (${file}:${site.getLineNumber()}:${site.getColumnNumber()})\n`;
    }
  }
  return out;
}
g.Error.prepareStackTrace = formatStack;
Object.defineProperty(g.Error, "prepareStackTrace", {
  get: () => formatStack,
  set: () => {},
  enumerable: false,
  configurable: false,
});

// Captured before extension code runs, so a polluted JSON global cannot corrupt the bridge.
const jsonParse = JSON.parse;
const jsonStringify = JSON.stringify;
const raw = {
  hcSync: g.__pi_hc_sync,
  hcStart: g.__pi_hc_start,
  hcPost: g.__pi_hc_post,
  timerSet: g.__pi_timer_set,
  timerClear: g.__pi_timer_clear,
  random: g.__pi_random,
  digest: g.__pi_digest,
  zlib: g.__pi_zlib,
  done: g.__pi_done,
  infoJson: g.__pi_info_json,
};
for (const name of ["__pi_hc_sync", "__pi_hc_start", "__pi_hc_post", "__pi_timer_set", "__pi_timer_clear", "__pi_random", "__pi_digest", "__pi_zlib", "__pi_done", "__pi_info_json"]) {
  delete g[name];
}

export class HostcallError extends Error {
  constructor(code, message, reason) {
    super(message);
    this.name = "HostcallError";
    this.code = code;
    if (reason) this.reason = reason;
  }
}

function encodeParams(params) {
  return jsonStringify(params === undefined ? {} : params, (_key, value) =>
    typeof value === "bigint" ? String(value) : value,
  );
}

function unwrap(reply) {
  const parsed = jsonParse(reply);
  if (parsed.ok) return parsed.result;
  const err = parsed.error || {};
  throw new HostcallError(err.code || "internal", err.message || "hostcall failed", err.reason);
}

// A malformed call (method not a string, params that cannot be encoded) still goes to the host:
// the supervisor refuses it as invalid_request and records it, so no refused call goes unrecorded.
function encodeOrNull(params) {
  try {
    const body = encodeParams(params);
    return typeof body === "string" ? body : "null";
  } catch (_err) {
    return "null";
  }
}

/** Synchronous hostcall: blocks the worker until the supervisor answers. */
export function callSync(method, params) {
  return unwrap(raw.hcSync(typeof method === "string" ? method : null, encodeOrNull(params)));
}

/**
 * A hostcall nobody waits for (console lines, status updates): the host runs it in order with the
 * caller's other in-order calls and records it; its answer, a refusal included, is never sent back.
 */
export function post(method, params) {
  raw.hcPost(typeof method === "string" ? method : null, encodeOrNull(params));
}

let nextHid = 1;
const pendingCalls = new Map();

/** Asynchronous hostcall: a Promise settled by the host-driven job loop. */
export function call(method, params) {
  const body = encodeOrNull(params);
  const hid = nextHid++;
  return new Promise((resolve, reject) => {
    pendingCalls.set(hid, { resolve, reject });
    raw.hcStart(hid, typeof method === "string" ? method : null, body);
  });
}

let cachedInfo = null;
/** Static facts about this worker: {extensionId, cwd, platform, argv, hasUI, pid, version, ...}. */
export function info() {
  if (cachedInfo === null) cachedInfo = Object.freeze(jsonParse(raw.infoJson()));
  return cachedInfo;
}

let nextTimer = 1;
const timers = new Map();

/** A host-driven timer: `fn()` runs from the worker's job loop after `ms` (repeatedly if `repeat`). */
export function setTimer(fn, ms, repeat) {
  if (typeof fn !== "function") throw new TypeError("timer callback must be a function");
  const id = nextTimer++;
  const delay = Math.max(0, Number(ms) || 0);
  timers.set(id, { fn, repeat: Boolean(repeat) });
  raw.timerSet(id, delay, Boolean(repeat));
  return id;
}

export function clearTimer(id) {
  if (timers.delete(id)) raw.timerClear(id);
}

function formatArg(arg) {
  if (typeof arg === "string") return arg;
  if (arg instanceof Error) return arg.stack ? `${arg.name}: ${arg.message}` : String(arg);
  try {
    const text = jsonStringify(arg);
    return text === undefined ? String(arg) : text;
  } catch {
    return String(arg);
  }
}

/**
 * console.* convenience: one `log` post per line (like Node writing to a pipe, the line is not waited
 * for; the host keeps the lines in order with the caller's other calls); never throws.
 */
export function log(level, ...args) {
  try {
    post("log", { level: String(level), message: args.map(formatArg).join(" ") });
  } catch {
    // Logging must never break the extension (a denied or failed log is recorded by the host).
  }
}

let uncaughtHandler = null;
/**
 * An error nothing handles — an `'error'` event without a listener in asynchronous code, a throwing timer
 * callback. Node would crash the process; here `process.on('uncaughtException')` listeners get it, and
 * without one the request being served fails with it (the prelude installs that handler).
 */
export function reportUncaught(err) {
  const proc = g.process;
  try {
    if (proc && typeof proc.listenerCount === "function" && proc.listenerCount("uncaughtException") > 0) {
      proc.emit("uncaughtException", err, "uncaughtException");
      return;
    }
  } catch (inner) {
    err = inner; // a throwing uncaughtException listener: that error is the uncaught one now
  }
  if (uncaughtHandler) uncaughtHandler(err);
  else log("error", "uncaught exception:", err);
}

/** Emit `'error'` like Node's EventEmitter from async code: to the listeners, else as an uncaught exception. */
export function emitError(emitter, err) {
  if (typeof emitter.listenerCount === "function" && emitter.listenerCount("error") > 0) emitter.emit("error", err);
  else reportUncaught(err);
}

/** Local entropy from the worker (os.urandom); no hostcall, no authority. */
export function randomBytes(n) {
  const size = Number(n) | 0;
  if (size < 0 || size > 65536) throw new RangeError("randomBytes: size must be 0..65536");
  return new Uint8Array(raw.random(size));
}

/** A digest computed natively in the worker (hashlib); no hostcall, no authority. null: unknown algorithm. */
export function digest(algorithm, bytes) {
  const out = raw.digest(String(algorithm), bytes);
  return out === null || out === undefined ? null : new Uint8Array(out);
}

/** node:zlib in native code (the worker's zlib): no hostcall, no authority. Returns bytes, or throws Node's
 * error (`code`, `errno` for the Z_ codes). */
export function zlib(op, bytes, options) {
  const out = raw.zlib === undefined ? "ERR_NOT_SUPPORTED:no zlib in this worker" : raw.zlib(String(op), bytes, jsonStringify(options || {}));
  if (typeof out === "string") {
    const cut = out.indexOf(":");
    const code = out.slice(0, cut);
    const errnos = { Z_STREAM_ERROR: -2, Z_DATA_ERROR: -3, Z_MEM_ERROR: -4, Z_BUF_ERROR: -5 };
    const err = code === "ERR_BUFFER_TOO_LARGE" ? new RangeError(out.slice(cut + 1)) : new Error(out.slice(cut + 1));
    err.code = code;
    if (code in errnos) err.errno = errnos[code];
    throw err;
  }
  return new Uint8Array(out);
}

// ---- internal hooks the worker drives (through the prelude's __pi_rt) ----------------------

function settle(hid, ok, json) {
  const entry = pendingCalls.get(hid);
  if (!entry) return;
  pendingCalls.delete(hid);
  if (ok) {
    entry.resolve(jsonParse(json));
  } else {
    const err = jsonParse(json) || {};
    entry.reject(new HostcallError(err.code || "internal", err.message || "hostcall failed", err.reason));
  }
}

function fire(ids) {
  for (const id of ids) {
    const timer = timers.get(id);
    if (!timer) continue;
    if (!timer.repeat) timers.delete(id);
    try {
      timer.fn();
    } catch (err) {
      if (err === null || (err && err.name === "InternalError" && /^out of memory/.test(String(err.message)))) throw err;
      reportUncaught(err);
    }
  }
}

export const _internal = Object.freeze({
  settle,
  fire,
  done: (id, json) => raw.done(id, json),
  pendingCount: () => pendingCalls.size,
  onUncaught: (fn) => {
    uncaughtHandler = fn;
  },
});
