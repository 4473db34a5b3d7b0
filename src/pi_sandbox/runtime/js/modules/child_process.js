// node:child_process — every form becomes the `exec` hostcall {cmd, args, cwd?, timeout_ms?, stdin?} ->
// {stdout, stderr, exit_code, killed}. A shell string (exec/execSync, or {shell: true}) becomes
// {cmd: "sh", args: ["-c", str]} so the supervisor's exec mediation sees and classifies the real command.
// The supervisor decides (exec capability, mediation); a denial surfaces as an EACCES error / 'error' event.
// Not supported: fork (no node), per-call `env` (the supervisor builds the child environment through the
// secret broker; passing env from an extension is ignored), interactive stdin (stdin is sent when it ends).
import * as host from "pi:host";
import { Buffer } from "buffer";
import { EventEmitter } from "events";
import { Readable, Writable } from "stream";
import { promisify } from "util";

let fakePid = 30000;

function spawnError(err, file, syscall) {
  if (!err || err.name !== "HostcallError") return err;
  const codes = `${err.code} ${err.reason || ""}`;
  const denied = /deni|forbid|policy|block|kill|quarant|quota|trust|mediat/i.test(codes);
  const code = denied ? "EACCES" : /not_found|enoent/i.test(codes) ? "ENOENT" : "EIO";
  const e = new Error(`${syscall} ${file} ${code}: ${err.message}`);
  e.code = code;
  e.errno = code === "EACCES" ? -13 : code === "ENOENT" ? -2 : -5;
  e.syscall = `${syscall} ${file}`;
  e.path = file;
  e.hostCode = err.code;
  return e;
}

function buildParams(file, args, options) {
  const params = { cmd: String(file), args: (args || []).map(String) };
  if (options.shell) {
    const line = [file, ...(args || [])].join(" ");
    params.cmd = typeof options.shell === "string" ? options.shell : "sh";
    params.args = ["-c", line];
  }
  if (options.cwd) params.cwd = String(options.cwd instanceof URL ? decodeURIComponent(options.cwd.pathname) : options.cwd);
  if (options.timeout) params.timeout_ms = Number(options.timeout);
  if (options.input !== undefined && options.input !== null) {
    params.stdin = typeof options.input === "string" ? options.input : Buffer.from(options.input).toString();
  }
  return params;
}

function normalizeArgs(args, options) {
  if (!Array.isArray(args)) { options = args; args = []; }
  return [args, options || {}];
}

function outputOf(text, encoding) {
  const s = text === undefined || text === null ? "" : String(text);
  return encoding && encoding !== "buffer" ? s : Buffer.from(s);
}

function failure(message, result, options, cmdLine) {
  const err = new Error(message);
  err.status = result.killed ? null : result.exit_code;
  err.code = result.killed ? null : result.exit_code;
  err.signal = result.killed ? "SIGTERM" : null;
  err.killed = !!result.killed;
  err.cmd = cmdLine;
  err.stdout = outputOf(result.stdout, options.encoding);
  err.stderr = outputOf(result.stderr, options.encoding);
  err.output = [null, err.stdout, err.stderr];
  return err;
}

function runSync(params, syscall) {
  try {
    return host.callSync("exec", params);
  } catch (err) {
    throw spawnError(err, params.cmd, syscall);
  }
}

export function spawnSync(file, args, options) {
  [args, options] = normalizeArgs(args, options);
  const params = buildParams(file, args, options);
  let result;
  try { result = runSync(params, "spawnSync"); } catch (error) {
    return { pid: 0, output: [null, null, null], stdout: null, stderr: null, status: null, signal: null, error };
  }
  const stdout = outputOf(result.stdout, options.encoding);
  const stderr = outputOf(result.stderr, options.encoding);
  return { pid: ++fakePid, output: [null, stdout, stderr], stdout, stderr,
    status: result.killed ? null : result.exit_code, signal: result.killed ? "SIGTERM" : null };
}

export function execFileSync(file, args, options) {
  [args, options] = normalizeArgs(args, options);
  const params = buildParams(file, args, options);
  const result = runSync(params, "spawnSync");
  const line = [file, ...args].join(" ");
  if (result.killed || result.exit_code !== 0) {
    throw failure(`Command failed: ${line}${result.stderr ? "\n" + result.stderr : ""}`, result, options, line);
  }
  return outputOf(result.stdout, options.encoding);
}

