// node:worker_threads — loads for every extension. The extension always runs as the main thread
// (`isMainThread`, no `parentPort`); starting a Worker is a `net` hostcall (`thread`, capability `exec`) decided
// at use, refused as an 'error' event on the Worker. MessageChannel / BroadcastChannel pass messages inside the
// extension's own realm (structured clones), which needs no authority.
import * as host from "pi:host";
import { EventEmitter } from "events";
import { requestEffect } from "pi:effects";

export const isMainThread = true;
export const parentPort = null;
export const workerData = null;
export const threadId = 0;
export const resourceLimits = {};
export const SHARE_ENV = Symbol.for("nodejs.worker_threads.SHARE_ENV");

const environmentData = new Map();
export function getEnvironmentData(key) { return environmentData.get(key); }
export function setEnvironmentData(key, value) {
  if (value === undefined) environmentData.delete(key);
  else environmentData.set(key, value);
}

export class Worker extends EventEmitter {
  constructor(filename, options = {}) {
    super();
    this.threadId = -1;
    this.resourceLimits = options.resourceLimits || {};
    const target = filename instanceof URL ? filename.href : String(filename);
    requestEffect("thread", { kind: "worker", eval: Boolean(options.eval) }, "Worker", options.eval ? "<eval>" : target).then(
      () => this.emit("online"),
      (err) => {
        host.emitError(this, err);
        this.emit("exit", 1);
      },
    );
  }
  postMessage() {}
  terminate() { return Promise.resolve(1); }
  ref() { return this; }
  unref() { return this; }
  getHeapSnapshot() { return Promise.reject(new Error("no heap snapshot in the sandbox")); }
}

const clone = (value) => (typeof structuredClone === "function" ? structuredClone(value) : value);

export class MessagePort extends EventEmitter {
  constructor() {
    super();
    this._other = null;
    this._closed = false;
    this.onmessage = null;
  }
  postMessage(value) {
    const other = this._other;
    if (this._closed || !other || other._closed) return;
    const data = clone(value);
    queueMicrotask(() => {
      other.emit("message", data);
      if (typeof other.onmessage === "function") other.onmessage({ data, target: other });
    });
  }
  start() {}
  close() {
    this._closed = true;
    queueMicrotask(() => this.emit("close"));
  }
  ref() { return this; }
  unref() { return this; }
  addEventListener(name, fn) { this.on(name, name === "message" ? (data) => fn({ data, target: this }) : fn); }
}

export class MessageChannel {
  constructor() {
    this.port1 = new MessagePort();
    this.port2 = new MessagePort();
    this.port1._other = this.port2;
    this.port2._other = this.port1;
  }
}

const channels = new Map();
export class BroadcastChannel extends EventEmitter {
  constructor(name) {
    super();
    this.name = String(name);
    this.onmessage = null;
    if (!channels.has(this.name)) channels.set(this.name, new Set());
    channels.get(this.name).add(this);
  }
  postMessage(value) {
    for (const peer of channels.get(this.name) || []) {
      if (peer === this) continue;
      const data = clone(value);
      queueMicrotask(() => {
        peer.emit("message", data);
        if (typeof peer.onmessage === "function") peer.onmessage({ data, target: peer });
      });
    }
  }
  close() { (channels.get(this.name) || new Set()).delete(this); }
  ref() { return this; }
  unref() { return this; }
}

export function receiveMessageOnPort() { return undefined; }
export function markAsUntransferable() {}
export function isMarkedAsUntransferable() { return false; }
export function moveMessagePortToContext(port) { return port; }
// Node 22.10 (pi 1.x's runtime; undici 8 calls it while loading): marks an object structuredClone must refuse.
// No message ever leaves this worker, so there is nothing to refuse.
export function markAsUncloneable() {}

export default {
  isMainThread, parentPort, workerData, threadId, resourceLimits, SHARE_ENV, getEnvironmentData, setEnvironmentData,
  Worker, MessagePort, MessageChannel, BroadcastChannel, receiveMessageOnPort, markAsUntransferable,
  isMarkedAsUntransferable, moveMessagePortToContext, markAsUncloneable,
};
