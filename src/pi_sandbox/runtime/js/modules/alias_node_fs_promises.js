// "node:fs/promises" is the same module instance as "fs/promises" (one Buffer class, one EventEmitter, one fd table).
export * from "fs/promises";
export { default } from "fs/promises";
