// node:async_hooks — AsyncLocalStorage with synchronous scope only: `run(store, fn)` makes getStore() return
// `store` while fn runs (including its synchronous part); continuations after an await do not keep it.
let current = new Map();

export class AsyncLocalStorage {
  getStore() { return current.get(this); }
  run(store, fn, ...args) {
    const prev = current;
    current = new Map(prev);
    current.set(this, store);
    try { return fn(...args); } finally { current = prev; }
  }
  exit(fn, ...args) {
    const prev = current;
    current = new Map(prev);
    current.delete(this);
    try { return fn(...args); } finally { current = prev; }
  }
  enterWith(store) { current.set(this, store); }
  disable() { current.delete(this); }
  static bind(fn) { return fn; }
  static snapshot() { return (fn, ...args) => fn(...args); }
}
export class AsyncResource {
  constructor(type) { this.type = type; }
  runInAsyncScope(fn, thisArg, ...args) { return fn.apply(thisArg, args); }
  bind(fn) { return fn.bind(this); }
  emitDestroy() { return this; }
  static bind(fn) { return fn; }
}
export function createHook() { return { enable() { return this; }, disable() { return this; } }; }
export function executionAsyncId() { return 1; }
export function triggerAsyncId() { return 0; }
export default { AsyncLocalStorage, AsyncResource, createHook, executionAsyncId, triggerAsyncId };
