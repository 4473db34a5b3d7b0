// "node:stream" is the same module instance as "stream" (one Buffer class, one EventEmitter, one fd table).
export * from "stream";
export { default } from "stream";
