// node:stream/consumers — alias of "stream/consumers" (one module instance for both spellings).
export * from "stream/consumers";
export { default } from "stream/consumers";
