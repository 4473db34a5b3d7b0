// "node:tty" is the same module instance as "tty".
export * from "tty";
export { default } from "tty";
