// sys (deprecated) — alias of "util".
export * from "util";
export { default } from "util";
