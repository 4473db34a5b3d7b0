// node:constants — alias of "constants" (one module instance for both spellings).
export * from "constants";
export { default } from "constants";
