// pi-sandbox: forbidden-builtin
// node:worker_threads is a forbidden builtin for extensions: importing it fails at import time (the loader records it).
const err = new Error("pi-sandbox: module 'worker_threads' is not available to extensions (forbidden builtin)");
err.code = "ERR_FORBIDDEN_BUILTIN";
err.module = "worker_threads";
throw err;
