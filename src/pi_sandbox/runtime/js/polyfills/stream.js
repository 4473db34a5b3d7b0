// stream — the npm package `readable-stream` (Node's own streams, published for browsers: Node 18's
// Readable/Writable/Duplex/Transform/PassThrough, pipeline, finished, compose, addAbortSignal and the
// promises API). `Readable.toWeb` / `fromWeb` are bridged to the web streams the globals install.
import Stream from "readable-stream/lib/ours/browser.js";

const { Readable, Writable, Duplex, Transform, PassThrough, pipeline, finished, compose, addAbortSignal,
  destroy, isDisturbed, isErrored, isReadable } = Stream;
const promises = Stream.promises;
if (typeof Readable.fromWeb !== "function") Readable.fromWeb = (webStream, options) => Readable.from(webStream, options);
if (typeof Readable.toWeb !== "function") Readable.toWeb = (readable) => globalThis.ReadableStream.from(readable);
Stream.Stream = Stream;
export const getDefaultHighWaterMark = (objectMode) => (objectMode ? 16 : 64 * 1024);
export const setDefaultHighWaterMark = () => {};
export { Stream, Readable, Writable, Duplex, Transform, PassThrough, pipeline, finished, compose, addAbortSignal,
  destroy, isDisturbed, isErrored, isReadable, promises };
export default Stream;
