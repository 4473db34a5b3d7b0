// node:domain (deprecated) — a Domain runs functions and routes their synchronous throws and 'error' events of
// added emitters to its own 'error' event; asynchronous continuations are not tracked (as with AsyncLocalStorage,
// see async_hooks).
import { EventEmitter } from "events";

export class Domain extends EventEmitter {
  constructor() {
    super();
    this.members = [];
  }
  run(fn, ...args) {
    try {
      return fn(...args);
    } catch (err) {
      if (this.listenerCount("error") === 0) throw err;
      this.emit("error", err);
      return undefined;
    }
  }
  add(emitter) {
    this.members.push(emitter);
    emitter.on("error", (err) => this.emit("error", err));
  }
  remove(emitter) { this.members = this.members.filter((m) => m !== emitter); }
  bind(fn) { return (...args) => this.run(fn, ...args); }
  intercept(fn) { return (err, ...args) => (err ? this.emit("error", err) : this.run(fn, ...args)); }
  enter() {}
  exit() {}
  dispose() { this.members = []; }
}
export const create = () => new Domain();
export const active = null;
export default { Domain, create, createDomain: create, active };
