// node:console — alias of "console" (one module instance for both spellings).
export * from "console";
export { default } from "console";
