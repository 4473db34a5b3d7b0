// pi-sandbox: forbidden-builtin
// "node:vm" is the same module instance as "vm" (one Buffer class, one EventEmitter, one fd table).
export * from "vm";
