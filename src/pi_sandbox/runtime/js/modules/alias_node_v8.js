// pi-sandbox: forbidden-builtin
// "node:v8" is the same module instance as "v8" (one Buffer class, one EventEmitter, one fd table).
export * from "v8";
