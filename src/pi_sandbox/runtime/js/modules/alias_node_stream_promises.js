// "node:stream/promises" is the same module instance as "stream/promises" (one Buffer class, one EventEmitter, one fd table).
export * from "stream/promises";
export { default } from "stream/promises";
