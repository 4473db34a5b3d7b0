// "node:dns" is the same module instance as "dns".
export * from "dns";
export { default } from "dns";
