// node:buffer — a Uint8Array-based Buffer. Pure JS, no host access.
// Encodings: utf8, hex, base64, base64url, latin1/binary, ascii, utf16le/ucs2.

const B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const B64_LOOKUP = new Int16Array(256).fill(-1);
for (let i = 0; i < 64; i++) B64_LOOKUP[B64.charCodeAt(i)] = i;
B64_LOOKUP["-".charCodeAt(0)] = 62; // base64url alphabet is accepted when decoding either form
B64_LOOKUP["_".charCodeAt(0)] = 63;

const utf8Encoder = new TextEncoder();
const utf8Decoder = new TextDecoder();

function normEnc(enc) {
  const e = String(enc || "utf8").toLowerCase();
  switch (e) {
    case "utf8": case "utf-8": return "utf8";
    case "hex": return "hex";
    case "base64": return "base64";
    case "base64url": return "base64url";
    case "latin1": case "binary": return "latin1";
    case "ascii": return "ascii";
    case "utf16le": case "utf-16le": case "ucs2": case "ucs-2": return "utf16le";
    default: {
      const err = new TypeError(`Unknown encoding: ${enc}`);
      err.code = "ERR_UNKNOWN_ENCODING";
      throw err;
    }
  }
}

function latin1(bytes) {
  let s = "";
  for (let i = 0; i < bytes.length; i += 8192) s += String.fromCharCode.apply(null, bytes.subarray(i, i + 8192));
  return s;
}

export function encodeBase64(bytes, url = false) {
  // The engine's btoa is native; the manual encoder below is the fallback.
  if (typeof globalThis.btoa === "function") {
    const b64 = globalThis.btoa(latin1(bytes));
    return url ? b64.replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "") : b64;
  }
  let out = "";
  const n = bytes.length;
  let i = 0;
  for (; i + 2 < n; i += 3) {
    const v = (bytes[i] << 16) | (bytes[i + 1] << 8) | bytes[i + 2];
    out += B64[v >> 18] + B64[(v >> 12) & 63] + B64[(v >> 6) & 63] + B64[v & 63];
  }
  if (i < n) {
    const v = (bytes[i] << 16) | ((i + 1 < n ? bytes[i + 1] : 0) << 8);
    out += B64[v >> 18] + B64[(v >> 12) & 63];
    out += i + 1 < n ? B64[(v >> 6) & 63] + "=" : "==";
  }
  if (url) out = out.replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  return out;
}

export function decodeBase64(str) {
  if (typeof globalThis.atob === "function") {
    // Node is lenient (skips invalid characters, accepts url-safe and missing padding); atob is strict, so clean first.
    let clean = String(str).replace(/[-_]/g, (c) => (c === "-" ? "+" : "/")).replace(/[^A-Za-z0-9+/]/g, "");
    const eq = String(str).indexOf("=");
    if (eq !== -1) clean = String(str).slice(0, eq).replace(/[-_]/g, (c) => (c === "-" ? "+" : "/")).replace(/[^A-Za-z0-9+/]/g, "");
    if (clean.length % 4 === 1) clean = clean.slice(0, -1);
    try {
      const bin = globalThis.atob(clean + "===".slice((clean.length + 3) % 4));
      const out = new Uint8Array(bin.length);
      for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
      return out;
    } catch { /* fall back to the manual decoder */ }
  }
  const out = new Uint8Array(Math.floor((str.length * 3) / 4) + 3);
  let acc = 0, bits = 0, len = 0;
  for (let i = 0; i < str.length; i++) {
    const c = str.charCodeAt(i);
    if (c === 61) break; // '=' ends the data
    const v = c < 256 ? B64_LOOKUP[c] : -1;
    if (v < 0) continue; // Node skips whitespace and invalid characters
    acc = (acc << 6) | v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[len++] = (acc >> bits) & 255;
    }
  }
  return out.subarray(0, len);
}

