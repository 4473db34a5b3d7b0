// pi-sandbox: forbidden-builtin
// "node:repl" is the same module instance as "repl" (one Buffer class, one EventEmitter, one fd table).
export * from "repl";
