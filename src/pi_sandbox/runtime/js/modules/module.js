// node:module — createRequire() returns a require over the served builtins/pi packages (see pi:require).
// JSON and relative files work only when the bundler inlined them; anything else is a clear MODULE_NOT_FOUND.
import { createRequire as makeRequire } from "pi:require";

const BUILTINS = ["assert", "buffer", "child_process", "crypto", "events", "fs", "fs/promises", "http", "https",
  "module", "os", "path", "perf_hooks", "process", "querystring", "readline", "stream", "string_decoder", "timers",
  "url", "util"];

export const builtinModules = BUILTINS.slice();
export function isBuiltin(id) { return BUILTINS.includes(String(id).replace(/^node:/, "")); }
export function createRequire(from) {
  return makeRequire({}, from instanceof URL ? from.href : String(from));
}
export function register() {
  throw Object.assign(new Error("pi-sandbox: module.register (loader hooks) is not available to extensions"), { code: "ERR_NOT_SUPPORTED" });
}
export class Module {
  constructor(id) { this.id = id; this.exports = {}; }
}
Module.createRequire = createRequire;
Module.builtinModules = builtinModules;
Module.isBuiltin = isBuiltin;
export default Module;
