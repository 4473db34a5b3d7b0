// "node:vm" is the same module instance as "vm".
export * from "vm";
export { default } from "vm";
