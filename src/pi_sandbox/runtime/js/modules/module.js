// node:module — createRequire() returns a require over the served builtins/pi packages (see pi:require).
// JSON and relative files work only when the bundler inlined them; anything else is a clear MODULE_NOT_FOUND.
import { createRequire as makeRequire } from "pi:require";
// createRequire() must answer synchronously, and the engine cannot load a module synchronously, so the served
// builtins are imported up front (only extensions that import `module` pay for it).
import * as assertNs from "assert";
import * as bufferNs from "buffer";
import * as childProcessNs from "child_process";
import * as cryptoNs from "crypto";
import * as eventsNs from "events";
import * as fsNs from "fs";
import * as fsPromisesNs from "fs/promises";
import * as httpNs from "http";
import * as httpsNs from "https";
import * as osNs from "os";
import * as pathNs from "path";
import * as processNs from "process";
import * as querystringNs from "querystring";
import * as readlineNs from "readline";
import * as streamNs from "stream";
import * as stringDecoderNs from "string_decoder";
import * as timersNs from "timers";
import * as urlNs from "url";
import * as utilNs from "util";

const SERVED = {
  assert: assertNs, buffer: bufferNs, child_process: childProcessNs, crypto: cryptoNs, events: eventsNs, fs: fsNs,
  "fs/promises": fsPromisesNs, http: httpNs, https: httpsNs, os: osNs, path: pathNs, process: processNs,
  querystring: querystringNs, readline: readlineNs, stream: streamNs, string_decoder: stringDecoderNs,
  timers: timersNs, url: urlNs, util: utilNs,
};

const BUILTINS = [...Object.keys(SERVED), "module", "perf_hooks"].sort();

export const builtinModules = BUILTINS.slice();
export function isBuiltin(id) { return BUILTINS.includes(String(id).replace(/^node:/, "")); }
function baseDir(from) {
  const s = from instanceof URL ? from.href : String(from);
  const file = s.startsWith("file:") ? decodeURIComponent(new URL(s).pathname) : s;
  return file.endsWith("/") ? file : pathNs.dirname(file);
}

/**
 * require() for an ES module: served builtins by name, and JSON files (relative or absolute, e.g.
 * `require("./package.json")`) read through the fs shim — so through the fs hostcall and its policy.
 * Other files cannot be loaded synchronously and fail with MODULE_NOT_FOUND.
 */
export function createRequire(from) {
  const base = makeRequire(SERVED, from instanceof URL ? from.href : String(from));
  const jsonCache = new Map();
  const req = (id) => {
    const spec = String(id);
    if ((spec.startsWith(".") || spec.startsWith("/")) && spec.endsWith(".json")) {
      const file = pathNs.resolve(baseDir(from), spec);
      if (!jsonCache.has(file)) {
        let text;
        try { text = fsNs.readFileSync(file, "utf8"); } catch (err) {
          throw Object.assign(new Error(`pi-sandbox: cannot require('${spec}'): ${err.message}`), { code: "MODULE_NOT_FOUND", cause: err });
        }
        jsonCache.set(file, JSON.parse(text));
      }
      return jsonCache.get(file);
    }
    return base(spec);
  };
  req.resolve = (id) => {
    const spec = String(id);
    if (spec.startsWith(".") || spec.startsWith("/")) return pathNs.resolve(baseDir(from), spec);
    return base.resolve(spec);
  };
  req.cache = base.cache;
  return req;
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
Module.register = register;
export default Module;
