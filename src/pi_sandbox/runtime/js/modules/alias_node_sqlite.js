// "node:sqlite" is the same module instance as "sqlite".
export * from "sqlite";
export { default } from "sqlite";
