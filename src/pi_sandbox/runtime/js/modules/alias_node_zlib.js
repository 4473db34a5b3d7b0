// "node:zlib" is the same module instance as "zlib".
export * from "zlib";
export { default } from "zlib";