function encodeString(str, enc) {
  switch (normEnc(enc)) {
    case "utf8": return utf8Encoder.encode(str.toWellFormed()); // lone surrogates become U+FFFD, as in Node
    case "hex": {
      const n = str.length >> 1;
      const out = new Uint8Array(n);
      let i = 0;
      for (; i < n; i++) {
        const v = parseInt(str.substr(i * 2, 2), 16);
        if (Number.isNaN(v)) break; // Node stops at the first invalid pair
        out[i] = v;
      }
      return out.subarray(0, i);
    }
    case "base64": case "base64url": return decodeBase64(str);
    case "latin1": case "ascii": {
      const out = new Uint8Array(str.length);
      for (let i = 0; i < str.length; i++) out[i] = str.charCodeAt(i) & 255;
      return out;
    }
    case "utf16le": {
      const out = new Uint8Array(str.length * 2);
      for (let i = 0; i < str.length; i++) {
        const c = str.charCodeAt(i);
        out[i * 2] = c & 255;
        out[i * 2 + 1] = c >> 8;
      }
      return out;
    }
  }
}

function decodeBytes(bytes, enc) {
  switch (normEnc(enc)) {
    case "utf8": return utf8Decoder.decode(bytes);
    case "hex": {
      let s = "";
      for (let i = 0; i < bytes.length; i++) s += (bytes[i] < 16 ? "0" : "") + bytes[i].toString(16);
      return s;
    }
    case "base64": return encodeBase64(bytes, false);
    case "base64url": return encodeBase64(bytes, true);
    case "latin1": case "ascii": {
      const mask = normEnc(enc) === "ascii" ? 127 : 255;
      let s = "";
      for (let i = 0; i < bytes.length; i += 4096) {
        const chunk = Array.from(bytes.subarray(i, i + 4096), (b) => b & mask);
        s += String.fromCharCode.apply(null, chunk);
      }
      return s;
    }
    case "utf16le": {
      let s = "";
      for (let i = 0; i + 1 < bytes.length; i += 2) s += String.fromCharCode(bytes[i] | (bytes[i + 1] << 8));
      return s;
    }
  }
}

export class Buffer extends Uint8Array {
  // `new Buffer(string | array)` is deprecated in Node but still found in old code; typed-array internals
  // (subarray, species) call the (buffer, offset, length) / (length) forms, which pass straight through.
  constructor(a, b, c) {
    if (typeof a === "string") {
      const bytes = encodeString(a, b);
      super(bytes.length);
      this.set(bytes);
    } else if (Array.isArray(a)) {
      super(a.length);
      this.set(a);
    } else if (c !== undefined) super(a, b, c);
    else if (b !== undefined) super(a, b);
    else super(a);
  }
  static from(value, encOrOffset, length) {
    if (typeof value === "string") return Buffer._wrap(encodeString(value, encOrOffset));
    if (value instanceof ArrayBuffer || (typeof SharedArrayBuffer !== "undefined" && value instanceof SharedArrayBuffer)) {
      const off = encOrOffset || 0;
      return new Buffer(value, off, length === undefined ? value.byteLength - off : length);
    }
    if (ArrayBuffer.isView(value)) {
      const src = new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
      const out = new Buffer(src.length);
      out.set(src);
      return out;
    }
    if (Array.isArray(value)) {
      const out = new Buffer(value.length);
      for (let i = 0; i < value.length; i++) out[i] = value[i];
      return out;
    }
    if (value && value.type === "Buffer" && Array.isArray(value.data)) return Buffer.from(value.data);
    if (value && typeof value.length === "number") return Buffer.from(Array.from(value));
    throw new TypeError("The first argument must be of type string, Buffer, ArrayBuffer, Array, or Array-like Object.");
  }
  static _wrap(u8) {
    return new Buffer(u8.buffer, u8.byteOffset, u8.byteLength);
  }
  static alloc(size, fill, enc) {
    const b = new Buffer(size);
    if (fill !== undefined && fill !== 0) b.fill(fill, 0, size, enc);
    return b;
  }
  static allocUnsafe(size) { return new Buffer(size); }
  static allocUnsafeSlow(size) { return new Buffer(size); }
  static isBuffer(v) { return v instanceof Buffer; }
  static isEncoding(enc) {
    try { normEnc(enc); return typeof enc === "string"; } catch { return false; }
  }
  static byteLength(v, enc) {
    if (typeof v === "string") return encodeString(v, enc).length;
    return v.byteLength;
  }
  static concat(list, total) {
    if (total === undefined) total = list.reduce((n, b) => n + b.length, 0);
    const out = Buffer.alloc(total);
    let off = 0;
    for (const b of list) {
      if (off >= total) break;
      const part = b.length > total - off ? b.subarray(0, total - off) : b;
      out.set(part, off);
      off += part.length;
    }
    return out;
  }
  static compare(a, b) { return Buffer.prototype.compare.call(a, b); }

