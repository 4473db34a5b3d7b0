// pi-sandbox: forbidden-builtin
// node:inspector is a forbidden builtin for extensions: importing it fails at import time (the loader records it).
const err = new Error("pi-sandbox: module 'inspector' is not available to extensions (forbidden builtin)");
err.code = "ERR_FORBIDDEN_BUILTIN";
err.module = "inspector";
throw err;
