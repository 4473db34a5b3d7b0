// pi:globals — installs the Node/web globals extensions expect, before any extension code runs.
// QuickJS-ng (jsbox) already has TextEncoder, atob/btoa, queueMicrotask, performance, DOMException; it lacks
// console output, timers, URL, fetch, AbortController, structuredClone, crypto, Buffer, process, Intl, Blob and a
// streaming/multi-encoding TextDecoder — those are installed here (only when missing, except TextDecoder).
import * as host from "pi:host";
import { format } from "util";
import { Buffer } from "buffer";
import proc from "process";
import * as timers from "timers";
import { URL, URLSearchParams } from "url";
import { fetch, Headers, Request, Response, AbortController, AbortSignal, WebSocket } from "pi:fetch";
import {
  TextDecoder as StreamingTextDecoder, Intl as MiniIntl, Blob, File, FormData, installNumberLocale, installDateLocale, Event, EventTarget, CustomEvent,
} from "pi:web";
import * as webStreams from "pi:web-streams";

const g = globalThis;

function install(name, value) {
  if (typeof g[name] === "undefined") {
    Object.defineProperty(g, name, { value, writable: true, configurable: true, enumerable: false });
  }
}

// console → the `log` hostcall (via host.log). Counters/timers are local bookkeeping.
const counts = new Map();
const timings = new Map();
let groupIndent = "";
const emit = (level) => (...args) => host.log(level, groupIndent + format(...args));
const consoleObj = {
  log: emit("info"), info: emit("info"), debug: emit("debug"), trace: emit("debug"),
  warn: emit("warn"), error: emit("error"),
  dir: (obj) => host.log("info", groupIndent + format("%O", obj)),
  table: (data) => host.log("info", groupIndent + format("%O", data)),
  assert: (cond, ...args) => { if (!cond) host.log("error", "Assertion failed" + (args.length ? ": " + format(...args) : "")); },
  count: (label = "default") => { const n = (counts.get(label) || 0) + 1; counts.set(label, n); host.log("info", `${label}: ${n}`); },
  countReset: (label = "default") => counts.delete(label),
  time: (label = "default") => timings.set(label, performance.now()),
  timeLog: (label = "default", ...rest) => host.log("info", format(`${label}: %sms`, (performance.now() - (timings.get(label) || 0)).toFixed(3), ...rest)),
  timeEnd: (label = "default") => { consoleObj.timeLog(label); timings.delete(label); },
  group: (...label) => { if (label.length) host.log("info", groupIndent + format(...label)); groupIndent += "  "; },
  groupCollapsed: (...label) => consoleObj.group(...label),
  groupEnd: () => { groupIndent = groupIndent.slice(2); },
  clear: () => {},
};
// jsbox ships a no-op console; replace it so output reaches the log hostcall.
Object.defineProperty(g, "console", { value: consoleObj, writable: true, configurable: true, enumerable: false });

function structuredCloneImpl(value, seen = new Map()) {
  if (typeof value !== "object" || value === null) {
    if (typeof value === "function" || typeof value === "symbol") {
      throw new DOMException(`${String(value)} could not be cloned.`, "DataCloneError");
    }
    return value;
  }
  if (seen.has(value)) return seen.get(value);
  let out;
  if (value instanceof Date) out = new Date(value.getTime());
  else if (value instanceof RegExp) out = new RegExp(value.source, value.flags);
  else if (value instanceof ArrayBuffer) out = value.slice(0);
  else if (ArrayBuffer.isView(value)) {
    out = new value.constructor(value.buffer.slice(value.byteOffset, value.byteOffset + value.byteLength));
  } else if (value instanceof Map) {
    out = new Map();
    seen.set(value, out);
    for (const [k, v] of value) out.set(structuredCloneImpl(k, seen), structuredCloneImpl(v, seen));
    return out;
  } else if (value instanceof Set) {
    out = new Set();
    seen.set(value, out);
    for (const v of value) out.add(structuredCloneImpl(v, seen));
    return out;
  } else if (value instanceof Error) {
    out = new (g[value.name] || Error)(value.message);
    if (value.stack) out.stack = value.stack;
  } else if (Array.isArray(value)) {
    out = [];
    seen.set(value, out);
    for (let i = 0; i < value.length; i++) out[i] = structuredCloneImpl(value[i], seen);
    return out;
  } else {
    out = {};
    seen.set(value, out);
    for (const k of Object.keys(value)) out[k] = structuredCloneImpl(value[k], seen);
    return out;
  }
  seen.set(value, out);
  return out;
}

