// node:zlib — gzip, deflate (zlib format), raw deflate and auto-detecting unzip computed natively in the worker
// (host.zlib: the stdlib's zlib — pure computation on bytes the extension already holds, no hostcall, no
// authority), in every form Node has: `gzipSync`, the callback `gzip(buf, [opts], cb)` (and so
// `util.promisify(gzip)`), the stream classes (`createGzip()`, `new Gunzip()`: Transforms that buffer their
// input and emit the result at the end, so a piped file or an HTTP body works), `crc32`. Errors are Node's
// (`Z_DATA_ERROR` "incorrect header check", `Z_BUF_ERROR` "unexpected end of file"); inflated output is capped by
// `maxOutputLength` and the engine's heap (`ERR_BUFFER_TOO_LARGE`). Brotli has no codec in the worker: its
// functions throw ERR_NOT_SUPPORTED naming the alternative.
import * as host from "pi:host";
import { Buffer } from "buffer";
import { Transform } from "stream";

export const constants = {"Z_NO_FLUSH":0,"Z_PARTIAL_FLUSH":1,"Z_SYNC_FLUSH":2,"Z_FULL_FLUSH":3,"Z_FINISH":4,"Z_BLOCK":5,"Z_OK":0,"Z_STREAM_END":1,"Z_NEED_DICT":2,"Z_ERRNO":-1,"Z_STREAM_ERROR":-2,"Z_DATA_ERROR":-3,"Z_MEM_ERROR":-4,"Z_BUF_ERROR":-5,"Z_VERSION_ERROR":-6,"Z_NO_COMPRESSION":0,"Z_BEST_SPEED":1,"Z_BEST_COMPRESSION":9,"Z_DEFAULT_COMPRESSION":-1,"Z_FILTERED":1,"Z_HUFFMAN_ONLY":2,"Z_RLE":3,"Z_FIXED":4,"Z_DEFAULT_STRATEGY":0,"ZLIB_VERNUM":4880,"DEFLATE":1,"INFLATE":2,"GZIP":3,"GUNZIP":4,"DEFLATERAW":5,"INFLATERAW":6,"UNZIP":7,"BROTLI_DECODE":8,"BROTLI_ENCODE":9,"Z_MIN_WINDOWBITS":8,"Z_MAX_WINDOWBITS":15,"Z_DEFAULT_WINDOWBITS":15,"Z_MIN_CHUNK":64,"Z_MAX_CHUNK":null,"Z_DEFAULT_CHUNK":16384,"Z_MIN_MEMLEVEL":1,"Z_MAX_MEMLEVEL":9,"Z_DEFAULT_MEMLEVEL":8,"Z_MIN_LEVEL":-1,"Z_MAX_LEVEL":9,"Z_DEFAULT_LEVEL":-1,"BROTLI_OPERATION_PROCESS":0,"BROTLI_OPERATION_FLUSH":1,"BROTLI_OPERATION_FINISH":2,"BROTLI_OPERATION_EMIT_METADATA":3,"BROTLI_PARAM_MODE":0,"BROTLI_MODE_GENERIC":0,"BROTLI_MODE_TEXT":1,"BROTLI_MODE_FONT":2,"BROTLI_DEFAULT_MODE":0,"BROTLI_PARAM_QUALITY":1,"BROTLI_MIN_QUALITY":0,"BROTLI_MAX_QUALITY":11,"BROTLI_DEFAULT_QUALITY":11,"BROTLI_PARAM_LGWIN":2,"BROTLI_MIN_WINDOW_BITS":10,"BROTLI_MAX_WINDOW_BITS":24,"BROTLI_LARGE_MAX_WINDOW_BITS":30,"BROTLI_DEFAULT_WINDOW":22,"BROTLI_PARAM_LGBLOCK":3,"BROTLI_MIN_INPUT_BLOCK_BITS":16,"BROTLI_MAX_INPUT_BLOCK_BITS":24,"BROTLI_PARAM_DISABLE_LITERAL_CONTEXT_MODELING":4,"BROTLI_PARAM_SIZE_HINT":5,"BROTLI_PARAM_LARGE_WINDOW":6,"BROTLI_PARAM_NPOSTFIX":7,"BROTLI_PARAM_NDIRECT":8,"BROTLI_DECODER_RESULT_ERROR":0,"BROTLI_DECODER_RESULT_SUCCESS":1,"BROTLI_DECODER_RESULT_NEEDS_MORE_INPUT":2,"BROTLI_DECODER_RESULT_NEEDS_MORE_OUTPUT":3,"BROTLI_DECODER_PARAM_DISABLE_RING_BUFFER_REALLOCATION":0,"BROTLI_DECODER_PARAM_LARGE_WINDOW":1,"BROTLI_DECODER_NO_ERROR":0,"BROTLI_DECODER_SUCCESS":1,"BROTLI_DECODER_NEEDS_MORE_INPUT":2,"BROTLI_DECODER_NEEDS_MORE_OUTPUT":3,"BROTLI_DECODER_ERROR_FORMAT_EXUBERANT_NIBBLE":-1,"BROTLI_DECODER_ERROR_FORMAT_RESERVED":-2,"BROTLI_DECODER_ERROR_FORMAT_EXUBERANT_META_NIBBLE":-3,"BROTLI_DECODER_ERROR_FORMAT_SIMPLE_HUFFMAN_ALPHABET":-4,"BROTLI_DECODER_ERROR_FORMAT_SIMPLE_HUFFMAN_SAME":-5,"BROTLI_DECODER_ERROR_FORMAT_CL_SPACE":-6,"BROTLI_DECODER_ERROR_FORMAT_HUFFMAN_SPACE":-7,"BROTLI_DECODER_ERROR_FORMAT_CONTEXT_MAP_REPEAT":-8,"BROTLI_DECODER_ERROR_FORMAT_BLOCK_LENGTH_1":-9,"BROTLI_DECODER_ERROR_FORMAT_BLOCK_LENGTH_2":-10,"BROTLI_DECODER_ERROR_FORMAT_TRANSFORM":-11,"BROTLI_DECODER_ERROR_FORMAT_DICTIONARY":-12,"BROTLI_DECODER_ERROR_FORMAT_WINDOW_BITS":-13,"BROTLI_DECODER_ERROR_FORMAT_PADDING_1":-14,"BROTLI_DECODER_ERROR_FORMAT_PADDING_2":-15,"BROTLI_DECODER_ERROR_FORMAT_DISTANCE":-16,"BROTLI_DECODER_ERROR_DICTIONARY_NOT_SET":-19,"BROTLI_DECODER_ERROR_INVALID_ARGUMENTS":-20,"BROTLI_DECODER_ERROR_ALLOC_CONTEXT_MODES":-21,"BROTLI_DECODER_ERROR_ALLOC_TREE_GROUPS":-22,"BROTLI_DECODER_ERROR_ALLOC_CONTEXT_MAP":-25,"BROTLI_DECODER_ERROR_ALLOC_RING_BUFFER_1":-26,"BROTLI_DECODER_ERROR_ALLOC_RING_BUFFER_2":-27,"BROTLI_DECODER_ERROR_ALLOC_BLOCK_TYPE_TREES":-30,"BROTLI_DECODER_ERROR_UNREACHABLE":-31};

