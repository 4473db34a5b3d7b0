// node:dns — name resolution is the supervisor's business (the http hostcall resolves and checks hosts).
// The module links; lookups fail with a clear ERR_NOT_SUPPORTED.
function fail(name) {
  return Object.assign(new Error(`pi-sandbox: dns.${name} is not available to extensions (use fetch; the host resolves names)`), { code: "ERR_NOT_SUPPORTED" });
}
function cbForm(name) {
  return (...args) => {
    const cb = args.find((a) => typeof a === "function");
    const err = fail(name);
    if (cb) queueMicrotask(() => cb(err));
    else throw err;
  };
}
export const lookup = cbForm("lookup");
export const resolve = cbForm("resolve");
export const resolve4 = cbForm("resolve4");
export const resolve6 = cbForm("resolve6");
export const reverse = cbForm("reverse");
export function setDefaultResultOrder() {}
export function getDefaultResultOrder() { return "verbatim"; }
export const promises = {
  lookup: async () => { throw fail("promises.lookup"); },
  resolve: async () => { throw fail("promises.resolve"); },
  resolve4: async () => { throw fail("promises.resolve4"); },
  resolve6: async () => { throw fail("promises.resolve6"); },
  reverse: async () => { throw fail("promises.reverse"); },
};
export default { lookup, resolve, resolve4, resolve6, reverse, setDefaultResultOrder, getDefaultResultOrder, promises };
