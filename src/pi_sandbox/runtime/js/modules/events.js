// node:events — EventEmitter with on/once/off/prepend*/emit/listeners, error semantics, `once()` promise helper.

const kCapture = Symbol("kCapture");
let defaultMaxListeners = 10;

export class EventEmitter {
  constructor() {
    this._events = Object.create(null);
    this._maxListeners = undefined;
    this[kCapture] = false;
  }
  static get defaultMaxListeners() { return defaultMaxListeners; }
  static set defaultMaxListeners(n) { defaultMaxListeners = n; }

  _list(name) {
    if (!this._events) this._events = Object.create(null); // subclasses that skip super()
    return this._events[name] || (this._events[name] = []);
  }
  _add(name, fn, prepend, once) {
    if (typeof fn !== "function") {
      const err = new TypeError(`The "listener" argument must be of type function. Received ${typeof fn}`);
      err.code = "ERR_INVALID_ARG_TYPE";
      throw err;
    }
    if (this._events && this._events.newListener && name !== "newListener") this.emit("newListener", name, fn);
    const entry = { fn, once };
    const list = this._list(name);
    if (prepend) list.unshift(entry);
    else list.push(entry);
    return this;
  }
  on(name, fn) { return this._add(name, fn, false, false); }
  addListener(name, fn) { return this._add(name, fn, false, false); }
  prependListener(name, fn) { return this._add(name, fn, true, false); }
  once(name, fn) { return this._add(name, fn, false, true); }
  prependOnceListener(name, fn) { return this._add(name, fn, true, true); }
  off(name, fn) { return this.removeListener(name, fn); }
  removeListener(name, fn) {
    const list = this._events && this._events[name];
    if (!list) return this;
    for (let i = list.length - 1; i >= 0; i--) {
      if (list[i].fn === fn) {
        list.splice(i, 1);
        if (list.length === 0) delete this._events[name];
        if (this._events.removeListener) this.emit("removeListener", name, fn);
        break;
      }
    }
    return this;
  }
  _removeEntry(name, entry) {
    // Remove this exact registration (the same function may also be registered with on()).
    const list = this._events && this._events[name];
    const i = list ? list.indexOf(entry) : -1;
    if (i === -1) return;
    list.splice(i, 1);
    if (list.length === 0) delete this._events[name];
    if (this._events.removeListener) this.emit("removeListener", name, entry.fn);
  }
  removeAllListeners(name) {
    if (!this._events) return this;
    if (name === undefined) this._events = Object.create(null);
    else delete this._events[name];
    return this;
  }
  emit(name, ...args) {
    const list = this._events && this._events[name];
    if (!list || list.length === 0) {
      if (name === "error") {
        const err = args[0] instanceof Error ? args[0] : new Error(`Unhandled error. (${String(args[0])})`);
        throw err;
      }
      return false;
    }
    for (const entry of list.slice()) {
      if (entry.once) this._removeEntry(name, entry);
      entry.fn.apply(this, args);
    }
    return true;
  }
  listenerCount(name) { return (this._events && this._events[name] ? this._events[name].length : 0); }
  listeners(name) { return (this._events && this._events[name] ? this._events[name].map((e) => e.fn) : []); }
  rawListeners(name) { return this.listeners(name); }
  eventNames() { return this._events ? Reflect.ownKeys(this._events) : []; }
  setMaxListeners(n) { this._maxListeners = n; return this; }
  getMaxListeners() { return this._maxListeners === undefined ? defaultMaxListeners : this._maxListeners; }
}
EventEmitter.EventEmitter = EventEmitter;
EventEmitter.captureRejectionSymbol = Symbol.for("nodejs.rejection");
EventEmitter.errorMonitor = Symbol("events.errorMonitor");

/** Resolve with the args of the next `name` event; reject on "error". Works with EventTarget-like objects too. */
export function once(emitter, name, options = {}) {
  return new Promise((resolve, reject) => {
    const onError = (err) => { emitter.removeListener(name, onEvent); reject(err); };
    const onEvent = (...args) => {
      if (name !== "error") emitter.removeListener("error", onError);
      resolve(args);
    };
    emitter.once(name, onEvent);
    if (name !== "error") emitter.once("error", onError);
    if (options.signal) {
      options.signal.addEventListener("abort", () => {
        emitter.removeListener(name, onEvent);
        emitter.removeListener("error", onError);
        reject(Object.assign(new Error("The operation was aborted"), { name: "AbortError", code: "ABORT_ERR" }));
      });
    }
  });
}

export async function* on(emitter, name) {
  const queue = [];
  let wake = null;
  emitter.on(name, (...args) => { queue.push(args); if (wake) { wake(); wake = null; } });
  while (true) {
    if (queue.length) yield queue.shift();
    else await new Promise((r) => { wake = r; });
  }
}

export function addAbortListener(signal, listener) {
  signal.addEventListener("abort", listener, { once: true });
  return { [Symbol.dispose]() { signal.removeEventListener("abort", listener); } };
}
export function getEventListeners(emitter, name) { return emitter.listeners(name); }
export function setMaxListeners() {}
export function listenerCount(emitter, name) { return emitter.listenerCount(name); }
export const errorMonitor = EventEmitter.errorMonitor;
export const captureRejectionSymbol = EventEmitter.captureRejectionSymbol;
EventEmitter.once = once;
EventEmitter.on = on;
EventEmitter.getEventListeners = getEventListeners;
EventEmitter.setMaxListeners = setMaxListeners;
EventEmitter.listenerCount = listenerCount;
EventEmitter.addAbortListener = addAbortListener;

/** Minimal EventTarget/Event for AbortSignal and friends (installed globally by pi:globals when missing). */
export class Event {
  constructor(type, init = {}) {
    this.type = type;
    this.bubbles = !!init.bubbles;
    this.cancelable = !!init.cancelable;
    this.defaultPrevented = false;
    this.timeStamp = Date.now();
    this.target = null;
  }
  preventDefault() { if (this.cancelable) this.defaultPrevented = true; }
  stopPropagation() {}
  stopImmediatePropagation() { this._stop = true; }
}

export class EventTarget {
  constructor() { Object.defineProperty(this, "_listeners", { value: new Map(), enumerable: false }); }
  addEventListener(type, fn, opts) {
    if (!fn) return;
    const list = this._listeners.get(type) || [];
    if (list.some((e) => e.fn === fn)) return;
    list.push({ fn, once: !!(opts && typeof opts === "object" && opts.once) });
    this._listeners.set(type, list);
  }
  removeEventListener(type, fn) {
    const list = this._listeners.get(type);
    if (list) this._listeners.set(type, list.filter((e) => e.fn !== fn));
  }
  dispatchEvent(event) {
    if (!event.target) event.target = this;
    for (const entry of (this._listeners.get(event.type) || []).slice()) {
      if (entry.once) this.removeEventListener(event.type, entry.fn);
      if (typeof entry.fn === "function") entry.fn.call(this, event);
      else entry.fn.handleEvent(event);
      if (event._stop) break;
    }
    const handler = this[`on${event.type}`];
    if (typeof handler === "function") handler.call(this, event);
    return !event.defaultPrevented;
  }
}

export default EventEmitter;
