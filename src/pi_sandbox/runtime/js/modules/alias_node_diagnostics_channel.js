// "node:diagnostics_channel" is the same module instance as "diagnostics_channel".
export * from "diagnostics_channel";
export { default } from "diagnostics_channel";
