// node:http2 — loads for every extension. A client session is a `net` hostcall (`connect`, capability `http`), a
// server a `listen` (`exec`); both decided at use, refusals as 'error' events. Plain HTTPS requests work through
// `fetch` / `https` (the http hostcall).
import * as host from "pi:host";
import { EventEmitter } from "events";
import { Server } from "net";
import { requestEffect } from "pi:effects";

class ClientHttp2Session extends EventEmitter {
  constructor(authority) {
    super();
    this.closed = false;
    this.destroyed = false;
    const url = new URL(String(authority));
    const port = Number(url.port || (url.protocol === "http:" ? 80 : 443));
    requestEffect("connect", { host: url.hostname, port, tls: url.protocol !== "http:", protocol: "h2" }, "connect",
      `${url.hostname}:${port}`).then(
      () => this.emit("connect", this),
      (err) => {
        host.emitError(this, err);
        this.destroy();
      },
    );
  }
  request() {
    const err = new Error("The session has been destroyed");
    err.code = "ERR_HTTP2_INVALID_SESSION";
    throw err;
  }
  close(callback) { this.closed = true; if (callback) queueMicrotask(callback); }
  destroy() {
    if (this.destroyed) return;
    this.destroyed = true;
    this.closed = true;
    queueMicrotask(() => this.emit("close"));
  }
  ref() {}
  unref() {}
}

export function connect(authority, options, listener) {
  const session = new ClientHttp2Session(authority);
  const callback = typeof options === "function" ? options : listener;
  if (callback) session.once("connect", callback);
  return session;
}

class Http2Server extends Server {
  constructor(options, listener) {
    super();
    this._kind = "http2";
    if (typeof options === "function") listener = options;
    if (listener) this.on("request", listener);
  }
}

export const createServer = (options, listener) => new Http2Server(options, listener);
export const createSecureServer = (options, listener) => new Http2Server(options, listener);
export const constants = {
  HTTP2_HEADER_STATUS: ":status", HTTP2_HEADER_METHOD: ":method", HTTP2_HEADER_PATH: ":path",
  HTTP2_HEADER_AUTHORITY: ":authority", HTTP2_HEADER_SCHEME: ":scheme", HTTP2_HEADER_CONTENT_TYPE: "content-type",
  HTTP2_METHOD_GET: "GET", HTTP2_METHOD_POST: "POST", HTTP_STATUS_OK: 200, NGHTTP2_CANCEL: 8,
};
export function getDefaultSettings() { return {}; }
export function getPackedSettings() { return new Uint8Array(0); }
export function getUnpackedSettings() { return {}; }
export const sensitiveHeaders = Symbol("nodejs.http2.sensitiveHeaders");

export default { connect, createServer, createSecureServer, constants, getDefaultSettings, getPackedSettings,
  getUnpackedSettings, sensitiveHeaders };
