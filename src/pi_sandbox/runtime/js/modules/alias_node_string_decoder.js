// "node:string_decoder" is the same module instance as "string_decoder" (one Buffer class, one EventEmitter, one fd table).
export * from "string_decoder";
export { default } from "string_decoder";