export const codes = { Z_OK: 0, Z_STREAM_END: 1, Z_NEED_DICT: 2, Z_ERRNO: -1, Z_STREAM_ERROR: -2, Z_DATA_ERROR: -3,
  Z_MEM_ERROR: -4, Z_BUF_ERROR: -5, Z_VERSION_ERROR: -6 };
for (const [name, value] of Object.entries(codes)) codes[value] = name;

function toBytes(data, name) {
  if (typeof data === "string") return Buffer.from(data, "utf8");
  if (data instanceof ArrayBuffer) return Buffer.from(data);
  if (ArrayBuffer.isView(data)) return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  throw Object.assign(new TypeError(`The "buffer" argument must be of type string or an instance of Buffer, TypedArray, DataView, or ArrayBuffer. Received ${data === null ? "null" : typeof data}`), { code: "ERR_INVALID_ARG_TYPE", fn: name });
}

function run(op, data, options) {
  if (typeof host.zlib !== "function") {
    throw Object.assign(new Error(`pi-sandbox: zlib.${op} needs the worker's native zlib`), { code: "ERR_NOT_SUPPORTED" });
  }
  const o = options || {};
  const opts = {};
  for (const key of ["level", "memLevel", "strategy", "windowBits", "maxOutputLength"]) {
    if (o[key] !== undefined) opts[key] = Number(o[key]);
  }
  if (opts.windowBits === 0) delete opts.windowBits;  // Node: 0 means "from the header" when inflating
  const out = host.zlib(op, toBytes(data, op), opts);
  return Buffer.from(out.buffer, out.byteOffset, out.byteLength);
}

function syncForm(op) {
  return { [op + "Sync"](buffer, options) { return run(op, buffer, options); } }[op + "Sync"];
}

function callbackForm(op) {
  return {
    [op](buffer, options, callback) {
      if (typeof options === "function") { callback = options; options = {}; }
      if (typeof callback !== "function") {
        throw Object.assign(new TypeError('The "callback" argument must be of type function'), { code: "ERR_INVALID_ARG_TYPE" });
      }
      let result, error = null;
      try { result = run(op, buffer, options); } catch (err) { error = err; }
      // Node answers asynchronously, never inside the call.
      queueMicrotask(() => (error ? callback(error) : callback(null, result)));
    },
  }[op];
}

/** A zlib stream: collects what is written and emits the (de)compressed bytes when the writer ends. */
class ZlibBase extends Transform {
  constructor(op, options) {
    super(options);
    this._op = op;
    this._zopts = options || {};
    this._chunks = [];
    this.bytesWritten = 0;
  }
  _transform(chunk, encoding, callback) {
    const bytes = typeof chunk === "string" ? Buffer.from(chunk, encoding) : chunk;
    this._chunks.push(bytes);
    this.bytesWritten += bytes.length;
    callback();
  }
  _flush(callback) {
    let out;
    try { out = run(this._op, Buffer.concat(this._chunks), this._zopts); } catch (err) { callback(err); return; }
    this._chunks = [];
    if (out.length) this.push(out);
    callback();
  }
  flush(kind, callback) { if (typeof kind === "function") callback = kind; if (callback) queueMicrotask(callback); }
  params(level, strategy, callback) { this._zopts = { ...this._zopts, level, strategy }; if (callback) queueMicrotask(callback); }
  reset() { this._chunks = []; }
  close(callback) { if (callback) this.once("close", callback); this.destroy(); }
}

