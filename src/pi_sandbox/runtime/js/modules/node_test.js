// node:test — loads so a file that also holds its tests can be an extension; the sandbox runs no tests:
// `test`/`describe`/`it` and the hooks register nothing and resolve at once.
const skip = () => Promise.resolve();
function makeTest() {
  const fn = (..._args) => Promise.resolve();
  fn.skip = skip;
  fn.todo = skip;
  fn.only = skip;
  return fn;
}
export const test = makeTest();
export const describe = makeTest();
export const it = makeTest();
export const suite = describe;
export const before = () => {};
export const after = () => {};
export const beforeEach = () => {};
export const afterEach = () => {};
export const mock = { fn: (impl = () => {}) => impl, method: () => ({}), reset() {}, restoreAll() {}, timers: { enable() {}, reset() {}, tick() {} } };
export const run = () => { throw Object.assign(new Error("pi-sandbox: node:test does not run tests in the sandbox"), { code: "ERR_NOT_SUPPORTED" }); };
test.test = test;
test.describe = describe;
test.it = it;
test.mock = mock;
export default test;
