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
import { Event, EventTarget } from "events";
import { fetch, Headers, Request, Response, AbortController, AbortSignal } from "pi:fetch";
import { webcrypto } from "crypto";
import { TextDecoder as StreamingTextDecoder, Intl as MiniIntl, Blob, installNumberLocale } from "pi:web";

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
install("crypto", webcrypto);
install("structuredClone", (v) => structuredCloneImpl(v));
// The engine's TextDecoder is utf-8 only and ignores {stream: true}: replace it.
Object.defineProperty(g, "TextDecoder", { value: StreamingTextDecoder, writable: true, configurable: true, enumerable: false });
if (typeof g.Intl === "undefined") {
  install("Intl", MiniIntl);
  installNumberLocale();
}
install("Blob", Blob);
install("navigator", { userAgent: "pi-sandbox", platform: "linux", hardwareConcurrency: 1, language: "en-US" });
