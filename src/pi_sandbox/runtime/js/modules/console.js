// node:console — the global console (its output is the `log` hostcall, shown to the operator) and a `Console`
// class; a Console over other streams writes to those streams.
import { format } from "util";

const methods = { log: "stdout", info: "stdout", debug: "stdout", dir: "stdout", table: "stdout", trace: "stderr",
  warn: "stderr", error: "stderr" };

export class Console {
  constructor(stdout, stderr) {
    const options = stdout && typeof stdout.write !== "function" ? stdout : { stdout, stderr };
    const out = options.stdout;
    const err = options.stderr || out;
    for (const [name, which] of Object.entries(methods)) {
      const stream = which === "stdout" ? out : err;
      this[name] = (...args) => { stream.write(format(...args) + "\n"); };
    }
    this.assert = (cond, ...args) => { if (!cond) err.write("Assertion failed" + (args.length ? ": " + format(...args) : "") + "\n"); };
    for (const name of ["group", "groupCollapsed", "groupEnd", "time", "timeEnd", "timeLog", "count", "countReset", "clear"]) {
      this[name] = () => {};
    }
  }
}

const con = globalThis.console;
export default con;
export const { log, info, debug, warn, error, dir, table, trace, assert, count, countReset, time, timeLog, timeEnd,
  group, groupCollapsed, groupEnd, clear } = con;
