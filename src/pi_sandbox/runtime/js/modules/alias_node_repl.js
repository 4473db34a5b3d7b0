// "node:repl" is the same module instance as "repl".
export * from "repl";
export { default } from "repl";
