// "node:util/types" is the same module instance as "util/types" (one Buffer class, one EventEmitter, one fd table).
export * from "util/types";
export { default } from "util/types";
