// "node:process" is the same module instance as "process" (one Buffer class, one EventEmitter, one fd table).
export * from "process";
export { default } from "process";
