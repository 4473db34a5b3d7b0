// "node:module" is the same module instance as "module" (one Buffer class, one EventEmitter, one fd table).
export * from "module";
export { default } from "module";
