// "node:http2" is the same module instance as "http2".
export * from "http2";
export { default } from "http2";
