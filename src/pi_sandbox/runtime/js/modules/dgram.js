// node:dgram — loads for every extension; binding or sending a UDP socket is a `net` hostcall (`udp`, capability
// `exec`) decided at use. A refusal is an 'error' event (EACCES); `send` callbacks get the error too.
import * as host from "pi:host";
import { EventEmitter } from "events";
import { requestEffect } from "pi:effects";

export class Socket extends EventEmitter {
  constructor(type, listener) {
    super();
    this.type = typeof type === "object" && type ? type.type : type;
    if (listener) this.on("message", listener);
  }
  // Node: bind/connect errors are 'error' events; a send with a callback gets its error there instead.
  _effect(action, params, syscall, target, onDone, callbackTakesError) {
    requestEffect("udp", { action, type: String(this.type), ...params }, syscall, target).then(
      () => onDone && onDone(null),
      (err) => (onDone && callbackTakesError ? onDone(err) : host.emitError(this, err)),
    );
  }
  bind(...args) {
    const callback = args.find((a) => typeof a === "function");
    const first = args[0];
    const port = first !== null && typeof first === "object" ? first.port : first;
    const address = first !== null && typeof first === "object" ? first.address : typeof args[1] === "string" ? args[1] : undefined;
    this._effect("bind", { port: Number(port ?? 0), host: String(address || "0.0.0.0") }, "bind",
      `${address || "0.0.0.0"}:${port ?? 0}`, callback ? () => callback() : null, false);
    return this;
  }
  send(msg, ...rest) {
    const callback = typeof rest[rest.length - 1] === "function" ? rest.pop() : null;
    const [port, address] = rest.length >= 3 ? rest.slice(2) : rest;
    this._effect("send", { port: Number(port), host: String(address || "localhost"), bytes: msg && msg.length ? msg.length : 0 },
      "send", `${address || "localhost"}:${port}`, callback, true);
  }
  connect(port, address, callback) {
    this._effect("connect", { port: Number(port), host: String(address || "localhost") }, "connect",
      `${address || "localhost"}:${port}`, callback ? () => callback() : null, false);
  }
  close(callback) { queueMicrotask(() => { if (callback) callback(); this.emit("close"); }); return this; }
  address() { const e = new Error("getsockname EBADF"); e.code = "ERR_SOCKET_DGRAM_NOT_RUNNING"; throw e; }
  setBroadcast() {}
  setTTL(ttl) { return ttl; }
  setMulticastTTL(ttl) { return ttl; }
  addMembership() {}
  dropMembership() {}
  ref() { return this; }
  unref() { return this; }
}

export function createSocket(type, listener) {
  return new Socket(type, listener);
}

export default { Socket, createSocket };
