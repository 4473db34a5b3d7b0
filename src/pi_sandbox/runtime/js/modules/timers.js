// node:timers — host-driven timers. The worker has no event loop of its own: host.setTimer() asks the
// supervisor-side loop to call back after `ms`; the callback runs inside the engine's job pump.
import * as host from "pi:host";

const kId = Symbol("timerId");

function noStringTimer(fn) {
  if (typeof fn !== "function") {
    // String timers are eval in disguise; Node also rejects non-functions.
    const err = new TypeError('The "callback" argument must be of type function');
    err.code = "ERR_INVALID_ARG_TYPE";
    throw err;
  }
}

export class Timeout {
  constructor(fn, ms, args, repeat) {
    this._fn = fn;
    this._ms = Math.max(0, Number(ms) || 0);
    this._args = args;
    this._repeat = repeat;
    this._ref = true;
    this._start();
  }
  _start() {
    this[kId] = host.setTimer(() => {
      if (!this._repeat) this._done = true;
      this._fn(...this._args);
    }, this._ms, this._repeat);
  }
  ref() { this._ref = true; return this; }
  unref() { this._ref = false; return this; }
  hasRef() { return this._ref; }
  refresh() { if (!this._done) { host.clearTimer(this[kId]); this._start(); } return this; }
  close() { clearTimeout(this); return this; }
  [Symbol.toPrimitive]() { return this[kId]; }
}

export function setTimeout(fn, ms, ...args) { noStringTimer(fn); return new Timeout(fn, ms, args, false); }
export function setInterval(fn, ms, ...args) { noStringTimer(fn); return new Timeout(fn, ms, args, true); }
export function setImmediate(fn, ...args) {
  noStringTimer(fn);
  const t = new Timeout(fn, 0, args, false);
  t._immediate = true;
  return t;
}
export function clearTimeout(t) {
  if (t === undefined || t === null) return;
  const id = t instanceof Timeout ? t[kId] : Number(t);
  if (t instanceof Timeout) t._done = true;
  if (!Number.isNaN(id)) host.clearTimer(id);
}
export const clearInterval = clearTimeout;
export const clearImmediate = clearTimeout;

export default { setTimeout, setInterval, setImmediate, clearTimeout, clearInterval, clearImmediate, Timeout };