export function execSync(command, options = {}) {
  return execFileSync(String(command), [], { ...options, shell: options.shell || true });
}

export class ChildProcess extends EventEmitter {
  constructor(params, options) {
    super();
    this.pid = ++fakePid;
    this.spawnfile = params.cmd;
    this.spawnargs = [params.cmd, ...params.args];
    this.exitCode = null;
    this.signalCode = null;
    this.killed = false;
    this.connected = false;
    // stdio: "pipe" (default) gives streams; "inherit" sends the output to the log hostcall (the extension has no
    // terminal) and, like Node, leaves child.stdout/stderr null; "ignore" discards it.
    const stdio = Array.isArray(options.stdio) ? options.stdio : [options.stdio, options.stdio, options.stdio];
    this._modes = [1, 2].map((i) => (stdio[i] === "inherit" || stdio[i] === "ignore" ? stdio[i] : "pipe"));
    const enc = options.encoding && options.encoding !== "buffer" ? options.encoding : undefined;
    // Output arrives in one piece when the host call returns: the streams are pushed to, never pulled.
    this._out = new Readable({ encoding: enc, read() {} });
    this._err = new Readable({ encoding: enc, read() {} });
    this.stdout = this._modes[0] === "pipe" ? this._out : null;
    this.stderr = this._modes[1] === "pipe" ? this._err : null;
    const stdinChunks = [];
    this._stdinTouched = false;
    this._stdinEnded = false;
    this.stdin = new Writable({
      write: (chunk, enc, cb) => { this._stdinTouched = true; stdinChunks.push(Buffer.from(chunk, enc === "buffer" ? undefined : enc)); cb(); },
      final: (cb) => { this._stdinEnded = true; cb(); if (this._waitingForStdin) this._start(); },
    });
    this.stdio = [this.stdin, this.stdout, this.stderr];
    this._params = params;
    this._stdinChunks = stdinChunks;
    if (options.signal) {
      const onAbort = () => this._abort(options.signal.reason);
      if (options.signal.aborted) queueMicrotask(onAbort);
      else options.signal.addEventListener("abort", onAbort, { once: true });
    }
    // Start after the caller had a chance to write/end stdin in the same tick.
    queueMicrotask(() => queueMicrotask(() => {
      if (this._stdinTouched && !this._stdinEnded) this._waitingForStdin = true;
      else this._start();
    }));
  }
  _start() {
    if (this._started || this.killed) return;
    this._started = true;
    const params = { ...this._params };
    if (this._stdinChunks.length) params.stdin = Buffer.concat(this._stdinChunks).toString();
    host.call("exec", params).then((result) => {
      if (this._settled) return; // aborted meanwhile: the answer is dropped
      // 'spawn' only for a child that ran, as in Node: a refused or failed spawn has 'error' and no 'spawn'
      // (execa treats 'spawn' as "started" and then waited forever for a child that never existed).
      this.emit("spawn");
      const deliver = (stream, mode, text, level) => {
        if (text && mode === "pipe") stream.push(Buffer.from(String(text)));
        else if (text && mode === "inherit") host.log(level, String(text).replace(/\n$/, ""));
        stream.push(null);
      };
      deliver(this._out, this._modes[0], result.stdout, "info");
      deliver(this._err, this._modes[1], result.stderr, "warn");
      this.exitCode = result.killed ? null : result.exit_code;
      this.signalCode = result.killed ? "SIGTERM" : null;
      this._finish();
    }, (err) => {
      if (this._settled) return;
      this._out.push(null);
      this._err.push(null);
      this.exitCode = -2;
      this.pid = undefined; // no process existed (Node's pid of a failed spawn)
      // Like Node: 'error' to its listeners, else an uncaught exception (the current call fails), then 'close'.
      host.emitError(this, spawnError(err, params.cmd, "spawn"));
      this._finish(true);
    });
  }
  // An aborted `signal` option: 'error' (AbortError) then 'exit'/'close' with SIGTERM, as Node does.
  _abort(reason) {
    if (this._settled) return;
    const err = new Error("The operation was aborted", { cause: reason });
    err.name = "AbortError";
    err.code = "ABORT_ERR";
    if (!this._started) {
      this.kill();
      host.emitError(this, err);
      return;
    }
    this._settled = true;
    this.killed = true;
    this.signalCode = "SIGTERM";
    this._out.push(null);
    this._err.push(null);
    host.emitError(this, err);
    queueMicrotask(() => { this.emit("exit", null, "SIGTERM"); this._closeStdin(); this.emit("close", null, "SIGTERM"); });
  }
  _finish(failed) {
    this._settled = true;
    // 'exit' then 'close' after both output streams ended, like Node.
    let pending = 2;
    const done = () => {
      if (--pending > 0) return;
      if (!failed) this.emit("exit", this.exitCode, this.signalCode);
      this._closeStdin();
      this.emit("close", this.exitCode, this.signalCode);
    };
    const watch = (s) => (s.closed || s.destroyed ? done() : s.once("close", done));
    this._out.resume();
    this._err.resume();
    watch(this._out);
    watch(this._err);
  }
  // Node closes the child's stdin pipe when the child is gone ('close' on child.stdin): libraries that wait for
  // every stdio stream to finish (execa) hung forever on a stdin that stayed open.
  _closeStdin() {
    if (!this.stdin.destroyed) this.stdin.destroy();
  }
  kill(signal = "SIGTERM") {
    if (this._settled) return false;
    if (this._started) {
      // The host call cannot be interrupted (its own timeout bounds it): the child is reported killed now and
      // its late answer dropped, as if the signal had ended it.
      this._settled = true;
      this.killed = true;
      this.signalCode = signal;
      this._out.push(null);
      this._err.push(null);
      queueMicrotask(() => { this.emit("exit", null, signal); this._closeStdin(); this.emit("close", null, signal); });
      return true;
    }
    this._settled = true;
    this.killed = true;
    this.signalCode = signal;
    queueMicrotask(() => { this.emit("exit", null, signal); this._closeStdin(); this.emit("close", null, signal); });
    return true;
  }
  ref() { return this; }
  unref() { return this; }
  disconnect() {}
}

