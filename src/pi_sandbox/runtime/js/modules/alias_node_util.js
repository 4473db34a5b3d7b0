// "node:util" is the same module instance as "util" (one Buffer class, one EventEmitter, one fd table).
export * from "util";
export { default } from "util";
