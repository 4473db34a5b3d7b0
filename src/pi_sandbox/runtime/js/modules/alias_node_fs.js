// "node:fs" is the same module instance as "fs" (one Buffer class, one EventEmitter, one fd table).
export * from "fs";
export { default } from "fs";
