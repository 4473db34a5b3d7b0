// node:crypto — pure-JS MD5, SHA-1, SHA-224/256, SHA-384/512 and HMAC; randomness from host.randomBytes
// (os.urandom in the worker) when the bridge provides it. There is no crypto hostcall: hashing is pure
// computation and needs no authority. Ciphers/keys/signing are not provided (clear ERR_NOT_SUPPORTED).
import * as host from "pi:host";
import { Buffer } from "buffer";

const enc = new TextEncoder();

function toBytes(data, inputEncoding) {
  if (typeof data === "string") return Buffer.from(data, inputEncoding || "utf8");
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  throw Object.assign(new TypeError('The "data" argument must be of type string or an instance of Buffer, TypedArray, or DataView.'),
    { code: "ERR_INVALID_ARG_TYPE" });
}

// ---- Merkle–Damgård padding shared by all four families -------------------------------------------
function pad(bytes, blockSize, lenBytes, littleEndian) {
  const bitLen = bytes.length * 8;
  const total = Math.ceil((bytes.length + 1 + lenBytes) / blockSize) * blockSize;
  const out = new Uint8Array(total);
  out.set(bytes);
  out[bytes.length] = 0x80;
  const view = new DataView(out.buffer);
  const hi = Math.floor(bitLen / 2 ** 32);
  const lo = bitLen >>> 0;
  if (littleEndian) { view.setUint32(total - 8, lo, true); view.setUint32(total - 4, hi, true); }
  else { view.setUint32(total - 8, hi, false); view.setUint32(total - 4, lo, false); }
  return view;
}

const rotl = (x, n) => (x << n) | (x >>> (32 - n));
const rotr = (x, n) => (x >>> n) | (x << (32 - n));

function md5(bytes) {
  const K = new Int32Array(64);
  for (let i = 0; i < 64; i++) K[i] = Math.floor(Math.abs(Math.sin(i + 1)) * 2 ** 32) | 0;
  const S = [7, 12, 17, 22, 5, 9, 14, 20, 4, 11, 16, 23, 6, 10, 15, 21];
  const v = pad(bytes, 64, 8, true);
  let a0 = 0x67452301, b0 = 0xefcdab89 | 0, c0 = 0x98badcfe | 0, d0 = 0x10325476;
  const M = new Int32Array(16);
  for (let off = 0; off < v.byteLength; off += 64) {
    for (let i = 0; i < 16; i++) M[i] = v.getInt32(off + i * 4, true);
    let a = a0, b = b0, c = c0, d = d0;
    for (let i = 0; i < 64; i++) {
      let f, g;
      const r = i >> 4;
      if (r === 0) { f = (b & c) | (~b & d); g = i; }
      else if (r === 1) { f = (d & b) | (~d & c); g = (5 * i + 1) & 15; }
      else if (r === 2) { f = b ^ c ^ d; g = (3 * i + 5) & 15; }
      else { f = c ^ (b | ~d); g = (7 * i) & 15; }
      const tmp = d;
      d = c;
      c = b;
      b = (b + rotl((a + f + K[i] + M[g]) | 0, S[r * 4 + (i & 3)])) | 0;
      a = tmp;
    }
    a0 = (a0 + a) | 0; b0 = (b0 + b) | 0; c0 = (c0 + c) | 0; d0 = (d0 + d) | 0;
  }
  const out = new DataView(new ArrayBuffer(16));
  [a0, b0, c0, d0].forEach((x, i) => out.setInt32(i * 4, x, true));
  return new Uint8Array(out.buffer);
}

