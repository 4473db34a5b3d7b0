// "node:tls" is the same module instance as "tls".
export * from "tls";
export { default } from "tls";
