// "node:events" is the same module instance as "events" (one Buffer class, one EventEmitter, one fd table).
export * from "events";
export { default } from "events";
