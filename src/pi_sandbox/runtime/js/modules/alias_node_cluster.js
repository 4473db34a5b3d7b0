// "node:cluster" is the same module instance as "cluster".
export * from "cluster";
export { default } from "cluster";
