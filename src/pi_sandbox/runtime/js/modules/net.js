// node:net — loads for every extension; sockets and servers are `net` hostcalls decided at use (pi:effects).
// `isIP`/`isIPv4`/`isIPv6`, `BlockList` and `SocketAddress` are pure and work. A TCP client connection needs
// the `http` capability (and, once a connector exists, the http host rules); a unix-socket connection or a
// listening server needs `exec`. Refusals arrive as 'error' events (EACCES) like Node's connection errors.
import * as host from "pi:host";
import { EventEmitter } from "events";
import { Duplex } from "stream";
import { effectOrError, requestEffect } from "pi:effects";

const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;

export function isIPv4(input) {
  return IPV4.test(String(input));
}

export function isIPv6(input) {
  const text = String(input).split("%")[0];
  if (!/^[0-9a-fA-F:.]+$/.test(text) || !text.includes(":")) return false;
  let groups = text.split(":");
  if (IPV4.test(groups[groups.length - 1])) groups = [...groups.slice(0, -1), "0", "0"];
  const doubleColons = text.split("::").length - 1;
  if (doubleColons > 1) return false;
  if (doubleColons === 0) return groups.length === 8 && groups.every((g) => /^[0-9a-fA-F]{1,4}$/.test(g));
  const filled = groups.filter((g) => g !== "");
  return filled.length <= 7 && filled.every((g) => /^[0-9a-fA-F]{1,4}$/.test(g));
}

export function isIP(input) {
  return isIPv4(input) ? 4 : isIPv6(input) ? 6 : 0;
}

function connectTarget(args) {
  let [first, second, third] = args;
  let options;
  if (first !== null && typeof first === "object") options = { ...first };
  else if (typeof first === "string" && !/^\d+$/.test(first)) options = { path: first };
  else options = { port: first, host: typeof second === "string" ? second : undefined };
  const callback = [second, third, args[args.length - 1]].find((a) => typeof a === "function");
  return { options, callback };
}

export class Socket extends Duplex {
  constructor(options = {}) {
    super(options);
    this.connecting = false;
    this.pending = true;
    this.remoteAddress = undefined;
    this.remotePort = undefined;
    this.bytesRead = 0;
    this.bytesWritten = 0;
    this._tls = false;
  }
  connect(...args) {
    const { options, callback } = connectTarget(args);
    if (callback) this.once("connect", callback);
    this.connecting = true;
    const unix = typeof options.path === "string";
    const target = unix ? options.path : `${options.host || "localhost"}:${options.port}`;
    const params = unix
      ? { path: String(options.path) }
      : { host: String(options.host || "localhost"), port: Number(options.port), tls: this._tls,
        servername: options.servername ? String(options.servername) : undefined };
    const onOk = () => {
      this.connecting = false;
      this.pending = false;
      this.emit("connect");
      this.emit("ready");
    };
    requestEffect(unix ? "connect_unix" : "connect", params, "connect", target).then(onOk, (err) => {
      this.connecting = false;
      host.emitError(this, err); // Node: 'error' then 'close'; without a listener an uncaught exception
      this.destroy();
    });
    return this;
  }
  _write(_chunk, _encoding, callback) {
    const err = new Error("This socket is not connected");
    err.code = "ERR_SOCKET_CLOSED";
    callback(err);
  }
  _read() {}
  setEncoding(encoding) { return super.setEncoding ? super.setEncoding(encoding) : this; }
  setKeepAlive() { return this; }
  setNoDelay() { return this; }
  setTimeout(_ms, callback) { if (callback) this.once("timeout", callback); return this; }
  address() { return {}; }
  ref() { return this; }
  unref() { return this; }
  resetAndDestroy() { return this.destroy(); }
}

export class Server extends EventEmitter {
  constructor(options, connectionListener) {
    super();
    if (typeof options === "function") connectionListener = options;
    if (connectionListener) this.on("connection", connectionListener);
    this.listening = false;
  }
  listen(...args) {
    const callback = args.find((a) => typeof a === "function");
    if (callback) this.once("listening", callback);
    const first = args[0];
    const options = first !== null && typeof first === "object" ? first : typeof first === "string" && !/^\d+$/.test(first) ? { path: first } : { port: first, host: typeof args[1] === "string" ? args[1] : undefined };
    const target = options.path || `${options.host || "0.0.0.0"}:${options.port ?? 0}`;
    const params = options.path ? { path: String(options.path) } : { host: String(options.host || "0.0.0.0"), port: Number(options.port ?? 0) };
    effectOrError(this, "listen", { kind: this._kind || "tcp", ...params }, "listen", target, () => {
      this.listening = true;
      this.emit("listening");
    });
    return this;
  }
  close(callback) {
    this.listening = false;
    queueMicrotask(() => {
      if (callback) callback();
      this.emit("close");
    });
    return this;
  }
  address() { return null; }
  getConnections(callback) { queueMicrotask(() => callback(null, 0)); return this; }
  ref() { return this; }
  unref() { return this; }
}

export function createServer(options, connectionListener) {
  return new Server(options, connectionListener);
}

export function connect(...args) {
  const options = args[0] !== null && typeof args[0] === "object" ? args[0] : {};
  return new Socket(options).connect(...args);
}

export const createConnection = connect;

export class SocketAddress {
  constructor(options = {}) {
    this.address = options.address ?? (options.family === "ipv6" ? "::" : "127.0.0.1");
    this.port = options.port ?? 0;
    this.family = options.family ?? (isIPv6(this.address) ? "ipv6" : "ipv4");
    this.flowlabel = options.flowlabel ?? 0;
  }
}

export class BlockList {
  constructor() { this._rules = []; }
  addAddress(address) { this._rules.push((a) => a === String(address)); }
  addRange(start, end) {
    const toNum = (a) => String(a).split(".").reduce((n, part) => n * 256 + Number(part), 0);
    this._rules.push((a) => isIPv4(a) && toNum(a) >= toNum(start) && toNum(a) <= toNum(end));
  }
  addSubnet(network, prefix) {
    const toNum = (a) => String(a).split(".").reduce((n, part) => n * 256 + Number(part), 0);
    const size = 2 ** (32 - Number(prefix));
    this._rules.push((a) => isIPv4(a) && Math.floor(toNum(a) / size) === Math.floor(toNum(network) / size));
  }
  check(address) { const a = String(address && address.address ? address.address : address); return this._rules.some((r) => r(a)); }
  get rules() { return []; }
}

export const getDefaultAutoSelectFamily = () => true;
export const setDefaultAutoSelectFamily = () => {};
export const getDefaultAutoSelectFamilyAttemptTimeout = () => 250;
export const setDefaultAutoSelectFamilyAttemptTimeout = () => {};
export const Stream = Socket;

export default {
  isIP, isIPv4, isIPv6, Socket, Stream, Server, createServer, connect, createConnection, SocketAddress, BlockList,
  getDefaultAutoSelectFamily, setDefaultAutoSelectFamily, getDefaultAutoSelectFamilyAttemptTimeout,
  setDefaultAutoSelectFamilyAttemptTimeout,
};
