// fetch / Headers / Request / Response / AbortController over the `http` hostcall
// ({method, url, headers?, body?, timeout_ms?} -> {status, headers, body}). The supervisor decides whether
// the request may happen (http capability, host allow/deny lists, size limits); this shim only adapts shapes.
import * as host from "pi:host";
import { Event, EventTarget, Blob, FormData } from "pi:web";
import { URLSearchParams } from "url";
import { ReadableStream } from "pi:web-streams";
import { requestEffect } from "pi:effects";

function abortError(reason) {
  if (reason instanceof Error) return reason;
  const e = typeof DOMException === "function" ? new DOMException("This operation was aborted", "AbortError")
    : Object.assign(new Error("This operation was aborted"), { name: "AbortError" });
  return e;
}

export class AbortSignal extends EventTarget {
  constructor() { super(); this.aborted = false; this.reason = undefined; this.onabort = null; }
  throwIfAborted() { if (this.aborted) throw this.reason; }
  static abort(reason) { const c = new AbortController(); c.abort(reason); return c.signal; }
  static timeout(ms) {
    const c = new AbortController();
    globalThis.setTimeout(() => c.abort(Object.assign(new Error("The operation timed out"), { name: "TimeoutError" })), ms);
    return c.signal;
  }
  static any(signals) {
    const c = new AbortController();
    for (const s of signals) {
      if (s.aborted) { c.abort(s.reason); break; }
      s.addEventListener("abort", () => c.abort(s.reason), { once: true });
    }
    return c.signal;
  }
}

export class AbortController {
  constructor() { this.signal = new AbortSignal(); }
  abort(reason) {
    const s = this.signal;
    if (s.aborted) return;
    s.aborted = true;
    s.reason = reason === undefined ? abortError() : reason;
    s.dispatchEvent(new Event("abort"));
  }
}

export class Headers {
  constructor(init) {
    this._map = new Map();
    if (!init) return;
    if (init instanceof Headers) init.forEach((v, k) => this.append(k, v));
    else if (Array.isArray(init) || typeof init[Symbol.iterator] === "function") for (const [k, v] of init) this.append(k, v);
    else for (const k of Object.keys(init)) this.append(k, init[k]);
  }
  append(k, v) {
    const key = String(k).toLowerCase();
    const cur = this._map.get(key);
    this._map.set(key, cur === undefined ? String(v) : `${cur}, ${v}`);
  }
  set(k, v) { this._map.set(String(k).toLowerCase(), String(v)); }
  get(k) { const v = this._map.get(String(k).toLowerCase()); return v === undefined ? null : v; }
  has(k) { return this._map.has(String(k).toLowerCase()); }
  delete(k) { this._map.delete(String(k).toLowerCase()); }
  getSetCookie() { const v = this.get("set-cookie"); return v === null ? [] : [v]; }
  forEach(fn, thisArg) { for (const [k, v] of [...this._map].sort()) fn.call(thisArg, v, k, this); }
  entries() { return [...this._map].sort()[Symbol.iterator](); }
  keys() { return [...this._map.keys()].sort()[Symbol.iterator](); }
  values() { return [...this._map].sort().map((p) => p[1])[Symbol.iterator](); }
  [Symbol.iterator]() { return this.entries(); }
  toObject() { return Object.fromEntries(this._map); }
}

const textEncoder = new TextEncoder();
const textDecoder = new TextDecoder();

function bodyToText(body) {
  return extractBody(body).text;
}

// The fetch standard's "extract a body": the text sent and the Content-Type a body of that kind implies
// (Node sets it when the caller did not; form posts such as OAuth token requests depend on it).
function extractBody(body) {
  if (body === undefined || body === null) return { text: undefined, type: null };
  if (typeof body === "string") return { text: body, type: "text/plain;charset=UTF-8" };
  if (body instanceof URLSearchParams) return { text: body.toString(), type: "application/x-www-form-urlencoded;charset=UTF-8" };
  if (body instanceof Blob) return { text: bytesOrText(body._bytes), type: body.type || null };
  if (body instanceof FormData) return multipart(body);
  if (body instanceof ArrayBuffer) return { text: bytesOrText(new Uint8Array(body)), type: null };
  if (ArrayBuffer.isView(body)) return { text: bytesOrText(new Uint8Array(body.buffer, body.byteOffset, body.byteLength)), type: null };
  throw Object.assign(new TypeError("pi-sandbox: fetch body must be a string, URLSearchParams, FormData, a Blob or bytes"),
    { code: "ERR_NOT_SUPPORTED" });
}

// Bytes that are UTF-8 text stay a string (the hostcall's `body`); other bytes (an image, a zip) are kept as
// bytes and sent as `body_base64`, unchanged.
// (The engine's TextDecoder has no `fatal` mode: text is UTF-8 when it encodes back to the same bytes.)
function bytesOrText(bytes) {
  const text = textDecoder.decode(bytes);
  const again = textEncoder.encode(text);
  if (again.length === bytes.length && again.every((b, i) => b === bytes[i])) return text;
  return bytes.slice();
}

