// "node:timers" is the same module instance as "timers" (one Buffer class, one EventEmitter, one fd table).
export * from "timers";
export { default } from "timers";
