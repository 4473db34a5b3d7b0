// pi-sandbox: forbidden-builtin
// node:trace_events is a forbidden builtin for extensions: importing it fails at import time (the loader records it).
const err = new Error("pi-sandbox: module 'trace_events' is not available to extensions (forbidden builtin)");
err.code = "ERR_FORBIDDEN_BUILTIN";
err.module = "trace_events";
throw err;