function sha1(bytes) {
  const v = pad(bytes, 64, 8, false);
  const H = [0x67452301, 0xefcdab89 | 0, 0x98badcfe | 0, 0x10325476, 0xc3d2e1f0 | 0];
  const W = new Int32Array(80);
  for (let off = 0; off < v.byteLength; off += 64) {
    for (let i = 0; i < 16; i++) W[i] = v.getInt32(off + i * 4, false);
    for (let i = 16; i < 80; i++) W[i] = rotl(W[i - 3] ^ W[i - 8] ^ W[i - 14] ^ W[i - 16], 1);
    let [a, b, c, d, e] = H;
    for (let i = 0; i < 80; i++) {
      let f, k;
      if (i < 20) { f = (b & c) | (~b & d); k = 0x5a827999; }
      else if (i < 40) { f = b ^ c ^ d; k = 0x6ed9eba1; }
      else if (i < 60) { f = (b & c) | (b & d) | (c & d); k = 0x8f1bbcdc | 0; }
      else { f = b ^ c ^ d; k = 0xca62c1d6 | 0; }
      const t = (rotl(a, 5) + f + e + k + W[i]) | 0;
      e = d; d = c; c = rotl(b, 30); b = a; a = t;
    }
    H[0] = (H[0] + a) | 0; H[1] = (H[1] + b) | 0; H[2] = (H[2] + c) | 0; H[3] = (H[3] + d) | 0; H[4] = (H[4] + e) | 0;
  }
  return words32(H);
}

function words32(H) {
  const out = new DataView(new ArrayBuffer(H.length * 4));
  H.forEach((x, i) => out.setInt32(i * 4, x, false));
  return new Uint8Array(out.buffer);
}

const K256 = new Int32Array(64);
{
  // First 32 bits of the fractional parts of the cube roots of the first 64 primes.
  const primes = [];
  for (let n = 2; primes.length < 80; n++) if (primes.every((p) => n % p)) primes.push(n);
  for (let i = 0; i < 64; i++) K256[i] = Math.floor((Math.cbrt(primes[i]) % 1) * 2 ** 32) | 0;
}

function sha256(bytes, is224) {
  // Local variables and direct byte reads: array destructuring and DataView calls per block dominate in QuickJS.
  const v = pad(bytes, 64, 8, false);
  const m = new Uint8Array(v.buffer);
  const iv = is224
    ? [0xc1059ed8, 0x367cd507, 0x3070dd17, 0xf70e5939, 0xffc00b31, 0x68581511, 0x64f98fa7, 0xbefa4fa4]
    : [0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19];
  let h0 = iv[0] | 0, h1 = iv[1] | 0, h2 = iv[2] | 0, h3 = iv[3] | 0, h4 = iv[4] | 0, h5 = iv[5] | 0, h6 = iv[6] | 0, h7 = iv[7] | 0;
  const W = new Int32Array(64);
  const K = K256;
  for (let off = 0; off < m.length; off += 64) {
    for (let i = 0; i < 16; i++) {
      const j = off + i * 4;
      W[i] = (m[j] << 24) | (m[j + 1] << 16) | (m[j + 2] << 8) | m[j + 3];
    }
    for (let i = 16; i < 64; i++) {
      const x = W[i - 15], y = W[i - 2];
      const s0 = ((x >>> 7) | (x << 25)) ^ ((x >>> 18) | (x << 14)) ^ (x >>> 3);
      const s1 = ((y >>> 17) | (y << 15)) ^ ((y >>> 19) | (y << 13)) ^ (y >>> 10);
      W[i] = (W[i - 16] + s0 + W[i - 7] + s1) | 0;
    }
    let a = h0, b = h1, c = h2, d = h3, e = h4, f = h5, g = h6, h = h7;
    for (let i = 0; i < 64; i++) {
      const S1 = ((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7));
      const t1 = (h + S1 + ((e & f) ^ (~e & g)) + K[i] + W[i]) | 0;
      const S0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10));
      const t2 = (S0 + ((a & b) ^ (a & c) ^ (b & c))) | 0;
      h = g; g = f; f = e; e = (d + t1) | 0; d = c; c = b; b = a; a = (t1 + t2) | 0;
    }
    h0 = (h0 + a) | 0; h1 = (h1 + b) | 0; h2 = (h2 + c) | 0; h3 = (h3 + d) | 0;
    h4 = (h4 + e) | 0; h5 = (h5 + f) | 0; h6 = (h6 + g) | 0; h7 = (h7 + h) | 0;
  }
  const H = [h0, h1, h2, h3, h4, h5, h6, h7];
  return words32(is224 ? H.slice(0, 7) : H);
}

