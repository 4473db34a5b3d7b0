// pi:effects — the `net` hostcall behind the socket, server and thread builtins (net, tls, dgram, http(s)/http2
// servers, worker_threads, cluster, child_process.fork, inspector). Importing those modules never fails; each
// operation with an effect outside the worker asks the supervisor, which derives the capability (a TCP/TLS client
// connection needs `http`, everything else `exec`), decides, records it and answers. A refusal becomes a
// Node-style error (`EACCES`), delivered the way Node delivers that operation's errors (an 'error' event, which
// without a listener is an uncaught exception). No connector opens sockets or threads yet, so an allowed call
// fails with `ERR_NOT_SUPPORTED` (docs/extension-modules.md).
import * as host from "pi:host";

const DENIED = /deni|forbid|policy|block|kill|quarant|quota|trust|mediat|prompt/i;

/** A Node-style error for a refused or unsupported effect. */
export function effectError(err, syscall, target) {
  const codes = `${err && err.code} ${(err && err.reason) || ""}`;
  const code = DENIED.test(codes) ? "EACCES" : /unsupported|not_supported/i.test(codes) ? "ERR_NOT_SUPPORTED" : "EIO";
  const e = new Error(`${syscall}${target ? " " + target : ""} ${code}: ${err && err.message ? err.message : err}`);
  e.code = code;
  if (code === "EACCES") e.errno = -13;
  e.syscall = syscall;
  if (target) e.address = target;
  if (err && err.code) e.hostCode = err.code;
  return e;
}

/** Ask the supervisor for one effect; resolves with its answer or rejects with a Node-style error. */
export function requestEffect(op, params, syscall, target) {
  return host.call("net", { op, ...params }).catch((err) => {
    throw effectError(err, syscall, target);
  });
}

/** Same, delivering a failure as an 'error' event on `emitter` (or an uncaught exception without listener). */
export function effectOrError(emitter, op, params, syscall, target, onOk) {
  requestEffect(op, params, syscall, target).then(
    (answer) => (onOk ? onOk(answer) : undefined),
    (err) => host.emitError(emitter, err),
  );
}

/** An error for APIs that cannot exist in the sandbox at all (no second realm, no terminal). */
export function notSupported(what, why) {
  const e = new Error(`pi-sandbox: ${what} is not available to extensions (${why})`);
  e.code = "ERR_NOT_SUPPORTED";
  return e;
}
