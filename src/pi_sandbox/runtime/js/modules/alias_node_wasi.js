// "node:wasi" is the same module instance as "wasi".
export * from "wasi";
export { default } from "wasi";
