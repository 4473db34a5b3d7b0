// "node:http" is the same module instance as "http" (one Buffer class, one EventEmitter, one fd table).
export * from "http";
export { default } from "http";
