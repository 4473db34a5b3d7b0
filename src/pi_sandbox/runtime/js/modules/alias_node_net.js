// "node:net" is the same module instance as "net".
export * from "net";
export { default } from "net";
