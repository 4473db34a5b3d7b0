// node:crypto — digests (MD5, SHA-1/2/3, BLAKE2) computed natively in the worker (host.digest), HMAC, PBKDF2 and
// HKDF on top of them; randomness from host.randomBytes (os.urandom in the worker). Neither is a hostcall: both
// are computation with no authority. Ciphers/keys/signing are not provided (clear ERR_NOT_SUPPORTED).
import * as host from "pi:host";
import { Buffer } from "buffer";


function toBytes(data, inputEncoding) {
  if (typeof data === "string") return Buffer.from(data, inputEncoding || "utf8");
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  throw Object.assign(new TypeError('The "data" argument must be of type string or an instance of Buffer, TypedArray, or DataView.'),
    { code: "ERR_INVALID_ARG_TYPE" });
}

// Digests run natively in the worker (host.digest: hashlib, no hostcall, no authority): the pure-JS SHA-256 this
// replaced cost ~3.5 ms per 4 KiB. Block sizes are what HMAC needs.
const BLOCK = {
  md5: 64, sha1: 64, sha224: 64, sha256: 64, sha384: 128, sha512: 128, "sha512-224": 128, "sha512-256": 128,
  "sha3-224": 144, "sha3-256": 136, "sha3-384": 104, "sha3-512": 72, blake2b512: 128, blake2s256: 64,
};
const ALIASES = { "sha-1": "sha1", "sha-224": "sha224", "sha-256": "sha256", "sha-384": "sha384", "sha-512": "sha512" };

function algorithm(name) {
  let key = String(name).toLowerCase().replace(/^rsa-/, "");
  key = ALIASES[key] || key;
  if (!(key in BLOCK) || typeof host.digest !== "function") {
    throw Object.assign(new Error(`Digest method not supported: ${name}`), { code: "ERR_CRYPTO_INVALID_DIGEST" });
  }
  return { name: key, block: BLOCK[key], fn: (bytes) => host.digest(key, bytes) };
}

function output(bytes, encoding) {
  const buf = Buffer.from(bytes);
  return encoding ? buf.toString(encoding) : buf;
}

class Hash {
  constructor(name) { this._name = name; this._alg = algorithm(name); this._chunks = []; this._done = false; }
  update(data, inputEncoding) {
    if (this._done) throw Object.assign(new Error("Digest already called"), { code: "ERR_CRYPTO_HASH_FINALIZED" });
    this._chunks.push(Buffer.from(toBytes(data, inputEncoding)));
    return this;
  }
  _final() {
    this._done = true;
    return this._alg.fn(Buffer.concat(this._chunks));
  }
  digest(encoding) { return output(this._final(), encoding); }
  copy() { const h = new Hash(this._name); h._chunks = this._chunks.slice(); return h; }
}

class Hmac {
  constructor(name, key) {
    this._alg = algorithm(name);
    let k = key && key.export ? key.export() : toBytes(key);
    if (k.length > this._alg.block) k = this._alg.fn(k);
    this._key = new Uint8Array(this._alg.block);
    this._key.set(k);
    this._chunks = [];
  }
  update(data, inputEncoding) { this._chunks.push(Buffer.from(toBytes(data, inputEncoding))); return this; }
  digest(encoding) {
    const ipad = this._key.map((b) => b ^ 0x36);
    const opad = this._key.map((b) => b ^ 0x5c);
    const h = (data) => this._alg.fn(data);
    const inner = h(Buffer.concat([Buffer.from(ipad), ...this._chunks]));
    return output(h(Buffer.concat([Buffer.from(opad), Buffer.from(inner)])), encoding);
  }
}

export function createHash(name) { return new Hash(name); }
export function createHmac(name, key) { return new Hmac(name, key); }
export function hash(name, data, encoding = "hex") { return createHash(name).update(data).digest(encoding); }
export function getHashes() { return Object.keys(BLOCK); }

/** Fill `n` bytes from host.randomBytes (os.urandom in the worker); never a weaker source. */
function entropy(n) {
  if (typeof host.randomBytes !== "function") notSupported("randomBytes without the worker's entropy source")();
  const out = new Uint8Array(n);
  for (let off = 0; off < n; off += 65536) out.set(host.randomBytes(Math.min(65536, n - off)), off);
  return out;
}

export function randomBytes(size, cb) {
  const buf = Buffer.from(entropy(size));
  if (typeof cb === "function") { queueMicrotask(() => cb(null, buf)); return undefined; }
  return buf;
}
export function randomFillSync(view, offset = 0, size) {
  const u8 = new Uint8Array(view.buffer || view, view.byteOffset || 0, view.byteLength);
  const n = size === undefined ? u8.length - offset : size;
  u8.set(entropy(n), offset);
  return view;
}
export function getRandomValues(view) {
  if (!ArrayBuffer.isView(view)) throw new TypeError("getRandomValues expects a TypedArray");
  if (view.byteLength > 65536) throw new DOMException("quota exceeded", "QuotaExceededError");
  new Uint8Array(view.buffer, view.byteOffset, view.byteLength).set(entropy(view.byteLength));
  return view;
}
export function randomUUID() {
  const b = entropy(16);
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const h = Buffer.from(b).toString("hex");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}
export function randomInt(min, max, cb) {
  if (max === undefined || typeof max === "function") { cb = max; max = min; min = 0; }
  const range = max - min;
  const b = entropy(6);
  const x = b.reduce((acc, v) => acc * 256 + v, 0);
  const r = min + (x % range);
  if (typeof cb === "function") { queueMicrotask(() => cb(null, r)); return undefined; }
  return r;
}
export function timingSafeEqual(a, b) {
  if (a.byteLength !== b.byteLength) {
    throw Object.assign(new RangeError("Input buffers must have the same byte length"), { code: "ERR_CRYPTO_TIMING_SAFE_EQUAL_LENGTH" });
  }
  const x = toBytes(a), y = toBytes(b);
  let diff = 0;
  for (let i = 0; i < x.length; i++) diff |= x[i] ^ y[i];
  return diff === 0;
}

