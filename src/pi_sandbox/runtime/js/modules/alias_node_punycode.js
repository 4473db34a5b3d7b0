// "node:punycode" is the same module instance as "punycode".
export * from "punycode";
export { default } from "punycode";