function toBase64(bytes) {
  let binary = "";
  for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
  return btoa(binary);
}

// multipart/form-data as undici writes it (a file part carries its name, type and bytes).
function multipart(form) {
  const boundary = `----formdata-pi-${Math.random().toString(16).slice(2)}${Date.now().toString(16)}`;
  const escape = (v) => String(v).replace(/\n/g, "%0A").replace(/\r/g, "%0D").replace(/"/g, "%22");
  const parts = [];
  for (const [name, value] of form) {
    let head = `--${boundary}\r\nContent-Disposition: form-data; name="${escape(name)}"`;
    if (value instanceof Blob) {
      head += `; filename="${escape(value.name ?? "blob")}"\r\nContent-Type: ${value.type || "application/octet-stream"}\r\n\r\n`;
      parts.push(textEncoder.encode(head), value._bytes, textEncoder.encode("\r\n"));
    } else {
      parts.push(textEncoder.encode(`${head}\r\n\r\n${String(value).replace(/\r(?!\n)|(?<!\r)\n/g, "\r\n")}\r\n`));
    }
  }
  parts.push(textEncoder.encode(`--${boundary}--\r\n`));
  const all = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) { all.set(p, at); at += p.length; }
  return { text: bytesOrText(all), type: `multipart/form-data; boundary=${boundary}` };
}

// The reason phrases Node's fetch reports (undici takes them from the response line; HTTP/2 has none).
const STATUS_TEXT = {
  200: "OK", 201: "Created", 202: "Accepted", 204: "No Content", 206: "Partial Content", 301: "Moved Permanently",
  302: "Found", 303: "See Other", 304: "Not Modified", 307: "Temporary Redirect", 308: "Permanent Redirect",
  400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed",
  408: "Request Timeout", 409: "Conflict", 410: "Gone", 413: "Payload Too Large", 415: "Unsupported Media Type",
  422: "Unprocessable Entity", 429: "Too Many Requests", 500: "Internal Server Error", 501: "Not Implemented",
  502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Timeout",
};

class BodyMixin {
  _bytes() {
    if (this.bodyUsed) throw new TypeError("Body is unusable: Body has already been read");
    this.bodyUsed = true;
    return this._raw === undefined || this._raw === null ? new Uint8Array(0)
      : typeof this._raw === "string" ? textEncoder.encode(this._raw) : this._raw;
  }
  async text() { return textDecoder.decode(this._bytes()); }
  async json() { return JSON.parse(await this.text()); }
  async arrayBuffer() { const b = this._bytes(); return b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength); }
  async bytes() { return this._bytes(); }
  async blob() { return new Blob([this._bytes()], { type: (this.headers && this.headers.get("content-type")) || "" }); }
  async formData() {
    const type = (this.headers && this.headers.get("content-type")) || "";
    if (!type.startsWith("application/x-www-form-urlencoded")) {
      throw new TypeError("pi-sandbox: formData() reads application/x-www-form-urlencoded bodies only");
    }
    const form = new FormData();
    for (const [k, v] of new URLSearchParams(await this.text())) form.append(k, v);
    return form;
  }
  get body() {
    if (this._raw === undefined || this._raw === null) return null;
    if (!this._stream) {
      // The whole body arrived with the hostcall: a one-chunk ReadableStream (getReader loops, for await, SSE parsers).
      const self = this;
      this._stream = new ReadableStream({
        pull(controller) { const bytes = self._bytes(); if (bytes.length) controller.enqueue(bytes); controller.close(); },
      });
    }
    return this._stream;
  }
}

export class Request extends BodyMixin {
  constructor(input, init = {}) {
    super();
    const base = input instanceof Request ? input : null;
    this.url = base ? base.url : String(input instanceof URL ? input.href : input);
    this.method = String(init.method || (base && base.method) || "GET").toUpperCase();
    this.headers = new Headers(init.headers || (base && base.headers));
    if (init.body !== undefined) {
      const { text, type } = extractBody(init.body);
      this._raw = text;
      if (type && !this.headers.has("content-type")) this.headers.set("content-type", type);
    } else {
      this._raw = base ? base._raw : undefined;
    }
    this.signal = init.signal || (base && base.signal) || new AbortController().signal;
    this.bodyUsed = false;
    this.redirect = init.redirect || "follow";
  }
  clone() { return new Request(this); }
}

export class Response extends BodyMixin {
  constructor(body, init = {}) {
    super();
    this._raw = body === undefined || body === null ? null : typeof body === "string" ? body : bodyToText(body);
    this.status = init.status === undefined ? 200 : init.status;
    this.statusText = init.statusText || "";
    this.headers = new Headers(init.headers);
    this.ok = this.status >= 200 && this.status < 300;
    this.url = init.url || "";
    this.redirected = Boolean(init.redirected);
    this.type = "basic";
    this.bodyUsed = false;
  }
  clone() { return new Response(this._raw, this); }
  static json(data, init = {}) {
    const headers = new Headers(init.headers);
    if (!headers.has("content-type")) headers.set("content-type", "application/json");
    return new Response(JSON.stringify(data), { ...init, headers });
  }
  static error() { return new Response(null, { status: 0 }); }
  static redirect(url, status = 302) { return new Response(null, { status, headers: { location: String(url) } }); }
}

