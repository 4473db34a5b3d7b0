// node:timers/promises — promise forms of the host-driven timers.
import { setTimeout as st, setImmediate as si, clearTimeout as ct } from "timers";

function abortError() {
  return Object.assign(new Error("The operation was aborted"), { name: "AbortError", code: "ABORT_ERR" });
}

export function setTimeout(ms, value, options = {}) {
  return new Promise((resolve, reject) => {
    if (options.signal && options.signal.aborted) return reject(abortError());
    const t = st(() => resolve(value), ms);
    if (options.signal) options.signal.addEventListener("abort", () => { ct(t); reject(abortError()); });
  });
}
export function setImmediate(value) { return new Promise((resolve) => si(() => resolve(value))); }
export async function* setInterval(ms, value) {
  while (true) {
    await setTimeout(ms);
    yield value;
  }
}
export const scheduler = { wait: (ms, opts) => setTimeout(ms, undefined, opts), yield: () => setImmediate() };
export default { setTimeout, setImmediate, setInterval, scheduler };
