// pi:require — a CommonJS `require` over the modules the runtime serves. The loader builds a table
// {id: namespace} from static imports of the ids a bundle require()s (there is no synchronous module loading in
// the engine), calls registerModules(table) and installs createRequire(table) as the bundle's `require`.
const registry = new Map();

// Node 20's builtinModules (every one is served): require.resolve("os") answers "os" like Node, whether or not
// this bundle required it.
const BUILTINS = new Set(("assert assert/strict async_hooks buffer child_process cluster console constants crypto dgram " +
  "diagnostics_channel dns dns/promises domain events fs fs/promises http http2 https inspector inspector/promises " +
  "module net os path path/posix path/win32 perf_hooks process punycode querystring readline readline/promises repl " +
  "stream stream/consumers stream/promises stream/web string_decoder sys timers timers/promises tls trace_events tty " +
  "url util util/types v8 vm wasi worker_threads zlib").split(" "));

function normalize(id) {
  // "punycode/" (the npm package of a builtin's name, which is what is served for it) is the same module.
  const bare = id.length > 1 && id.endsWith("/") && !id.startsWith(".") ? id.slice(0, -1) : id;
  return bare.startsWith("node:") ? bare.slice(5) : bare;
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

function resolvePath(fromFile, spec) {
  const parts = spec.startsWith("/") ? [] : String(fromFile).split("/").slice(0, -1);
  for (const piece of spec.split("/")) {
    if (piece === "..") parts.pop();
    else if (piece !== "." && piece !== "") parts.push(piece);
  }
  return "/" + parts.filter(Boolean).join("/");
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
    const spec = String(id);
    const key = normalize(spec);
    if (local.has(key) || registry.has(key) || BUILTINS.has(key) || spec.startsWith("node:")) return spec;
    // A file next to the extension (jiti's require.resolve("./prompts/x.md")): the path, computed, not read.
    if (from && (spec.startsWith("./") || spec.startsWith("../") || spec.startsWith("/"))) return resolvePath(from, spec);
    throw notAvailable(spec, from);
  };
  req.cache = {};
  return req;
}

export default { registerModules, createRequire };
