// pi-sandbox: forbidden-builtin
// "node:tls" is the same module instance as "tls" (one Buffer class, one EventEmitter, one fd table).
export * from "tls";
