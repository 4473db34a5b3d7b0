// pi-sandbox: forbidden-builtin
// node:cluster is a forbidden builtin for extensions: importing it fails at import time (the loader records it).
const err = new Error("pi-sandbox: module 'cluster' is not available to extensions (forbidden builtin)");
err.code = "ERR_FORBIDDEN_BUILTIN";
err.module = "cluster";
throw err;
