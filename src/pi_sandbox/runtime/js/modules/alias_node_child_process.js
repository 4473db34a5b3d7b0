// "node:child_process" is the same module instance as "child_process" (one Buffer class, one EventEmitter, one fd table).
export * from "child_process";
export { default } from "child_process";
