// pi:typebox-unsafe — teaches TypeBox's Value.Check about `Type.Unsafe(...)` schemas (Kind "Unsafe").
// pi's StringEnum, and the many extensions that define their own, build `Type.Unsafe({type:"string", enum})`;
// stock TypeBox throws "Unknown type" when checking those. Upstream pi validates tool arguments as plain JSON
// Schema, so a JSON-Schema subset check here (type, enum, const, anyOf/oneOf, properties/required, items)
// gives the same verdicts. Importing this module registers the checker once (shared TypeRegistry).
import { TypeRegistry } from "@sinclair/typebox";

function typeOk(type, v) {
  switch (type) {
    case "string": return typeof v === "string";
    case "number": return typeof v === "number" && Number.isFinite(v);
    case "integer": return Number.isInteger(v);
    case "boolean": return typeof v === "boolean";
    case "null": return v === null;
    case "array": return Array.isArray(v);
    case "object": return typeof v === "object" && v !== null && !Array.isArray(v);
    default: return true;
  }
}

export function checkJsonSchema(schema, v) {
  if (!schema || typeof schema !== "object") return true;
  if (schema.type !== undefined) {
    const types = Array.isArray(schema.type) ? schema.type : [schema.type];
    if (!types.some((t) => typeOk(t, v))) return false;
  }
  if (Array.isArray(schema.enum) && !schema.enum.some((e) => e === v)) return false;
  if ("const" in schema && schema.const !== v) return false;
  if (Array.isArray(schema.anyOf) && !schema.anyOf.some((s) => checkJsonSchema(s, v))) return false;
  if (Array.isArray(schema.oneOf) && schema.oneOf.filter((s) => checkJsonSchema(s, v)).length !== 1) return false;
  if (typeof v === "string") {
    if (schema.minLength !== undefined && v.length < schema.minLength) return false;
    if (schema.maxLength !== undefined && v.length > schema.maxLength) return false;
  }
  if (typeof v === "number") {
    if (schema.minimum !== undefined && v < schema.minimum) return false;
    if (schema.maximum !== undefined && v > schema.maximum) return false;
  }
  if (Array.isArray(v) && schema.items && !v.every((x) => checkJsonSchema(schema.items, x))) return false;
  if (typeOk("object", v) && schema.properties) {
    for (const k of schema.required || []) if (!(k in v)) return false;
    for (const [k, s] of Object.entries(schema.properties)) if (k in v && !checkJsonSchema(s, v[k])) return false;
  }
  return true;
}

if (!TypeRegistry.Has("Unsafe")) TypeRegistry.Set("Unsafe", (schema, value) => checkJsonSchema(schema, value));

export default { checkJsonSchema };
