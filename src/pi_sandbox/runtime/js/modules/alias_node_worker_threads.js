// "node:worker_threads" is the same module instance as "worker_threads".
export * from "worker_threads";
export { default } from "worker_threads";
