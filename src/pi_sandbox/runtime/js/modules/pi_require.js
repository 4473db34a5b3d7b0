// pi:require — a CommonJS `require` over the modules the runtime serves. The loader builds a table
// {id: namespace} from static imports of the ids a bundle require()s (there is no synchronous module loading in
// the engine), calls registerModules(table) and installs createRequire(table) as the bundle's `require`.
const registry = new Map();

function normalize(id) {
  return id.startsWith("node:") ? id.slice(5) : id;
}

/** Make namespaces reachable by `require` and `module.createRequire`. */
export function registerModules(table) {
  for (const [id, ns] of Object.entries(table)) registry.set(normalize(id), ns);
}

function cjsValue(id, ns) {
  // Node builtins: require("fs") returns the module object, which is each shim's default export. Packages served
  // as ES modules (pi packages, TypeBox) behave like Node's require(esm): the namespace object.
  if (id.startsWith("@") || id === "typebox" || id.startsWith("typebox/")) return ns;
  return ns && ns.default !== undefined ? ns.default : ns;
}

function notAvailable(id, from) {
  const rel = id.startsWith(".") || id.startsWith("/");
  const why = rel
    ? `relative/absolute files can only be loaded when the bundler included them (required from ${from || "the bundle"})`
    : "it is not served by the pi-sandbox runtime and was not bundled with the extension";
  const err = new Error(`pi-sandbox: cannot require('${id}'): ${why}`);
  err.code = "MODULE_NOT_FOUND";
  return err;
}

/** A require function; `table` entries take precedence over the global registry. */
export function createRequire(table = {}, from) {
  const local = new Map(Object.entries(table).map(([k, v]) => [normalize(k), v]));
  const req = (id) => {
    const key = normalize(String(id));
    if (local.has(key)) return cjsValue(key, local.get(key));
    if (registry.has(key)) return cjsValue(key, registry.get(key));
    throw notAvailable(String(id), from);
  };
  req.resolve = (id) => {
    const key = normalize(String(id));
    if (local.has(key) || registry.has(key)) return String(id);
    throw notAvailable(String(id), from);
  };
  req.cache = {};
  return req;
}

export default { registerModules, createRequire };
