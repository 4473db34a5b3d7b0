// pi-sandbox: forbidden-builtin
// "node:cluster" is the same module instance as "cluster" (one Buffer class, one EventEmitter, one fd table).
export * from "cluster";
