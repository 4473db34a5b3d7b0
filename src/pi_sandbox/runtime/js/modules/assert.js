// node:assert (and assert/strict) — the common assertions.
import { isDeepStrictEqual, inspect } from "util";

export class AssertionError extends Error {
  constructor(opts) {
    super(opts.message || `${inspect(opts.actual)} ${opts.operator} ${inspect(opts.expected)}`);
    this.name = "AssertionError";
    this.code = "ERR_ASSERTION";
    this.actual = opts.actual;
    this.expected = opts.expected;
    this.operator = opts.operator;
    this.generatedMessage = !opts.message;
  }
}

function fail(actual, expected, message, operator) {
  if (message instanceof Error) throw message;
  throw new AssertionError({ actual, expected, message, operator });
}

function looseDeepEqual(a, b) {
  // eslint-disable-next-line eqeqeq
  if (a == b) return true;
  if (typeof a !== "object" || typeof b !== "object" || !a || !b) return false;
  const ka = Object.keys(a), kb = Object.keys(b);
  return ka.length === kb.length && ka.every((k) => looseDeepEqual(a[k], b[k]));
}

export function ok(value, message) { if (!value) fail(value, true, message || "The expression evaluated to a falsy value", "=="); }
export function equal(a, b, message) { if (!(a == b || (a !== a && b !== b))) fail(a, b, message, "=="); } // eslint-disable-line eqeqeq
export function notEqual(a, b, message) { if (a == b) fail(a, b, message, "!="); } // eslint-disable-line eqeqeq
export function strictEqual(a, b, message) { if (!Object.is(a, b)) fail(a, b, message, "strictEqual"); }
export function notStrictEqual(a, b, message) { if (Object.is(a, b)) fail(a, b, message, "notStrictEqual"); }
export function deepEqual(a, b, message) { if (!looseDeepEqual(a, b)) fail(a, b, message, "deepEqual"); }
export function notDeepEqual(a, b, message) { if (looseDeepEqual(a, b)) fail(a, b, message, "notDeepEqual"); }
export function deepStrictEqual(a, b, message) { if (!isDeepStrictEqual(a, b)) fail(a, b, message, "deepStrictEqual"); }
export function notDeepStrictEqual(a, b, message) { if (isDeepStrictEqual(a, b)) fail(a, b, message, "notDeepStrictEqual"); }
export function match(s, re, message) { if (!re.test(s)) fail(s, re, message, "match"); }
export function doesNotMatch(s, re, message) { if (re.test(s)) fail(s, re, message, "doesNotMatch"); }
export function ifError(v) { if (v !== null && v !== undefined) throw v; }
export function failNow(message = "Failed") { fail(undefined, undefined, message, "fail"); }

function matchesExpected(err, expected) {
  if (expected === undefined) return true;
  if (typeof expected === "function") {
    if (expected.prototype !== undefined && err instanceof expected) return true;
    if (Error.isPrototypeOf(expected) || expected === Error) return false;
    return expected(err) === true;
  }
  if (expected instanceof RegExp) return expected.test(String(err && err.message !== undefined ? err.message : err));
  return Object.keys(expected).every((k) => (expected[k] instanceof RegExp ? expected[k].test(err[k]) : isDeepStrictEqual(err[k], expected[k])));
}

export function throws(fn, expected, message) {
  if (typeof expected === "string") { message = expected; expected = undefined; }
  try { fn(); } catch (err) {
    if (!matchesExpected(err, expected)) throw err;
    return;
  }
  fail(undefined, expected, message || "Missing expected exception.", "throws");
}
export function doesNotThrow(fn, message) {
  try { fn(); } catch (err) { fail(err, undefined, message || `Got unwanted exception: ${err && err.message}`, "doesNotThrow"); }
}
export async function rejects(p, expected, message) {
  if (typeof expected === "string") { message = expected; expected = undefined; }
  try { await (typeof p === "function" ? p() : p); } catch (err) {
    if (!matchesExpected(err, expected)) throw err;
    return;
  }
  fail(undefined, expected, message || "Missing expected rejection.", "rejects");
}
export async function doesNotReject(p, message) {
  try { await (typeof p === "function" ? p() : p); } catch (err) { fail(err, undefined, message || "Got unwanted rejection.", "doesNotReject"); }
}

function assert(value, message) { ok(value, message); }
Object.assign(assert, {
  ok, equal, notEqual, strictEqual, notStrictEqual, deepEqual, notDeepEqual, deepStrictEqual, notDeepStrictEqual,
  match, doesNotMatch, ifError, fail: failNow, throws, doesNotThrow, rejects, doesNotReject, AssertionError,
});
assert.strict = assert;
export { failNow as fail };
export const strict = assert;
export default assert;
