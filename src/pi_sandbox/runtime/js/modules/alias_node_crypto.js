// "node:crypto" is the same module instance as "crypto" (one Buffer class, one EventEmitter, one fd table).
export * from "crypto";
export { default } from "crypto";
