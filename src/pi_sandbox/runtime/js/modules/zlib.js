// node:zlib — no compression codecs in the sandbox. The module links (so an extension that only sometimes
// compresses still loads) and every call fails with a clear ERR_NOT_SUPPORTED.
function notSupported(name) {
  return () => {
    throw Object.assign(new Error(`pi-sandbox: zlib.${name} is not available to extensions`), { code: "ERR_NOT_SUPPORTED" });
  };
}
const NAMES = ["gzip", "gzipSync", "gunzip", "gunzipSync", "deflate", "deflateSync", "inflate", "inflateSync",
  "deflateRaw", "deflateRawSync", "inflateRaw", "inflateRawSync", "unzip", "unzipSync", "brotliCompress",
  "brotliCompressSync", "brotliDecompress", "brotliDecompressSync", "createGzip", "createGunzip", "createDeflate",
  "createInflate", "createBrotliCompress", "createBrotliDecompress", "createUnzip", "crc32"];
const api = Object.fromEntries(NAMES.map((n) => [n, notSupported(n)]));
export const { gzip, gzipSync, gunzip, gunzipSync, deflate, deflateSync, inflate, inflateSync, deflateRaw, deflateRawSync,
  inflateRaw, inflateRawSync, unzip, unzipSync, brotliCompress, brotliCompressSync, brotliDecompress,
  brotliDecompressSync, createGzip, createGunzip, createDeflate, createInflate, createBrotliCompress,
  createBrotliDecompress, createUnzip, crc32 } = api;
export const constants = { Z_NO_FLUSH: 0, Z_SYNC_FLUSH: 2, Z_FINISH: 4, Z_BEST_COMPRESSION: 9, Z_DEFAULT_COMPRESSION: -1 };
export default { ...api, constants };
