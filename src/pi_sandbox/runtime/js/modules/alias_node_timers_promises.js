// "node:timers/promises" is the same module instance as "timers/promises" (one Buffer class, one EventEmitter, one fd table).
export * from "timers/promises";
export { default } from "timers/promises";
