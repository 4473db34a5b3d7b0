// pi-sandbox: forbidden-builtin
// "node:trace_events" is the same module instance as "trace_events" (one Buffer class, one EventEmitter, one fd table).
export * from "trace_events";
