// "node:https" is the same module instance as "https" (one Buffer class, one EventEmitter, one fd table).
export * from "https";
export { default } from "https";
