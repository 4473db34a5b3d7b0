// "path/posix" is the same module instance as "path" (one Buffer class, one EventEmitter, one fd table).
export * from "path";
export { default } from "path";
