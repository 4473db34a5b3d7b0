// node:readline/promises — alias of "readline/promises" (one module instance for both spellings).
export * from "readline/promises";
export { default } from "readline/promises";
