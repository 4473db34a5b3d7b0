// node:readline/promises — the promise form of the headless readline (see readline.js): question() resolves "".
import * as readline from "readline";

export class Interface extends readline.Interface {
  question(query, options) {
    return new Promise((resolve) => super.question(query, options || {}, resolve));
  }
}
export function createInterface(...args) { return new Interface(...args); }
export class Readline {
  constructor(stream) { this.stream = stream; }
  clearLine() { return this; }
  clearScreenDown() { return this; }
  cursorTo() { return this; }
  moveCursor() { return this; }
  commit() { return Promise.resolve(); }
  rollback() { return this; }
}
export default { Interface, createInterface, Readline };