// SHA-512 on BigInt words: simple and correct; extension hashing volumes are small.
const MASK64 = (1n << 64n) - 1n;
const K512 = [
  "428a2f98d728ae22", "7137449123ef65cd", "b5c0fbcfec4d3b2f", "e9b5dba58189dbbc", "3956c25bf348b538", "59f111f1b605d019",
  "923f82a4af194f9b", "ab1c5ed5da6d8118", "d807aa98a3030242", "12835b0145706fbe", "243185be4ee4b28c", "550c7dc3d5ffb4e2",
  "72be5d74f27b896f", "80deb1fe3b1696b1", "9bdc06a725c71235", "c19bf174cf692694", "e49b69c19ef14ad2", "efbe4786384f25e3",
  "0fc19dc68b8cd5b5", "240ca1cc77ac9c65", "2de92c6f592b0275", "4a7484aa6ea6e483", "5cb0a9dcbd41fbd4", "76f988da831153b5",
  "983e5152ee66dfab", "a831c66d2db43210", "b00327c898fb213f", "bf597fc7beef0ee4", "c6e00bf33da88fc2", "d5a79147930aa725",
  "06ca6351e003826f", "142929670a0e6e70", "27b70a8546d22ffc", "2e1b21385c26c926", "4d2c6dfc5ac42aed", "53380d139d95b3df",
  "650a73548baf63de", "766a0abb3c77b2a8", "81c2c92e47edaee6", "92722c851482353b", "a2bfe8a14cf10364", "a81a664bbc423001",
  "c24b8b70d0f89791", "c76c51a30654be30", "d192e819d6ef5218", "d69906245565a910", "f40e35855771202a", "106aa07032bbd1b8",
  "19a4c116b8d2d0c8", "1e376c085141ab53", "2748774cdf8eeb99", "34b0bcb5e19b48a8", "391c0cb3c5c95a63", "4ed8aa4ae3418acb",
  "5b9cca4f7763e373", "682e6ff3d6b2b8a3", "748f82ee5defb2fc", "78a5636f43172f60", "84c87814a1f0ab72", "8cc702081a6439ec",
  "90befffa23631e28", "a4506cebde82bde9", "bef9a3f7b2c67915", "c67178f2e372532b", "ca273eceea26619c", "d186b8c721c0c207",
  "eada7dd6cde0eb1e", "f57d4f7fee6ed178", "06f067aa72176fba", "0a637dc5a2c898a6", "113f9804bef90dae", "1b710b35131c471b",
  "28db77f523047d84", "32caab7b40c72493", "3c9ebe0a15c9bebc", "431d67c49c100d4c", "4cc5d4becb3e42b6", "597f299cfc657e2a",
  "5fcb6fab3ad6faec", "6c44198c4a475817",
].map((h) => BigInt("0x" + h));
const IV512 = ["6a09e667f3bcc908", "bb67ae8584caa73b", "3c6ef372fe94f82b", "a54ff53a5f1d36f1",
  "510e527fade682d1", "9b05688c2b3e6c1f", "1f83d9abfb41bd6b", "5be0cd19137e2179"].map((h) => BigInt("0x" + h));
const IV384 = ["cbbb9d5dc1059ed8", "629a292a367cd507", "9159015a3070dd17", "152fecd8f70e5939",
  "67332667ffc00b31", "8eb44a8768581511", "db0c2e0d64f98fa7", "47b5481dbefa4fa4"].map((h) => BigInt("0x" + h));
const rotr64 = (x, n) => ((x >> n) | (x << (64n - n))) & MASK64;