function notSupported(name) {
  return () => {
    throw Object.assign(new Error(`pi-sandbox: crypto.${name} is not available to extensions`), { code: "ERR_NOT_SUPPORTED" });
  };
}
export const createCipheriv = notSupported("createCipheriv");
export const createDecipheriv = notSupported("createDecipheriv");
export const createSign = notSupported("createSign");
export const createVerify = notSupported("createVerify");
export const generateKeyPairSync = notSupported("generateKeyPairSync");
export const scryptSync = notSupported("scryptSync");
export const scrypt = notSupported("scrypt");
export const generateKeyPair = notSupported("generateKeyPair");
export const createPublicKey = notSupported("createPublicKey");
export const createPrivateKey = notSupported("createPrivateKey");
export const sign = notSupported("sign");
export const verify = notSupported("verify");
export const publicEncrypt = notSupported("publicEncrypt");
export const privateDecrypt = notSupported("privateDecrypt");
export const createDiffieHellman = notSupported("createDiffieHellman");
export const createECDH = notSupported("createECDH");
export function getCiphers() { return []; }
export class KeyObject {}
export class X509Certificate { constructor() { notSupported("X509Certificate")(); } }

/** PBKDF2 over the pure-JS HMAC (RFC 8018). */
export function pbkdf2Sync(password, salt, iterations, keylen, digest = "sha1") {
  const key = toBytes(password), saltBytes = toBytes(salt);
  const hLen = createHash(digest).update("").digest().length;
  const out = Buffer.alloc(keylen);
  for (let block = 1, off = 0; off < keylen; block++, off += hLen) {
    const counter = Buffer.from([block >>> 24, (block >>> 16) & 255, (block >>> 8) & 255, block & 255]);
    let u = createHmac(digest, key).update(Buffer.concat([Buffer.from(saltBytes), counter])).digest();
    const t = Buffer.from(u);
    for (let i = 1; i < iterations; i++) {
      u = createHmac(digest, key).update(u).digest();
      for (let j = 0; j < t.length; j++) t[j] ^= u[j];
    }
    t.copy(out, off, 0, Math.min(hLen, keylen - off));
  }
  return out;
}
export function pbkdf2(password, salt, iterations, keylen, digest, cb) {
  queueMicrotask(() => { let r; try { r = pbkdf2Sync(password, salt, iterations, keylen, digest); } catch (err) { cb(err); return; } cb(null, r); });
}
/** HKDF (RFC 5869); returns an ArrayBuffer like Node. */
export function hkdfSync(digest, ikm, salt, info, keylen) {
  const hLen = createHash(digest).update("").digest().length;
  const prk = createHmac(digest, toBytes(salt).length ? toBytes(salt) : Buffer.alloc(hLen)).update(toBytes(ikm)).digest();
  const okm = Buffer.alloc(keylen);
  let prev = Buffer.alloc(0);
  for (let i = 0, off = 0; off < keylen; i++, off += hLen) {
    prev = createHmac(digest, prk).update(Buffer.concat([prev, Buffer.from(toBytes(info)), Buffer.from([i + 1])])).digest();
    prev.copy(okm, off, 0, Math.min(hLen, keylen - off));
  }
  return okm.buffer.slice(okm.byteOffset, okm.byteOffset + okm.byteLength);
}
export function hkdf(digest, ikm, salt, info, keylen, cb) {
  queueMicrotask(() => { let r; try { r = hkdfSync(digest, ikm, salt, info, keylen); } catch (err) { cb(err); return; } cb(null, r); });
}
export function createSecretKey(key) { const k = toBytes(key); return { type: "secret", export: () => Buffer.from(k) }; }

export const subtle = {
  async digest(alg, data) {
    const name = typeof alg === "string" ? alg : alg.name;
    const out = createHash(name).update(toBytes(data)).digest();
    return out.buffer.slice(out.byteOffset, out.byteOffset + out.byteLength);
  },
};
export const webcrypto = { getRandomValues, randomUUID, subtle };
export const constants = {};

export default {
  createHash, createHmac, hash, getHashes, randomBytes, randomFillSync, getRandomValues, randomUUID, randomInt,
  timingSafeEqual, createCipheriv, createDecipheriv, createSign, createVerify, generateKeyPairSync, pbkdf2Sync,
  pbkdf2, hkdfSync, hkdf, scryptSync, scrypt, createSecretKey, subtle, webcrypto, constants, getCiphers,
  generateKeyPair, createPublicKey, createPrivateKey, sign, verify, publicEncrypt, privateDecrypt,
  createDiffieHellman, createECDH, KeyObject, X509Certificate,
};