function streamClass(name, op) {
  const cls = {
    [name]: class extends ZlibBase {
      constructor(options) { super(op, options); }
    },
  }[name];
  // Node's classes are also callable without new (zlib.Gzip(opts)).
  return new Proxy(cls, { apply: (target, _this, args) => new target(...args) });
}

export const Gzip = streamClass("Gzip", "gzip");
export const Gunzip = streamClass("Gunzip", "gunzip");
export const Deflate = streamClass("Deflate", "deflate");
export const Inflate = streamClass("Inflate", "inflate");
export const DeflateRaw = streamClass("DeflateRaw", "deflateRaw");
export const InflateRaw = streamClass("InflateRaw", "inflateRaw");
export const Unzip = streamClass("Unzip", "unzip");

export const gzipSync = syncForm("gzip"), gunzipSync = syncForm("gunzip"), deflateSync = syncForm("deflate"),
  inflateSync = syncForm("inflate"), deflateRawSync = syncForm("deflateRaw"), inflateRawSync = syncForm("inflateRaw"),
  unzipSync = syncForm("unzip");
export const gzip = callbackForm("gzip"), gunzip = callbackForm("gunzip"), deflate = callbackForm("deflate"),
  inflate = callbackForm("inflate"), deflateRaw = callbackForm("deflateRaw"), inflateRaw = callbackForm("inflateRaw"),
  unzip = callbackForm("unzip");
export const createGzip = (o) => new Gzip(o), createGunzip = (o) => new Gunzip(o), createDeflate = (o) => new Deflate(o),
  createInflate = (o) => new Inflate(o), createDeflateRaw = (o) => new DeflateRaw(o),
  createInflateRaw = (o) => new InflateRaw(o), createUnzip = (o) => new Unzip(o);

/** CRC-32 of the data (Node 22's zlib.crc32), continuing from `value`. */
export function crc32(data, value = 0) {
  const out = host.zlib("crc32", toBytes(data, "crc32"), { value: Number(value) >>> 0 });
  return ((out[0] << 24) | (out[1] << 16) | (out[2] << 8) | out[3]) >>> 0;
}

function brotli(name) {
  const fn = function () {
    throw Object.assign(new Error(`pi-sandbox: zlib.${name} is not available to extensions: the sandbox has no brotli codec (gzip and deflate work)`), { code: "ERR_NOT_SUPPORTED" });
  };
  Object.defineProperty(fn, "name", { value: name });
  return fn;
}
// Node 22.15's zstd (undici 8 binds createZstdDecompress at load; pi 1.x runs on Node 22): no codec either.
function zstd(name) {
  const fn = function () {
    throw Object.assign(new Error(`pi-sandbox: zlib.${name} is not available to extensions: the sandbox has no zstd codec (gzip and deflate work)`), { code: "ERR_NOT_SUPPORTED" });
  };
  Object.defineProperty(fn, "name", { value: name });
  return fn;
}
export const zstdCompress = zstd("zstdCompress"), zstdCompressSync = zstd("zstdCompressSync"),
  zstdDecompress = zstd("zstdDecompress"), zstdDecompressSync = zstd("zstdDecompressSync"),
  createZstdCompress = zstd("createZstdCompress"), createZstdDecompress = zstd("createZstdDecompress");
export const ZstdCompress = class ZstdCompress { constructor() { zstd("ZstdCompress")(); } };
export const ZstdDecompress = class ZstdDecompress { constructor() { zstd("ZstdDecompress")(); } };

export const brotliCompress = brotli("brotliCompress"), brotliCompressSync = brotli("brotliCompressSync"),
  brotliDecompress = brotli("brotliDecompress"), brotliDecompressSync = brotli("brotliDecompressSync"),
  createBrotliCompress = brotli("createBrotliCompress"), createBrotliDecompress = brotli("createBrotliDecompress");

export default {
  constants, codes, crc32, Gzip, Gunzip, Deflate, Inflate, DeflateRaw, InflateRaw, Unzip,
  gzipSync, gunzipSync, deflateSync, inflateSync, deflateRawSync, inflateRawSync, unzipSync,
  gzip, gunzip, deflate, inflate, deflateRaw, inflateRaw, unzip,
  createGzip, createGunzip, createDeflate, createInflate, createDeflateRaw, createInflateRaw, createUnzip,
  brotliCompress, brotliCompressSync, brotliDecompress, brotliDecompressSync, createBrotliCompress, createBrotliDecompress,
  zstdCompress, zstdCompressSync, zstdDecompress, zstdDecompressSync, createZstdCompress, createZstdDecompress,
  ZstdCompress, ZstdDecompress,
};
