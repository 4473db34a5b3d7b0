// node:stream/consumers — read a whole Node or web stream (or async iterable) as text, JSON, bytes or a Blob.
import { Buffer } from "buffer";

async function collect(stream) {
  const chunks = [];
  for await (const chunk of stream) chunks.push(typeof chunk === "string" ? Buffer.from(chunk) : Buffer.from(chunk));
  return Buffer.concat(chunks);
}
export async function buffer(stream) { return collect(stream); }
export async function arrayBuffer(stream) { const b = await collect(stream); return b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength); }
export async function text(stream) { return (await collect(stream)).toString("utf8"); }
export async function json(stream) { return JSON.parse(await text(stream)); }
export async function blob(stream) { return new Blob([await collect(stream)]); }
export default { buffer, arrayBuffer, text, json, blob };
