// "node:os" is the same module instance as "os" (one Buffer class, one EventEmitter, one fd table).
export * from "os";
export { default } from "os";
