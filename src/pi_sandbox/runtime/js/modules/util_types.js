// node:util/types — type predicates.
const tag = (v) => Object.prototype.toString.call(v);

export const isPromise = (v) => v instanceof Promise;
export const isDate = (v) => v instanceof Date;
export const isRegExp = (v) => v instanceof RegExp;
export const isMap = (v) => v instanceof Map;
export const isSet = (v) => v instanceof Set;
export const isWeakMap = (v) => v instanceof WeakMap;
export const isWeakSet = (v) => v instanceof WeakSet;
export const isNativeError = (v) => v instanceof Error;
export const isArrayBuffer = (v) => v instanceof ArrayBuffer;
export const isSharedArrayBuffer = (v) => typeof SharedArrayBuffer !== "undefined" && v instanceof SharedArrayBuffer;
export const isAnyArrayBuffer = (v) => isArrayBuffer(v) || isSharedArrayBuffer(v);
export const isArrayBufferView = (v) => ArrayBuffer.isView(v);
export const isTypedArray = (v) => ArrayBuffer.isView(v) && !(v instanceof DataView);
export const isUint8Array = (v) => v instanceof Uint8Array;
export const isDataView = (v) => v instanceof DataView;
export const isAsyncFunction = (v) => typeof v === "function" && tag(v) === "[object AsyncFunction]";
export const isGeneratorFunction = (v) => typeof v === "function" && /GeneratorFunction\]$/.test(tag(v));
export const isGeneratorObject = (v) => tag(v) === "[object Generator]";
export const isProxy = () => false; // not observable from JS
export const isBoxedPrimitive = (v) =>
  v instanceof Number || v instanceof String || v instanceof Boolean || v instanceof BigInt || v instanceof Symbol;

export default {
  isPromise, isDate, isRegExp, isMap, isSet, isWeakMap, isWeakSet, isNativeError, isArrayBuffer,
  isSharedArrayBuffer, isAnyArrayBuffer, isArrayBufferView, isTypedArray, isUint8Array, isDataView,
  isAsyncFunction, isGeneratorFunction, isGeneratorObject, isProxy, isBoxedPrimitive,
};
