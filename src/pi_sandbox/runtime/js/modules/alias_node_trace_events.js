// "node:trace_events" is the same module instance as "trace_events".
export * from "trace_events";
export { default } from "trace_events";
