// Captures every export of every public Node builtin: its kind and, for plain data, its value.
import { builtinModules } from "node:module";
const out = {};
function describe(v) {
  if (typeof v === "function") return /^class\s/.test(Function.prototype.toString.call(v)) || (v.prototype && Object.getOwnPropertyNames(v.prototype).length > 1) ? { kind: "class" } : { kind: "function" };
  if (v === null || ["string", "number", "boolean", "undefined"].includes(typeof v)) return { kind: "value", value: v === undefined ? null : v };
  if (typeof v === "bigint" || typeof v === "symbol") return { kind: "object" };
  try {
    const json = JSON.stringify(v);
    if (json !== undefined && json.length < 20000 && JSON.parse(json) && Object.getPrototypeOf(v) === Object.prototype) return { kind: "value", value: JSON.parse(json) };
  } catch {}
  return { kind: "object" };
}
for (const id of builtinModules) {
  if (id.startsWith("_")) continue;
  let m;
  try { m = await import("node:" + id); } catch { continue; }
  const names = {};
  for (const k of Object.keys(m).sort()) if (k !== "default") names[k] = describe(m[k]);
  out[id] = names;
}
console.log(JSON.stringify({ node: process.version, modules: out }));
