// "assert/strict" is the same module instance as "assert" (one Buffer class, one EventEmitter, one fd table).
export * from "assert";
export { default } from "assert";
