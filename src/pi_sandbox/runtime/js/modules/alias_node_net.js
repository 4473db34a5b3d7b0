// pi-sandbox: forbidden-builtin
// "node:net" is the same module instance as "net" (one Buffer class, one EventEmitter, one fd table).
export * from "net";