  toString(enc, start = 0, end = this.length) {
    return decodeBytes(this.subarray(start, end), enc);
  }
  toJSON() { return { type: "Buffer", data: Array.from(this) }; }
  equals(other) { return this.compare(other) === 0; }
  compare(other) {
    const n = Math.min(this.length, other.length);
    for (let i = 0; i < n; i++) if (this[i] !== other[i]) return this[i] < other[i] ? -1 : 1;
    return this.length === other.length ? 0 : this.length < other.length ? -1 : 1;
  }
  slice(start, end) { return this.subarray(start, end); } // Node: slice is a view
  write(str, offset = 0, length, enc) {
    if (typeof offset === "string") { enc = offset; offset = 0; }
    else if (typeof length === "string") { enc = length; length = undefined; }
    const bytes = encodeString(str, enc);
    const n = Math.min(bytes.length, this.length - offset, length === undefined ? Infinity : length);
    this.set(bytes.subarray(0, n), offset);
    return n;
  }
  fill(value, start = 0, end = this.length, enc) {
    if (typeof start === "string") { enc = start; start = 0; end = this.length; }
    if (typeof value === "string") {
      const bytes = value.length === 1 && normEnc(enc) === "utf8" && value.charCodeAt(0) < 128
        ? [value.charCodeAt(0)] : encodeString(value, enc);
      if (bytes.length === 0) return Uint8Array.prototype.fill.call(this, 0, start, end);
      for (let i = start, j = 0; i < end; i++, j = (j + 1) % bytes.length) this[i] = bytes[j];
      return this;
    }
    return Uint8Array.prototype.fill.call(this, value, start, end);
  }
  indexOf(value, from = 0, enc) {
    if (typeof value === "number") return Uint8Array.prototype.indexOf.call(this, value, from);
    const needle = typeof value === "string" ? encodeString(value, enc) : value;
    if (from < 0) from = Math.max(0, this.length + from);
    outer: for (let i = from; i <= this.length - needle.length; i++) {
      for (let j = 0; j < needle.length; j++) if (this[i + j] !== needle[j]) continue outer;
      return i;
    }
    return -1;
  }
  includes(value, from, enc) { return this.indexOf(value, from, enc) !== -1; }
  lastIndexOf(value, from = this.length - 1, enc) {
    if (typeof value === "number") return Uint8Array.prototype.lastIndexOf.call(this, value, from);
    const needle = typeof value === "string" ? encodeString(value, enc) : value;
    if (from < 0) from = this.length + from;
    outer: for (let i = Math.min(from, this.length - needle.length); i >= 0; i--) {
      for (let j = 0; j < needle.length; j++) if (this[i + j] !== needle[j]) continue outer;
      return i;
    }
    return -1;
  }
  copy(target, targetStart = 0, sourceStart = 0, sourceEnd = this.length) {
    const part = this.subarray(sourceStart, Math.min(sourceEnd, sourceStart + target.length - targetStart));
    target.set(part, targetStart);
    return part.length;
  }
  _view() { return new DataView(this.buffer, this.byteOffset, this.byteLength); }
  readUInt8(o = 0) { return this._view().getUint8(o); }
  readInt8(o = 0) { return this._view().getInt8(o); }
  readUInt16LE(o = 0) { return this._view().getUint16(o, true); }
  readUInt16BE(o = 0) { return this._view().getUint16(o, false); }
  readUInt32LE(o = 0) { return this._view().getUint32(o, true); }
  readUInt32BE(o = 0) { return this._view().getUint32(o, false); }
  readInt32LE(o = 0) { return this._view().getInt32(o, true); }
  readInt32BE(o = 0) { return this._view().getInt32(o, false); }
  readBigUInt64BE(o = 0) { return this._view().getBigUint64(o, false); }
  readBigUInt64LE(o = 0) { return this._view().getBigUint64(o, true); }
  readBigInt64BE(o = 0) { return this._view().getBigInt64(o, false); }
  readBigInt64LE(o = 0) { return this._view().getBigInt64(o, true); }
  readInt16LE(o = 0) { return this._view().getInt16(o, true); }
  readInt16BE(o = 0) { return this._view().getInt16(o, false); }
  readFloatLE(o = 0) { return this._view().getFloat32(o, true); }
  readFloatBE(o = 0) { return this._view().getFloat32(o, false); }
  readDoubleLE(o = 0) { return this._view().getFloat64(o, true); }
  readDoubleBE(o = 0) { return this._view().getFloat64(o, false); }
  writeBigUInt64BE(v, o = 0) { this._view().setBigUint64(o, BigInt(v), false); return o + 8; }
  writeBigUInt64LE(v, o = 0) { this._view().setBigUint64(o, BigInt(v), true); return o + 8; }
  writeInt8(v, o = 0) { this._view().setInt8(o, v); return o + 1; }
  writeInt16LE(v, o = 0) { this._view().setInt16(o, v, true); return o + 2; }
  writeInt16BE(v, o = 0) { this._view().setInt16(o, v, false); return o + 2; }
  writeDoubleLE(v, o = 0) { this._view().setFloat64(o, v, true); return o + 8; }
  writeDoubleBE(v, o = 0) { this._view().setFloat64(o, v, false); return o + 8; }
  writeUInt8(v, o = 0) { this._view().setUint8(o, v); return o + 1; }
  writeUInt16LE(v, o = 0) { this._view().setUint16(o, v, true); return o + 2; }
  writeUInt16BE(v, o = 0) { this._view().setUint16(o, v, false); return o + 2; }
  writeUInt32LE(v, o = 0) { this._view().setUint32(o, v, true); return o + 4; }
  writeUInt32BE(v, o = 0) { this._view().setUint32(o, v, false); return o + 4; }
  writeInt32LE(v, o = 0) { this._view().setInt32(o, v, true); return o + 4; }
  writeInt32BE(v, o = 0) { this._view().setInt32(o, v, false); return o + 4; }
}
Buffer.poolSize = 8192;
// Node aliases readUint8 etc.
for (const name of Object.getOwnPropertyNames(Buffer.prototype)) {
  if (/^(read|write)(Big)?U?Int/.test(name) && name.includes("UInt")) {
    Buffer.prototype[name.replace("UInt", "Uint")] = Buffer.prototype[name];
  }
}

export const kMaxLength = 2 ** 31 - 1;
export const constants = { MAX_LENGTH: kMaxLength, MAX_STRING_LENGTH: 2 ** 29 - 24 };
export { Blob } from "pi:web";
export function isUtf8(input) {
  try { new TextDecoder("utf-8", { fatal: true }).decode(input); return true; } catch { return false; }
}
export function isAscii(input) { return new Uint8Array(input.buffer || input, input.byteOffset || 0, input.byteLength).every((b) => b < 128); }
export function atob(s) { return globalThis.atob(s); }
export function btoa(s) { return globalThis.btoa(s); }
export { encodeString as _encodeString, decodeBytes as _decodeBytes };
import { Blob as WebBlob } from "pi:web";
export default { Buffer, kMaxLength, constants, atob, btoa, Blob: WebBlob, isUtf8, isAscii };
