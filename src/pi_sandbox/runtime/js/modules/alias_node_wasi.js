// pi-sandbox: forbidden-builtin
// "node:wasi" is the same module instance as "wasi" (one Buffer class, one EventEmitter, one fd table).
export * from "wasi";
