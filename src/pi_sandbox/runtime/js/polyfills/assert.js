// assert — the npm package `assert` (Node's assert for browsers: AssertionError with Node's messages, deep
// equality from Node's comparisons, throws/rejects matching). `assert/strict` is its `strict` export.
import assert from "assert/build/assert.js";

export const { AssertionError, ok, equal, notEqual, strictEqual, notStrictEqual, deepEqual, notDeepEqual,
  deepStrictEqual, notDeepStrictEqual, throws, doesNotThrow, rejects, doesNotReject, ifError, match,
  doesNotMatch, fail, strict } = assert;
export default assert;
