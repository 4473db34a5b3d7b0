// node:inspector/promises — alias of "inspector/promises" (one module instance for both spellings).
export * from "inspector/promises";
export { default } from "inspector/promises";
