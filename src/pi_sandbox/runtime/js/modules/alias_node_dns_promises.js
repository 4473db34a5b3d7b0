// "node:dns/promises" is the same module instance as "dns/promises".
export * from "dns/promises";
export { default } from "dns/promises";
