// pi-sandbox: forbidden-builtin
// "node:inspector" is the same module instance as "inspector" (one Buffer class, one EventEmitter, one fd table).
export * from "inspector";
