// "node:perf_hooks" is the same module instance as "perf_hooks" (one Buffer class, one EventEmitter, one fd table).
export * from "perf_hooks";
export { default } from "perf_hooks";
