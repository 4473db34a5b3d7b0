// pi-sandbox: forbidden-builtin
// "node:dgram" is the same module instance as "dgram" (one Buffer class, one EventEmitter, one fd table).
export * from "dgram";
