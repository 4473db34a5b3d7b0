// node:readline — headless: an Interface over an input stream (e.g. a child's stdout) that emits 'line';
// question() resolves to "" because a sandboxed extension has no terminal.
import { EventEmitter } from "events";
import { StringDecoder } from "string_decoder";

export class Interface extends EventEmitter {
  constructor(input, output) {
    super();
    const opts = input && input.input ? input : { input, output };
    this.input = opts.input;
    this.output = opts.output;
    this.terminal = false;
    this.line = "";
    this.closed = false;
    this._buf = "";
    const decoder = new StringDecoder("utf8");
    if (this.input && typeof this.input.on === "function") {
      this.input.on("data", (chunk) => this._feed(typeof chunk === "string" ? chunk : decoder.write(chunk)));
      this.input.on("end", () => { this._feed(decoder.end()); if (this._buf) this._emitLine(this._buf); this._buf = ""; this.close(); });
    }
  }
  _feed(text) {
    this._buf += text;
    let i;
    while ((i = this._buf.search(/\r?\n/)) !== -1) {
      const line = this._buf.slice(0, i);
      this._buf = this._buf.slice(this._buf[i] === "\r" ? i + 2 : i + 1);
      this._emitLine(line);
    }
  }
  _emitLine(line) { if (!this.closed) this.emit("line", line); }
  question(_query, opts, cb) {
    const done = typeof opts === "function" ? opts : cb;
    queueMicrotask(() => done && done(""));
  }
  prompt() {}
  setPrompt() {}
  getPrompt() { return ""; }
  write() {}
  pause() { return this; }
  resume() { return this; }
  close() { if (!this.closed) { this.closed = true; this.emit("close"); } }
  async *[Symbol.asyncIterator]() {
    const lines = [];
    let wake = null;
    let done = this.closed;
    this.on("line", (l) => { lines.push(l); if (wake) wake(); });
    this.on("close", () => { done = true; if (wake) wake(); });
    while (true) {
      if (lines.length) yield lines.shift();
      else if (done) return;
      else await new Promise((r) => { wake = () => { wake = null; r(); }; });
    }
  }
}

export function createInterface(input, output) { return new Interface(input, output); }
export function emitKeypressEvents() {}
export function clearLine(_s, _d, cb) { if (cb) cb(); return true; }
export function clearScreenDown(_s, cb) { if (cb) cb(); return true; }
export function cursorTo(_s, _x, _y, cb) { if (typeof _y === "function") _y(); else if (cb) cb(); return true; }
export function moveCursor(_s, _dx, _dy, cb) { if (cb) cb(); return true; }
export const promises = {
  createInterface(input, output) {
    const rl = new Interface(input, output);
    rl.question = () => Promise.resolve("");
    return rl;
  },
};
export default { Interface, createInterface, emitKeypressEvents, clearLine, clearScreenDown, cursorTo, moveCursor, promises };
