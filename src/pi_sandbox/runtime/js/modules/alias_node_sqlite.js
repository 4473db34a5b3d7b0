// pi-sandbox: forbidden-builtin
// "node:sqlite" is the same module instance as "sqlite" (one Buffer class, one EventEmitter, one fd table).
export * from "sqlite";