function sha512(bytes, is384) {
  const v = pad(bytes, 128, 16, false);
  const H = (is384 ? IV384 : IV512).slice();
  const W = new Array(80);
  for (let off = 0; off < v.byteLength; off += 128) {
    for (let i = 0; i < 16; i++) W[i] = v.getBigUint64(off + i * 8, false);
    for (let i = 16; i < 80; i++) {
      const s0 = rotr64(W[i - 15], 1n) ^ rotr64(W[i - 15], 8n) ^ (W[i - 15] >> 7n);
      const s1 = rotr64(W[i - 2], 19n) ^ rotr64(W[i - 2], 61n) ^ (W[i - 2] >> 6n);
      W[i] = (W[i - 16] + s0 + W[i - 7] + s1) & MASK64;
    }
    let [a, b, c, d, e, f, g, h] = H;
    for (let i = 0; i < 80; i++) {
      const t1 = (h + (rotr64(e, 14n) ^ rotr64(e, 18n) ^ rotr64(e, 41n)) + ((e & f) ^ (~e & MASK64 & g)) + K512[i] + W[i]) & MASK64;
      const t2 = ((rotr64(a, 28n) ^ rotr64(a, 34n) ^ rotr64(a, 39n)) + ((a & b) ^ (a & c) ^ (b & c))) & MASK64;
      h = g; g = f; f = e; e = (d + t1) & MASK64; d = c; c = b; b = a; a = (t1 + t2) & MASK64;
    }
    [a, b, c, d, e, f, g, h].forEach((x, i) => { H[i] = (H[i] + x) & MASK64; });
  }
  const words = is384 ? H.slice(0, 6) : H;
  const out = new DataView(new ArrayBuffer(words.length * 8));
  words.forEach((x, i) => out.setBigUint64(i * 8, x, false));
  return new Uint8Array(out.buffer);
}

/** Worker-local native hashing (hashlib) when the bridge offers it; the pure-JS code is the fallback. */
function nativeDigest(name, bytes) {
  if (typeof host.digest !== "function") return null;
  try { return host.digest(name, bytes); } catch { return null; }
}

const ALGORITHMS = {
  md5: { fn: md5, block: 64 }, sha1: { fn: sha1, block: 64 },
  sha224: { fn: (b) => sha256(b, true), block: 64 }, sha256: { fn: (b) => sha256(b, false), block: 64 },
  sha384: { fn: (b) => sha512(b, true), block: 128 }, sha512: { fn: (b) => sha512(b, false), block: 128 },
};

function algorithm(name) {
  const key = String(name).toLowerCase().replace(/-/g, "");
  const alg = ALGORITHMS[key];
  if (!alg) throw Object.assign(new Error(`Digest method not supported: ${name}`), { code: "ERR_CRYPTO_INVALID_DIGEST" });
  return { ...alg, name: key };
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
    const data = Buffer.concat(this._chunks);
    return nativeDigest(this._alg.name, data) || this._alg.fn(data);
  }
  digest(encoding) { return output(this._final(), encoding); }
  copy() { const h = new Hash(this._name); h._chunks = this._chunks.slice(); return h; }
}

class Hmac {
  constructor(name, key) {
    this._alg = algorithm(name);
    let k = key && key.export ? key.export() : toBytes(key);
    if (k.length > this._alg.block) k = nativeDigest(this._alg.name, k) || this._alg.fn(k);
    this._key = new Uint8Array(this._alg.block);
    this._key.set(k);
    this._chunks = [];
  }
  update(data, inputEncoding) { this._chunks.push(Buffer.from(toBytes(data, inputEncoding))); return this; }
  digest(encoding) {
    const ipad = this._key.map((b) => b ^ 0x36);
    const opad = this._key.map((b) => b ^ 0x5c);
    const h = (data) => nativeDigest(this._alg.name, data) || this._alg.fn(data);
    const inner = h(Buffer.concat([Buffer.from(ipad), ...this._chunks]));
    return output(h(Buffer.concat([Buffer.from(opad), Buffer.from(inner)])), encoding);
  }
}

export function createHash(name) { return new Hash(name); }
export function createHmac(name, key) { return new Hmac(name, key); }
export function hash(name, data, encoding = "hex") { return createHash(name).update(data).digest(encoding); }
export function getHashes() { return Object.keys(ALGORITHMS); }

/** Fill `n` bytes: host.randomBytes (os.urandom) when available, else Math.random (NOT secure; see REQUESTS). */
function entropy(n) {
  if (typeof host.randomBytes === "function") {
    const out = new Uint8Array(n);
    for (let off = 0; off < n; off += 65536) out.set(host.randomBytes(Math.min(65536, n - off)), off);
    return out;
  }
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.floor(Math.random() * 256);
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
