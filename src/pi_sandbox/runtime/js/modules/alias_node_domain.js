// node:domain — alias of "domain" (one module instance for both spellings).
export * from "domain";
export { default } from "domain";
