// "node:buffer" is the same module instance as "buffer" (one Buffer class, one EventEmitter, one fd table).
export * from "buffer";
export { default } from "buffer";
