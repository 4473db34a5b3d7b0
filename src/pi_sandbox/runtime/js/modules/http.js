// node:http — the client is request()/get() over the `http` hostcall (the supervisor decides and performs the
// request; bodies are buffered). A server's listen() is a `net` hostcall decided at use (see net.js).
import * as host from "pi:host";
import { Buffer } from "buffer";
import { Readable, Writable } from "stream";
import { Server as NetServer } from "net";

export const METHODS = ["DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT"];
export const STATUS_CODES = { 200: "OK", 201: "Created", 204: "No Content", 301: "Moved Permanently", 302: "Found",
  304: "Not Modified", 400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
  500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable" };

export class Agent { constructor(opts = {}) { this.options = opts; } destroy() {} }
export const globalAgent = new Agent();

export class IncomingMessage extends Readable {
  constructor(result, url) {
    super();
    this.statusCode = result.status;
    this.statusMessage = STATUS_CODES[result.status] || "";
    this.headers = Object.fromEntries(Object.entries(result.headers || {}).map(([k, v]) => [k.toLowerCase(), v]));
    this.rawHeaders = Object.entries(this.headers).flat();
    this.url = url;
    this.httpVersion = "1.1";
    const body = result.body_base64 !== undefined ? Buffer.from(result.body_base64, "base64") : Buffer.from(String(result.body ?? ""));
    if (result.decoded) {
      // The host already inflated a gzip/deflate body: a client library (node-fetch, got, request) that saw
      // `content-encoding: gzip` would inflate it again and fail with "incorrect header check".
      delete this.headers["content-encoding"];
      if (this.headers["content-length"] !== undefined) this.headers["content-length"] = String(body.length);
      this.rawHeaders = Object.entries(this.headers).flat();
    }
    if (body.length) this.push(body);
    this.push(null);
  }
  _read() {} // the body is pushed whole when the host call returns
}

function toUrl(input, options, defaultProtocol) {
  if (typeof input === "string" || input instanceof URL) {
    const u = new URL(String(input));
    return { url: u.href, opts: options || {} };
  }
  const o = input || {};
  const protocol = o.protocol || defaultProtocol;
  const host = o.hostname || o.host || "localhost";
  const port = o.port ? `:${o.port}` : "";
  return { url: `${protocol}//${host}${port}${o.path || "/"}`, opts: o };
}

export class ClientRequest extends Writable {
  constructor(url, opts, cb) {
    super();
    this._chunks = [];
    this.method = String(opts.method || "GET").toUpperCase();
    this._headers = {};
    for (const [k, v] of Object.entries(opts.headers || {})) this._headers[k.toLowerCase()] = String(v);
    this._url = url;
    this._timeout = opts.timeout;
    this.aborted = false;
    if (cb) this.once("response", cb);
  }
  setHeader(k, v) { this._headers[String(k).toLowerCase()] = String(v); }
  getHeader(k) { return this._headers[String(k).toLowerCase()]; }
  removeHeader(k) { delete this._headers[String(k).toLowerCase()]; }
  setTimeout(ms, cb) { this._timeout = ms; if (cb) this.once("timeout", cb); return this; }
  abort() { this.aborted = true; }
  _write(chunk, enc, cb) { this._chunks.push(Buffer.from(chunk, enc === "buffer" ? undefined : enc)); cb(); }
  _final(cb) {
    cb();
    if (this.aborted) return;
    const params = { method: this.method, url: this._url, headers: this._headers };
    if (this._chunks.length) {
      // UTF-8 text as `body`; other bytes (an upload) as `body_base64`, unchanged
      const bytes = Buffer.concat(this._chunks);
      const text = bytes.toString();
      if (Buffer.from(text).equals(bytes)) params.body = text;
      else params.body_base64 = bytes.toString("base64");
    }
    if (this._timeout) params.timeout_ms = this._timeout;
    host.call("http", params).then(
      (res) => this.emit("response", new IncomingMessage(res, this._url)),
      (err) => {
        const e = new Error(`request to ${this._url} failed: ${err.message}`);
        e.code = /deni|forbid|policy|block/i.test(String(err.code)) ? "EACCES" : "ECONNREFUSED";
        e.hostCode = err.code;
        this.emit("error", e);
      },
    );
  }
  destroy(err) { this.aborted = true; return super.destroy(err); }
}

export function makeClient(defaultProtocol) {
  const request = (input, options, cb) => {
    if (typeof options === "function") { cb = options; options = undefined; }
    const { url, opts } = toUrl(input, options, defaultProtocol);
    return new ClientRequest(url, { ...opts, ...(options || {}) }, cb);
  };
  const get = (input, options, cb) => {
    const req = request(input, options, cb);
    req.end();
    return req;
  };
  return { request, get };
}

const client = makeClient("http:");
export const request = client.request;
export const get = client.get;
// A server loads and is configured freely; `listen()` is the `net` hostcall (`listen`, capability `exec`)
// decided at use, refused as an 'error' event (see net.js).
export class Server extends NetServer {
  constructor(options, listener) {
    super();
    this._kind = "http";
    if (typeof options === "function") listener = options;
    if (listener) this.on("request", listener);
    this.timeout = 0;
    this.keepAliveTimeout = 5000;
  }
  setTimeout(ms, callback) {
    this.timeout = ms;
    if (callback) this.on("timeout", callback);
    return this;
  }
  closeAllConnections() {}
  closeIdleConnections() {}
}
export function createServer(options, listener) {
  return new Server(options, listener);
}

export default { request, get, createServer, Server, Agent, globalAgent, ClientRequest, IncomingMessage, METHODS, STATUS_CODES };
