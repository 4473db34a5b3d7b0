// "node:readline" is the same module instance as "readline" (one Buffer class, one EventEmitter, one fd table).
export * from "readline";
export { default } from "readline";