install("global", g);
install("process", proc);
install("Buffer", Buffer);
install("setTimeout", timers.setTimeout);
install("setInterval", timers.setInterval);
install("setImmediate", timers.setImmediate);
install("clearTimeout", timers.clearTimeout);
install("clearInterval", timers.clearInterval);
install("clearImmediate", timers.clearImmediate);
install("URL", URL);
install("URLSearchParams", URLSearchParams);
install("Event", Event);
install("EventTarget", EventTarget);
install("AbortController", AbortController);
install("AbortSignal", AbortSignal);
install("Headers", Headers);
install("Request", Request);
install("Response", Response);
install("fetch", fetch);
// globalThis.crypto without loading the whole crypto shim at start-up (most extensions never hash):
// randomness straight from host.randomBytes, subtle.digest through a lazy import (it returns a Promise anyway).
function fillRandom(view) {
  if (!ArrayBuffer.isView(view)) throw new TypeError("getRandomValues expects a TypedArray");
  if (view.byteLength > 65536) throw new DOMException("quota exceeded", "QuotaExceededError");
  const bytes = new Uint8Array(view.buffer, view.byteOffset, view.byteLength);
  // Only the worker's os.urandom: failing is better than a predictable "random" value.
  if (typeof host.randomBytes !== "function") throw new DOMException("no entropy source", "NotSupportedError");
  bytes.set(host.randomBytes(bytes.length));
  return view;
}
install("crypto", {
  getRandomValues: fillRandom,
  randomUUID() {
    const b = fillRandom(new Uint8Array(16));
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    const h = Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
  },
  subtle: { digest: async (alg, data) => (await import("crypto")).subtle.digest(alg, data) },
});
install("structuredClone", (v) => structuredCloneImpl(v));
// The engine's TextDecoder is utf-8 only and ignores {stream: true}: replace it.
Object.defineProperty(g, "TextDecoder", { value: StreamingTextDecoder, writable: true, configurable: true, enumerable: false });
if (typeof g.Intl === "undefined") {
  install("Intl", MiniIntl);
  installNumberLocale();
  installDateLocale();
}
// The engine's TextEncoder lacks encodeInto (WHATWG, Node 12+): encoders and framing code write into a
// preallocated buffer with it.
if (typeof g.TextEncoder === "function" && typeof g.TextEncoder.prototype.encodeInto !== "function") {
  Object.defineProperty(g.TextEncoder.prototype, "encodeInto", {
    value: function encodeInto(source, destination) {
      const str = String(source);
      let read = 0, written = 0;
      for (const ch of str) {  // whole code points only, as the spec requires when the destination fills up
        const bytes = this.encode(ch);
        if (written + bytes.length > destination.length) break;
        destination.set(bytes, written);
        written += bytes.length;
        read += ch.length;
      }
      return { read, written };
    },
    writable: true, configurable: true, enumerable: false,
  });
}
install("WebSocket", WebSocket);
install("Blob", Blob);
install("File", File);
install("FormData", FormData);
install("CustomEvent", CustomEvent);
// The rest of Node 20's web globals exist, so a top-level reference (`class X extends FormData`, `instanceof`)
// does not stop the load; the ones that need what the engine lacks throw ERR_NOT_SUPPORTED when constructed.
// (`WebAssembly` stays undefined: feature detection then picks the JavaScript path.)
function unsupportedGlobal(name, why) {
  const cls = class { constructor() { throw Object.assign(new Error(`pi-sandbox: ${name} ${why}`), { code: "ERR_NOT_SUPPORTED" }); } };
  Object.defineProperty(cls, "name", { value: name });
  return cls;
}
function illegalConstructor(name) {
  const cls = class { constructor() { throw new TypeError("Illegal constructor"); } };
  Object.defineProperty(cls, "name", { value: name });
  return cls;
}
for (const name of ["CompressionStream", "DecompressionStream"]) install(name, unsupportedGlobal(name, "is not available: zlib is not served"));
for (const name of ["MessageChannel", "MessagePort", "MessageEvent", "BroadcastChannel"]) {
  install(name, unsupportedGlobal(name, "as a global is not available: import it from node:worker_threads"));
}
for (const name of ["Crypto", "CryptoKey", "SubtleCrypto", "Performance", "PerformanceEntry", "PerformanceMark",
  "PerformanceMeasure", "PerformanceObserverEntryList", "PerformanceResourceTiming", "ReadableByteStreamController",
  "ReadableStreamBYOBReader", "ReadableStreamBYOBRequest", "ReadableStreamDefaultController", "ReadableStreamDefaultReader",
  "TransformStreamDefaultController", "WritableStreamDefaultController", "WritableStreamDefaultWriter"]) {
  install(name, illegalConstructor(name));
}
install("PerformanceObserver", class PerformanceObserver {
  static get supportedEntryTypes() { return []; }
  constructor(callback) { this.callback = callback; }
  observe() {}
  disconnect() {}
  takeRecords() { return []; }
});
for (const name of ["ReadableStream", "WritableStream", "TransformStream", "TextDecoderStream", "TextEncoderStream",
  "ByteLengthQueuingStrategy", "CountQueuingStrategy"]) install(name, webStreams[name]);
install("navigator", { userAgent: "pi-sandbox", platform: "linux", hardwareConcurrency: 1, language: "en-US" });
