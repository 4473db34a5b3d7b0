// "node:url" is the same module instance as "url" (one Buffer class, one EventEmitter, one fd table).
export * from "url";
export { default } from "url";
