// node:vm — loads for every extension. Code run with `runInThisContext` / `Script#runInThisContext` /
// `compileFunction` is evaluated in the extension's own realm (the same power as `eval` / `new Function`, which
// the extension has anyway: its worker is the boundary). Separate contexts (`createContext`, `runInNewContext`,
// `runInContext`, modules) would need a second realm the engine does not give; pretending with a scope trick
// would leak this realm's globals to code that expects isolation, so those throw ERR_NOT_SUPPORTED at use.
import { notSupported } from "pi:effects";

const globalEval = eval; // an indirect eval: global scope, never the caller's locals
const noContexts = (what) => notSupported(`vm.${what}`, "no separate JavaScript realm is available; the code would share the extension's globals");

export function runInThisContext(code) {
  return globalEval(String(code));
}

export class Script {
  constructor(code, options = {}) {
    this.code = String(code);
    this.filename = typeof options === "string" ? options : options.filename;
    // Compile now so a syntax error is thrown by the constructor, as in Node.
    new Function(`return () => {\n${this.code}\n}`);
  }
  runInThisContext() { return globalEval(this.code); }
  runInContext() { throw noContexts("Script.runInContext"); }
  runInNewContext() { throw noContexts("Script.runInNewContext"); }
  createCachedData() { return new Uint8Array(0); }
}

export function compileFunction(code, params = [], options = {}) {
  if (options.parsingContext || options.contextExtensions) throw noContexts("compileFunction with a context");
  return new Function(...params.map(String), String(code));
}

export function createContext() { throw noContexts("createContext"); }
export function isContext() { return false; }
export function runInContext() { throw noContexts("runInContext"); }
export function runInNewContext() { throw noContexts("runInNewContext"); }
export function measureMemory() { return Promise.reject(noContexts("measureMemory")); }
export class SourceTextModule { constructor() { throw noContexts("SourceTextModule"); } }
export class SyntheticModule { constructor() { throw noContexts("SyntheticModule"); } }
export const constants = { USE_MAIN_CONTEXT_DEFAULT_LOADER: Symbol("vm_dynamic_import_main_context_default"),
  DONT_CONTEXTIFY: Symbol("vm_context_no_contextify") };

export default { runInThisContext, Script, compileFunction, createContext, isContext, runInContext, runInNewContext,
  measureMemory, SourceTextModule, SyntheticModule, constants };
