// pi-sandbox: forbidden-builtin
// "node:http2" is the same module instance as "http2" (one Buffer class, one EventEmitter, one fd table).
export * from "http2";
