// node:inspector — loads for every extension. Opening the inspector would listen on a debugging port: `open()`
// is a `net` hostcall (`inspector`, capability `exec`) decided at use and throws when refused (Node's open()
// throws too). A `Session` would reach into the engine itself: `connect()` throws ERR_NOT_SUPPORTED.
import { EventEmitter } from "events";
import * as host from "pi:host";
import { effectError, notSupported } from "pi:effects";

export function open(port, hostName) {
  try {
    host.callSync("net", { op: "inspector", port: Number(port ?? 9229), host: String(hostName || "127.0.0.1") });
  } catch (err) {
    throw effectError(err, "inspector.open", `${hostName || "127.0.0.1"}:${port ?? 9229}`);
  }
  return { [Symbol.dispose]() {} };
}
export function close() {}
export function url() { return undefined; }
export function waitForDebugger() {
  const e = new Error("inspector is not active");
  e.code = "ERR_INSPECTOR_NOT_ACTIVE";
  throw e;
}
export class Session extends EventEmitter {
  connect() { throw notSupported("inspector.Session", "it would debug the engine the sandbox runs in"); }
  connectToMainThread() { this.connect(); }
  post(_method, _params, callback) {
    const err = notSupported("inspector.Session", "not connected");
    if (typeof callback === "function") queueMicrotask(() => callback(err));
    else if (typeof _params === "function") queueMicrotask(() => _params(err));
    else throw err;
  }
  disconnect() {}
}
export const console = globalThis.console;
export const Network = {};

export default { open, close, url, waitForDebugger, Session, console, Network };
