// node:v8 — loads for every extension. Heap statistics are zeros (the worker cannot see its host's accounting);
// `serialize`/`deserialize` round-trip structured-cloneable values through JSON with type tags (not V8's wire
// format, which nothing outside this realm reads); engine flags and heap snapshots throw ERR_NOT_SUPPORTED.
import { Buffer } from "buffer";
import { notSupported } from "pi:effects";

const zeros = (keys) => Object.fromEntries(keys.map((k) => [k, 0]));
export function getHeapStatistics() {
  return zeros(["total_heap_size", "total_heap_size_executable", "total_physical_size", "total_available_size",
    "used_heap_size", "heap_size_limit", "malloced_memory", "peak_malloced_memory", "does_zap_garbage",
    "number_of_native_contexts", "number_of_detached_contexts", "total_global_handles_size", "used_global_handles_size",
    "external_memory"]);
}
export function getHeapSpaceStatistics() { return []; }
export function getHeapCodeStatistics() { return zeros(["code_and_metadata_size", "bytecode_and_metadata_size", "external_script_source_size", "cpu_profiler_metadata_size"]); }
export function cachedDataVersionTag() { return 0; }

const TAG = "__pi_v8__";
function encode(value) {
  return JSON.stringify(value, function (key, v) {
    const raw = this[key];
    if (raw instanceof Date) return { [TAG]: "Date", v: raw.getTime() };
    if (raw instanceof Map) return { [TAG]: "Map", v: [...raw] };
    if (raw instanceof Set) return { [TAG]: "Set", v: [...raw] };
    if (typeof raw === "bigint") return { [TAG]: "BigInt", v: String(raw) };
    if (ArrayBuffer.isView(raw)) return { [TAG]: raw.constructor.name, v: Array.from(new Uint8Array(raw.buffer, raw.byteOffset, raw.byteLength)) };
    if (raw === undefined) return { [TAG]: "undefined" };
    return v;
  });
}
function decode(text) {
  return JSON.parse(text, (_key, v) => {
    if (!v || typeof v !== "object" || !(TAG in v)) return v;
    switch (v[TAG]) {
      case "Date": return new Date(v.v);
      case "Map": return new Map(v.v);
      case "Set": return new Set(v.v);
      case "BigInt": return BigInt(v.v);
      case "undefined": return undefined;
      case "Buffer": return Buffer.from(v.v);
      default: {
        const Ctor = globalThis[v[TAG]];
        const bytes = new Uint8Array(v.v);
        return typeof Ctor === "function" ? new Ctor(bytes.buffer, 0, bytes.byteLength / (Ctor.BYTES_PER_ELEMENT || 1)) : bytes;
      }
    }
  });
}
export function serialize(value) { return Buffer.from(encode(value), "utf8"); }
export function deserialize(buffer) { return decode(Buffer.from(buffer).toString("utf8")); }
export function setFlagsFromString() { throw notSupported("v8.setFlagsFromString", "engine flags belong to the sandbox"); }
export function writeHeapSnapshot() { throw notSupported("v8.writeHeapSnapshot", "no heap snapshots"); }
export function getHeapSnapshot() { throw notSupported("v8.getHeapSnapshot", "no heap snapshots"); }
export function takeCoverage() {}
export function stopCoverage() {}
export function setHeapSnapshotNearHeapLimit() {}
export function isStringOneByteRepresentation(s) { return /^[\x00-\xff]*$/.test(String(s)); }
export const startupSnapshot = { isBuildingSnapshot: () => false, addSerializeCallback() {}, addDeserializeCallback() {}, setDeserializeMainFunction() {} };
export class Serializer { constructor() { this._parts = []; } writeHeader() {} writeValue(v) { this._parts.push(v); return true; } releaseBuffer() { return serialize(this._parts.length === 1 ? this._parts[0] : this._parts); } }
export class Deserializer { constructor(buffer) { this._value = deserialize(buffer); } readHeader() { return true; } readValue() { return this._value; } }
export { Serializer as DefaultSerializer, Deserializer as DefaultDeserializer };

export default { getHeapStatistics, getHeapSpaceStatistics, getHeapCodeStatistics, cachedDataVersionTag, serialize,
  deserialize, setFlagsFromString, writeHeapSnapshot, getHeapSnapshot, takeCoverage, stopCoverage,
  setHeapSnapshotNearHeapLimit, isStringOneByteRepresentation, startupSnapshot, Serializer, Deserializer,
  DefaultSerializer: Serializer, DefaultDeserializer: Deserializer };
