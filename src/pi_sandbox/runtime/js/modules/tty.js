// node:tty — a sandboxed extension never has a terminal.
import { Readable, Writable } from "stream";

export function isatty() { return false; }
export class ReadStream extends Readable {
  constructor() { super(); this.isTTY = false; this.isRaw = false; }
  setRawMode() { return this; }
  _read() {} // no terminal: nothing ever arrives
}
export class WriteStream extends Writable {
  constructor() { super(); this.isTTY = false; this.columns = 80; this.rows = 24; }
  _write(_chunk, _encoding, callback) { callback(); }
  getColorDepth() { return 1; }
  hasColors() { return false; }
  getWindowSize() { return [this.columns, this.rows]; }
  clearLine(_d, cb) { if (cb) cb(); return true; }
  clearScreenDown(cb) { if (cb) cb(); return true; }
  cursorTo(_x, _y, cb) { if (typeof _y === "function") _y(); else if (cb) cb(); return true; }
  moveCursor(_dx, _dy, cb) { if (cb) cb(); return true; }
}
export default { isatty, ReadStream, WriteStream };