function decodeResultBody(res) {
  if (res.body_base64 !== undefined) return Uint8Array.fromBase64 ? Uint8Array.fromBase64(res.body_base64)
    : Uint8Array.from(atob(res.body_base64), (c) => c.charCodeAt(0));
  if (res.body instanceof Uint8Array) return res.body;
  return res.body === undefined || res.body === null ? "" : String(res.body);
}

/** fetch over the `http` hostcall. Rejects with TypeError("fetch failed", {cause}) like undici when denied. */
export async function fetch(input, init = {}) {
  const req = input instanceof Request && Object.keys(init).length === 0 ? input : new Request(input, init);
  if (req.signal.aborted) throw req.signal.reason || abortError();
  const params = { method: req.method, url: req.url, headers: req.headers.toObject() };
  if (typeof req._raw === "string") params.body = req._raw;
  else if (req._raw !== undefined && req._raw !== null) params.body_base64 = toBase64(req._raw);
  if (init.timeout_ms) params.timeout_ms = init.timeout_ms;
  const pending = host.call("http", params);
  const aborted = new Promise((_, reject) => {
    req.signal.addEventListener("abort", () => reject(req.signal.reason || abortError()), { once: true });
  });
  let res;
  try {
    res = await Promise.race([pending, aborted]);
  } catch (err) {
    if (err && err.name === "HostcallError") {
      const e = new TypeError(`fetch failed: ${err.message}`);
      e.cause = err;
      e.code = err.code;
      throw e;
    }
    throw err;
  }
  const resp = new Response(null, { status: res.status,
    statusText: res.status_text || res.statusText || STATUS_TEXT[res.status] || "",
    headers: res.headers || {}, url: res.url || req.url, redirected: res.redirected });
  resp._raw = decodeResultBody(res);
  return resp;
}

// Node 22's global WebSocket (undici's). A connection is a `net` effect the supervisor decides and records like
// a socket's; no connector carries WebSocket frames, so every connection ends as a refused one does in Node:
// an "error" event, then "close" with code 1006 (nothing is thrown; the constructor only checks the URL).
const WS_STATES = { CONNECTING: 0, OPEN: 1, CLOSING: 2, CLOSED: 3 };

export class WebSocket extends EventTarget {
  constructor(url, protocols) {
    super();
    const parsed = new URL(url instanceof URL ? url.href : String(url));
    if (parsed.protocol === "http:") parsed.protocol = "ws:";
    if (parsed.protocol === "https:") parsed.protocol = "wss:";
    if (parsed.protocol !== "ws:" && parsed.protocol !== "wss:" || parsed.hash) {
      const e = typeof DOMException === "function" ? new DOMException(`Invalid URL ${parsed.href}`, "SyntaxError")
        : Object.assign(new Error(`Invalid URL ${parsed.href}`), { name: "SyntaxError" });
      throw e;
    }
    this.url = parsed.href;
    this.readyState = WS_STATES.CONNECTING;
    this.protocol = "";
    this.extensions = "";
    this.binaryType = "blob";
    this.bufferedAmount = 0;
    this.onopen = null;
    this.onmessage = null;
    this.onerror = null;
    this.onclose = null;
    this._protocols = protocols;
    const secure = parsed.protocol === "wss:";
    const port = Number(parsed.port || (secure ? 443 : 80));
    const fail = (err) => {
      if (this.readyState === WS_STATES.CLOSED) return;
      this.readyState = WS_STATES.CLOSED;
      const error = new Event("error");
      error.error = err;
      error.message = err && err.message;
      this._fire("error", error);
      const close = new Event("close");
      Object.assign(close, { code: 1006, reason: "", wasClean: false });
      this._fire("close", close);
    };
    requestEffect("connect", { host: parsed.hostname, port, tls: secure, servername: parsed.hostname }, "connect",
      `${parsed.hostname}:${port}`).then(
      () => fail(Object.assign(new Error("pi-sandbox: WebSocket connections are not available"), { code: "ERR_NOT_SUPPORTED" })),
      fail,
    );
  }
  _fire(_type, event) {
    this.dispatchEvent(event); // EventTarget also calls the `on<type>` property
  }
  send() {
    if (this.readyState === WS_STATES.CONNECTING) {
      throw typeof DOMException === "function" ? new DOMException("WebSocket is not open", "InvalidStateError")
        : Object.assign(new Error("WebSocket is not open"), { name: "InvalidStateError" });
    }
  }
  close() {
    if (this.readyState === WS_STATES.CLOSED) return;
    this.readyState = WS_STATES.CLOSING;
  }
}
for (const [name, value] of Object.entries(WS_STATES)) {
  Object.defineProperty(WebSocket, name, { value, enumerable: true });
  Object.defineProperty(WebSocket.prototype, name, { value, enumerable: true });
}

export default { fetch, Headers, Request, Response, AbortController, AbortSignal, WebSocket };
