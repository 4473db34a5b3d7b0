// "node:v8" is the same module instance as "v8".
export * from "v8";
export { default } from "v8";
