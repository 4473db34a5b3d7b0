// "stream/web" is the same module instance as the globals' pi:web-streams (one ReadableStream class).
export * from "pi:web-streams";
export { default } from "pi:web-streams";
