// node:util — format/inspect (simplified), promisify/callbackify, inherits, deprecate, types, isDeepStrictEqual.
import * as types from "util/types";

export { types };

const kCustomPromisify = Symbol.for("nodejs.util.promisify.custom");
const kInspect = Symbol.for("nodejs.util.inspect.custom");

function inspectValue(v, opts, depth, seen) {
  if (v === null) return "null";
  switch (typeof v) {
    case "undefined": return "undefined";
    case "string": return depth === 0 && opts._top ? v : `'${v.replace(/\\/g, "\\\\").replace(/'/g, "\\'").replace(/\n/g, "\\n")}'`;
    case "number": return Object.is(v, -0) ? "-0" : String(v);
    case "bigint": return `${v}n`;
    case "boolean": return String(v);
    case "symbol": return v.toString();
    case "function":
      if (/^class[\s{]/.test(Function.prototype.toString.call(v))) return `[class ${v.name || "(anonymous)"}]`;
      return `[${v.constructor && v.constructor.name === "AsyncFunction" ? "AsyncFunction" : "Function"}: ${v.name || "(anonymous)"}]`;
  }
  if (typeof v[kInspect] === "function") return String(v[kInspect](opts.depth - depth, opts, inspect));
  if (seen.includes(v)) return "[Circular *1]";
  if (v instanceof Error) {
    // The engine's stack has only the frames; Node's starts with "Name: message".
    const head = v.message ? `${v.name}: ${v.message}` : String(v.name);
    return v.stack && !String(v.stack).startsWith(head) ? `${head}\n${String(v.stack).replace(/\n$/, "")}` : v.stack || head;
  }
  if (v instanceof Date) return Number.isNaN(v.getTime()) ? "Invalid Date" : v.toISOString();
  if (v instanceof RegExp) return v.toString();
  if (depth > opts.depth) return Array.isArray(v) ? "[Array]" : "[Object]";
  const next = [...seen, v];
  const inner = (x) => inspectValue(x, opts, depth + 1, next);
  if (Array.isArray(v)) {
    const items = v.slice(0, 100).map(inner);
    if (v.length > 100) items.push(`... ${v.length - 100} more items`);
    return items.length ? `[ ${items.join(", ")} ]` : "[]";
  }
  if (v instanceof Map) {
    return `Map(${v.size}) {${[...v].map(([k, x]) => ` ${inner(k)} => ${inner(x)}`).join(",")}${v.size ? " " : ""}}`;
  }
  if (v instanceof Set) return `Set(${v.size}) {${[...v].map((x) => ` ${inner(x)}`).join(",")}${v.size ? " " : ""}}`;
  if (ArrayBuffer.isView(v)) {
    const name = v.constructor ? v.constructor.name : "TypedArray";
    const arr = Array.from(v.subarray ? v.subarray(0, 50) : []);
    return name === "Buffer"
      ? `<Buffer ${arr.map((b) => b.toString(16).padStart(2, "0")).join(" ")}${v.length > 50 ? " ..." : ""}>`
      : `${name}(${v.length}) [ ${arr.join(", ")} ]`;
  }
  if (v instanceof Promise) return "Promise { <pending> }";
  const keys = Object.keys(v);
  const ctor = Object.getPrototypeOf(v) === null ? "[Object: null prototype] "
    : v.constructor && v.constructor !== Object && v.constructor.name ? `${v.constructor.name} ` : "";
  if (!keys.length) return ctor ? `${ctor}{}` : "{}";
  const body = keys.map((k) => `${/^[A-Za-z_$][\w$]*$/.test(k) ? k : `'${k}'`}: ${inner(v[k])}`).join(", ");
  return `${ctor}{ ${body} }`;
}

export function inspect(value, opts) {
  const o = { depth: 2, colors: false, ...(typeof opts === "object" && opts ? opts : {}) };
  if (o.depth === null) o.depth = Infinity;
  return inspectValue(value, o, 0, []);
}
inspect.custom = kInspect;
inspect.defaultOptions = { depth: 2 };

export function format(fmt, ...args) {
  if (typeof fmt !== "string") return [fmt, ...args].map((a) => (typeof a === "string" ? a : inspect(a))).join(" ");
  let i = 0;
  let out = fmt.replace(/%([sdifjoOc%])/g, (m, ch) => {
    if (ch === "%") return "%";
    if (i >= args.length) return m;
    const a = args[i++];
    switch (ch) {
      case "s": return typeof a === "string" ? a : typeof a === "bigint" ? `${a}n` : typeof a === "object" && a !== null ? inspect(a, { depth: 1 }) : String(a);
      case "d": return typeof a === "bigint" ? `${a}n` : typeof a === "object" ? "NaN" : String(Number(a));
      case "i": return typeof a === "bigint" ? `${a}n` : String(parseInt(a, 10));
      case "f": return String(parseFloat(a));
      case "j": try { return JSON.stringify(a); } catch { return "[Circular]"; }
      case "o": case "O": return inspect(a, { depth: ch === "o" ? 4 : 2 });
      case "c": return "";
    }
    return m;
  });
  for (; i < args.length; i++) out += " " + (typeof args[i] === "string" ? args[i] : inspect(args[i]));
  return out;
}

export function formatWithOptions(_opts, ...args) { return format(...args); }

export function promisify(fn) {
  if (typeof fn !== "function") throw new TypeError('The "original" argument must be of type function');
  if (fn[kCustomPromisify]) return fn[kCustomPromisify];
  const wrapped = function (...args) {
    return new Promise((resolve, reject) => {
      fn.call(this, ...args, (err, ...values) => {
        if (err) reject(err);
        else resolve(values.length > 1 ? values : values[0]);
      });
    });
  };
  Object.defineProperty(wrapped, kCustomPromisify, { value: wrapped });
  return wrapped;
}
promisify.custom = kCustomPromisify;

export function callbackify(fn) {
  return function (...args) {
    const cb = args.pop();
    fn.apply(this, args).then((v) => cb(null, v), (e) => cb(e || new Error("Promise was rejected with a falsy value")));
  };
}

export function inherits(ctor, superCtor) {
  Object.defineProperty(ctor, "super_", { value: superCtor, writable: true, configurable: true });
  Object.setPrototypeOf(ctor.prototype, superCtor.prototype);
}

const warned = new Set();
export function deprecate(fn, msg, code) {
  return function (...args) {
    if (!warned.has(code || msg)) {
      warned.add(code || msg);
      if (globalThis.console) globalThis.console.warn(`DeprecationWarning: ${msg}`);
    }
    return fn.apply(this, args);
  };
}

export function debuglog() {
  const fn = () => {};
  fn.enabled = false;
  return fn;
}
export const debug = debuglog;

export function isDeepStrictEqual(a, b) {
  if (Object.is(a, b)) return true;
  if (typeof a !== "object" || typeof b !== "object" || !a || !b) return false;
  if (Object.getPrototypeOf(a) !== Object.getPrototypeOf(b)) return false;
  if (a instanceof Date) return a.getTime() === b.getTime();
  if (a instanceof RegExp) return String(a) === String(b);
  if (a instanceof Map || a instanceof Set) {
    if (a.size !== b.size) return false;
    if (a instanceof Set) return [...a].every((x) => b.has(x) || [...b].some((y) => isDeepStrictEqual(x, y)));
    return [...a].every(([k, v]) => b.has(k) && isDeepStrictEqual(v, b.get(k)));
  }
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  if (ka.length !== kb.length) return false;
  return ka.every((k) => Object.prototype.hasOwnProperty.call(b, k) && isDeepStrictEqual(a[k], b[k]));
}

export function stripVTControlCharacters(s) {
  return String(s).replace(/\u001b\[[0-9;?]*[ -/]*[@-~]|\u001b\][^\u0007\u001b]*(\u0007|\u001b\\)/g, "");
}

export function styleText(_format, text) { return text; } // headless: no colours

export function parseArgs() {
  throw Object.assign(new Error("pi-sandbox: util.parseArgs is not supported in extensions"), { code: "ERR_NOT_SUPPORTED" });
}

export function isArray(v) { return Array.isArray(v); }
// Node's deprecated type checks (still exported, still used by older dependencies).
export const isBoolean = (v) => typeof v === "boolean";
export const isBuffer = (v) => typeof globalThis.Buffer === "function" && globalThis.Buffer.isBuffer(v);
export const isDate = (v) => Object.prototype.toString.call(v) === "[object Date]";
export const isError = (v) => Object.prototype.toString.call(v) === "[object Error]" || v instanceof Error;
export const isFunction = (v) => typeof v === "function";
export const isNull = (v) => v === null;
export const isNullOrUndefined = (v) => v === null || v === undefined;
export const isNumber = (v) => typeof v === "number";
export const isObject = (v) => v !== null && typeof v === "object";
export const isPrimitive = (v) => v === null || (typeof v !== "object" && typeof v !== "function");
export const isRegExp = (v) => Object.prototype.toString.call(v) === "[object RegExp]";
export const isString = (v) => typeof v === "string";
export const isSymbol = (v) => typeof v === "symbol";
export const isUndefined = (v) => v === undefined;
export function _extend(target, source) {
  if (source === null || typeof source !== "object") return target;
  for (const key of Object.keys(source)) target[key] = source[key];
  return target;
}
export function log(...args) { console.log(new Date().toTimeString().slice(0, 8), "-", format(...args)); }
const ERRNO_NAMES = { "-2": "ENOENT", "-13": "EACCES", "-17": "EEXIST", "-20": "ENOTDIR", "-21": "EISDIR", "-39": "ENOTEMPTY", "-95": "ENOTSUP", "-22": "EINVAL" };
export function getSystemErrorName(errno) { return ERRNO_NAMES[String(errno)] || `Unknown system error ${errno}`; }
export function aborted(signal) { return new Promise((resolve) => (signal.aborted ? resolve() : signal.addEventListener("abort", () => resolve(), { once: true }))); }
export function toUSVString(s) { return String(s).toWellFormed(); }
export { TextDecoder } from "pi:web";
export const TextEncoder = globalThis.TextEncoder;

import { TextDecoder as WebTextDecoder } from "pi:web";

export default {
  TextDecoder: WebTextDecoder, aborted, getSystemErrorName, format, formatWithOptions, inspect, promisify, callbackify, inherits, deprecate, debuglog, debug, types,
  isDeepStrictEqual, stripVTControlCharacters, styleText, parseArgs, isArray, toUSVString, TextEncoder,
  isBoolean, isBuffer, isDate, isError, isFunction, isNull, isNullOrUndefined, isNumber, isObject, isPrimitive, isRegExp,
  isString, isSymbol, isUndefined, _extend, log,
};
