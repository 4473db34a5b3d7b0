// events — the npm package `events` (Node's EventEmitter for browsers). Added here: the module-level helpers of
// newer Node (`on` as an async iterator, `getEventListeners`, `setMaxListeners`, `addAbortListener`, symbols).
import EventEmitter from "events/events.js";

export const once = EventEmitter.once;
export const errorMonitor = Symbol("events.errorMonitor");
export const captureRejectionSymbol = Symbol.for("nodejs.rejection");
EventEmitter.errorMonitor = errorMonitor;
EventEmitter.captureRejectionSymbol = captureRejectionSymbol;

/** Async iterator over `name` events (rejects on 'error'), like Node's events.on. */
export function on(emitter, name, options = {}) {
  const queue = [];
  const waiting = [];
  let failure = null;
  let done = false;
  const push = (...args) => (waiting.length ? waiting.shift().resolve({ value: args, done: false }) : queue.push(args));
  const fail = (err) => {
    failure = err;
    while (waiting.length) waiting.shift().reject(err);
  };
  emitter.on(name, push);
  if (name !== "error") emitter.on("error", fail);
  const stop = () => {
    done = true;
    emitter.removeListener(name, push);
    emitter.removeListener("error", fail);
    while (waiting.length) waiting.shift().resolve({ value: undefined, done: true });
  };
  if (options.signal) options.signal.addEventListener("abort", stop, { once: true });
  return {
    next() {
      if (queue.length) return Promise.resolve({ value: queue.shift(), done: false });
      if (failure) return Promise.reject(failure);
      if (done) return Promise.resolve({ value: undefined, done: true });
      return new Promise((resolve, reject) => waiting.push({ resolve, reject }));
    },
    return() {
      stop();
      return Promise.resolve({ value: undefined, done: true });
    },
    [Symbol.asyncIterator]() {
      return this;
    },
  };
}

export function getEventListeners(target, name) {
  return typeof target.listeners === "function" ? target.listeners(name) : [];
}
export function getMaxListeners(emitter) {
  return emitter.getMaxListeners();
}
export function setMaxListeners(n, ...targets) {
  if (targets.length === 0) EventEmitter.defaultMaxListeners = n;
  for (const target of targets) if (typeof target.setMaxListeners === "function") target.setMaxListeners(n);
}
export function listenerCount(emitter, name) {
  return emitter.listenerCount(name);
}
export function addAbortListener(signal, listener) {
  signal.addEventListener("abort", listener, { once: true });
  return { [Symbol.dispose || Symbol.for("nodejs.dispose")]: () => signal.removeEventListener("abort", listener) };
}
export class EventEmitterAsyncResource extends EventEmitter {}

Object.assign(EventEmitter, { on, getEventListeners, getMaxListeners, setMaxListeners, addAbortListener,
  EventEmitterAsyncResource });
export { EventEmitter };
export default EventEmitter;
