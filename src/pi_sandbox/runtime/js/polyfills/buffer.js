// buffer — the npm package `buffer` (feross), which browserify and webpack serve for Node's Buffer. Added here:
// the `base64url` encoding (Node ≥ 15; the package predates it) and Node's module-level extras.
import lib from "buffer/index.js";
import { Blob } from "pi:web";

const { Buffer, SlowBuffer, INSPECT_MAX_BYTES, kMaxLength } = lib;
// The package's own marker (Node's Buffer has no such property): libraries read it to detect a browser polyfill
// and refuse to run (@exodus/bytes, under jsdom: "Unexpected Buffer polyfill"). The package reads it only at init.
delete Buffer.TYPED_ARRAY_SUPPORT;

// base64url is base64 with "-_" for "+/" and no padding: translate at the edges.
const toUrl = (text) => text.replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
const fromUrl = (text) => String(text).replace(/-/g, "+").replace(/_/g, "/");
const isUrl = (encoding) => typeof encoding === "string" && encoding.toLowerCase() === "base64url";

// Encoding to base64 through the engine's native btoa: the package's base64-js loop costs ~8x more here
// (bench_shims "Buffer base64 1 KiB").
function latin1(bytes) {
  let text = "";
  for (let i = 0; i < bytes.length; i += 8192) text += String.fromCharCode.apply(null, bytes.subarray(i, i + 8192));
  return text;
}

const proto = Buffer.prototype;
const { toString, write } = proto;
proto.toString = function (encoding, start, end) {
  const lower = typeof encoding === "string" ? encoding.toLowerCase() : "";
  if ((lower === "base64" || lower === "base64url") && typeof globalThis.btoa === "function") {
    const from = Math.max(0, Number(start) || 0);
    const to = end === undefined ? this.length : Math.min(this.length, Number(end) || 0);
    const b64 = to > from ? globalThis.btoa(latin1(this.subarray(from, to))) : "";
    return lower === "base64url" ? toUrl(b64) : b64;
  }
  return toString.apply(this, arguments);
};
proto.write = function (string, offset, length, encoding) {
  if (isUrl(encoding)) return write.call(this, fromUrl(string), offset, length, "base64");
  if (isUrl(offset)) return write.call(this, fromUrl(string), "base64");
  if (isUrl(length)) return write.call(this, fromUrl(string), offset, "base64");
  return write.apply(this, arguments);
};
const { from, byteLength, isEncoding } = Buffer;
Buffer.from = function (value, encodingOrOffset, length) {
  if (typeof value === "string" && isUrl(encodingOrOffset)) return from.call(Buffer, fromUrl(value), "base64");
  return from.call(Buffer, value, encodingOrOffset, length);
};
Buffer.byteLength = (string, encoding) =>
  isUrl(encoding) ? byteLength(fromUrl(string), "base64") : byteLength(string, encoding);
Buffer.isEncoding = (encoding) => isUrl(encoding) || isEncoding(encoding);

export { Buffer, SlowBuffer, INSPECT_MAX_BYTES, kMaxLength, Blob };
export const kStringMaxLength = 2 ** 29 - 24;
export const constants = { MAX_LENGTH: kMaxLength, MAX_STRING_LENGTH: kStringMaxLength };
export const atob = (data) => globalThis.atob(data);
export const btoa = (data) => globalThis.btoa(data);
export function isUtf8(input) {
  try {
    new TextDecoder("utf-8", { fatal: true }).decode(input);
    return true;
  } catch {
    return false;
  }
}
export function isAscii(input) {
  const bytes = ArrayBuffer.isView(input) ? new Uint8Array(input.buffer, input.byteOffset, input.byteLength) : new Uint8Array(input);
  return bytes.every((b) => b < 128);
}
export function transcode(source, fromEnc, toEnc) {
  return Buffer.from(Buffer.from(source).toString(fromEnc), toEnc);
}
export default { Buffer, SlowBuffer, INSPECT_MAX_BYTES, kMaxLength, kStringMaxLength, constants, atob, btoa, Blob,
  isUtf8, isAscii, transcode };
