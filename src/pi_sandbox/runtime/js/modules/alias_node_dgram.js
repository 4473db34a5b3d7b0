// "node:dgram" is the same module instance as "dgram".
export * from "dgram";
export { default } from "dgram";
