// node:diagnostics_channel — in-process publish/subscribe (nothing leaves the extension).
const channels = new Map();

class Channel {
  constructor(name) { this.name = name; this._subs = new Set(); }
  get hasSubscribers() { return this._subs.size > 0; }
  subscribe(fn) { this._subs.add(fn); }
  unsubscribe(fn) { return this._subs.delete(fn); }
  publish(message) { for (const fn of this._subs) fn(message, this.name); }
  bindStore() {}
  unbindStore() {}
  runStores(_data, fn, thisArg, ...args) { return fn.apply(thisArg, args); }
}
export function channel(name) {
  if (!channels.has(name)) channels.set(name, new Channel(name));
  return channels.get(name);
}
export function hasSubscribers(name) { return channels.has(name) && channels.get(name).hasSubscribers; }
export function subscribe(name, fn) { channel(name).subscribe(fn); }
export function unsubscribe(name, fn) { return channel(name).unsubscribe(fn); }
export function tracingChannel(name) {
  const mk = (suffix) => channel(`tracing:${name}:${suffix}`);
  return { start: mk("start"), end: mk("end"), asyncStart: mk("asyncStart"), asyncEnd: mk("asyncEnd"), error: mk("error"),
    get hasSubscribers() { return false; }, subscribe() {}, unsubscribe() {},
    traceSync: (fn, _ctx, thisArg, ...args) => fn.apply(thisArg, args),
    tracePromise: (fn, _ctx, thisArg, ...args) => fn.apply(thisArg, args),
    traceCallback: (fn, _pos, _ctx, thisArg, ...args) => fn.apply(thisArg, args) };
}
export { Channel };
export default { channel, hasSubscribers, subscribe, unsubscribe, tracingChannel, Channel };
