// node:repl — loads for every extension. A REPL needs an interactive terminal the extension does not have:
// `start()` throws ERR_NOT_SUPPORTED at use.
import { notSupported } from "pi:effects";

export function start() { throw notSupported("repl.start", "extensions have no interactive terminal"); }
export class REPLServer { constructor() { throw notSupported("repl.REPLServer", "extensions have no interactive terminal"); } }
export const REPL_MODE_SLOPPY = Symbol("repl-sloppy");
export const REPL_MODE_STRICT = Symbol("repl-strict");
export const builtinModules = [];
export default { start, REPLServer, REPL_MODE_SLOPPY, REPL_MODE_STRICT, builtinModules };