export function spawn(file, args, options) {
  [args, options] = normalizeArgs(args, options);
  return new ChildProcess(buildParams(file, args, options), options);
}

function collect(child, options, line, callback) {
  const out = [], err = [];
  if (child.stdout) child.stdout.on("data", (c) => out.push(Buffer.from(c)));
  if (child.stderr) child.stderr.on("data", (c) => err.push(Buffer.from(c)));
  let spawnFailure = null;
  child.on("error", (e) => { spawnFailure = e; });
  child.on("close", (code, signal) => {
    const encoding = options.encoding === undefined ? "utf8" : options.encoding;
    const stdout = encoding === "buffer" ? Buffer.concat(out) : Buffer.concat(out).toString(encoding);
    const stderr = encoding === "buffer" ? Buffer.concat(err) : Buffer.concat(err).toString(encoding);
    if (!callback) return;
    if (spawnFailure) callback(Object.assign(spawnFailure, { stdout, stderr }), stdout, stderr);
    else if (code !== 0 || signal) {
      const e = failure(`Command failed: ${line}${stderr ? "\n" + stderr : ""}`,
        { exit_code: code, killed: !!signal, stdout, stderr }, { encoding }, line);
      e.stdout = stdout;
      e.stderr = stderr;
      callback(e, stdout, stderr);
    } else callback(null, stdout, stderr);
  });
  return child;
}

export function execFile(file, args, options, callback) {
  if (typeof args === "function") { callback = args; args = []; options = {}; }
  else if (typeof options === "function") { callback = options; options = Array.isArray(args) ? {} : args; args = Array.isArray(args) ? args : []; }
  [args, options] = normalizeArgs(args, options);
  const child = spawn(file, args, options);
  return collect(child, options, [file, ...args].join(" "), callback);
}

export function exec(command, options, callback) {
  if (typeof options === "function") { callback = options; options = {}; }
  options = options || {};
  const child = spawn(String(command), [], { ...options, shell: options.shell || true });
  return collect(child, options, String(command), callback);
}

function promiseForm(fn) {
  return (...args) => {
    let child;
    const p = new Promise((resolve, reject) => {
      child = fn(...args, (err, stdout, stderr) => (err ? reject(err) : resolve({ stdout, stderr })));
    });
    p.child = child;
    return p;
  };
}
exec[promisify.custom] = promiseForm(exec);
execFile[promisify.custom] = promiseForm(execFile);

export function fork() {
  throw Object.assign(new Error("pi-sandbox: child_process.fork is not available to extensions (no node runtime)"), { code: "ERR_NOT_SUPPORTED" });
}

export default { spawn, spawnSync, exec, execSync, execFile, execFileSync, fork, ChildProcess };
