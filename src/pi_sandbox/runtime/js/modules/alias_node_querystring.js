// "node:querystring" is the same module instance as "querystring" (one Buffer class, one EventEmitter, one fd table).
export * from "querystring";
export { default } from "querystring";
