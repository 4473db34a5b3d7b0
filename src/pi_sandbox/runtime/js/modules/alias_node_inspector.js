// "node:inspector" is the same module instance as "inspector".
export * from "inspector";
export { default } from "inspector";
