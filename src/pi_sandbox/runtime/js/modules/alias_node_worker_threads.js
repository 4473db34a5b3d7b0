// pi-sandbox: forbidden-builtin
// "node:worker_threads" is the same module instance as "worker_threads" (one Buffer class, one EventEmitter, one fd table).
export * from "worker_threads";
