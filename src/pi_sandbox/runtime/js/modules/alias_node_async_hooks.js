// "node:async_hooks" is the same module instance as "async_hooks".
export * from "async_hooks";
export { default } from "async_hooks";
