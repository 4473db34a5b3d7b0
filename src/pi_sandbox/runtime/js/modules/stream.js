// node:stream — minimal Readable / Writable / Duplex / Transform / PassThrough, pipeline, finished.
// Enough for child_process stdio, fs streams and simple line processing; no highWaterMark back-pressure.
import { EventEmitter } from "events";

function later(fn) { queueMicrotask(fn); }

export class Stream extends EventEmitter {
  pipe(dest, opts = {}) {
    this.on("data", (chunk) => dest.write(chunk));
    if (opts.end !== false) this.on("end", () => dest.end());
    this.resume && this.resume();
    return dest;
  }
}

export class Readable extends Stream {
  constructor(opts = {}) {
    super();
    this._buffer = [];
    this._flowing = null;
    this._ended = false;
    this._endEmitted = false;
    this.readable = true;
    this.destroyed = false;
    this._encoding = opts.encoding || null;
    this._objectMode = !!opts.objectMode;
    if (opts.read) this._read = opts.read;
    if (opts.destroy) this._destroy = opts.destroy;
  }
  static from(iterable, opts) {
    const r = new Readable({ objectMode: true, ...opts });
    later(async () => {
      try {
        if (typeof iterable === "string" || iterable instanceof Uint8Array) r.push(iterable);
        else for await (const x of iterable) r.push(x);
        r.push(null);
      } catch (err) { r.destroy(err); }
    });
    return r;
  }
  _read() {}
  _decode(chunk) {
    if (this._encoding && chunk instanceof Uint8Array) return new TextDecoder().decode(chunk);
    return chunk;
  }
  push(chunk) {
    if (chunk === null) { this._ended = true; this._maybeEnd(); return false; }
    this._buffer.push(this._decode(chunk));
    if (this._flowing) this._flush();
    else this.emit("readable");
    return true;
  }
  unshift(chunk) { this._buffer.unshift(chunk); }
  _flush() {
    while (this._flowing && this._buffer.length) this.emit("data", this._buffer.shift());
    this._maybeEnd();
  }
  _maybeEnd() {
    if (this._ended && !this._buffer.length && !this._endEmitted && this._flowing !== false) {
      this._endEmitted = true;
      later(() => { this.readable = false; this.emit("end"); this.emit("close"); });
    }
  }
  on(name, fn) {
    super.on(name, fn);
    if (name === "data" && this._flowing !== false) this.resume();
    if (name === "readable" && this._buffer.length) later(() => this.emit("readable"));
    return this;
  }
  resume() {
    this._flowing = true;
    later(() => { this._read(); this._flush(); });
    return this;
  }
  pause() { this._flowing = false; return this; }
  isPaused() { return this._flowing === false; }
  read() {
    if (!this._buffer.length) { this._maybeEnd(); return null; }
    const chunk = this._buffer.shift();
    return chunk;
  }
  setEncoding(enc) { this._encoding = enc; return this; }
  destroy(err) {
    if (this.destroyed) return this;
    this.destroyed = true;
    later(() => { if (err) this.emit("error", err); this.emit("close"); });
    return this;
  }
  async *[Symbol.asyncIterator]() {
    const queue = [];
    let done = false, failure = null, wake = null;
    const poke = () => { if (wake) { wake(); wake = null; } };
    this.on("data", (c) => { queue.push(c); poke(); });
    this.on("end", () => { done = true; poke(); });
    this.on("error", (e) => { failure = e; poke(); });
    while (true) {
      if (queue.length) yield queue.shift();
      else if (failure) throw failure;
      else if (done) return;
      else await new Promise((r) => { wake = r; });
    }
  }
}

export class Writable extends Stream {
  constructor(opts = {}) {
    super();
    this.writable = true;
    this.destroyed = false;
    this.writableEnded = false;
    this.writableFinished = false;
    if (opts.write) this._write = opts.write;
    if (opts.final) this._final = opts.final;
    if (opts.writev) this._writev = opts.writev;
  }
  _write(_chunk, _enc, cb) { cb(); }
  write(chunk, enc, cb) {
    if (typeof enc === "function") { cb = enc; enc = "utf8"; }
    if (this.writableEnded) {
      const err = Object.assign(new Error("write after end"), { code: "ERR_STREAM_WRITE_AFTER_END" });
      later(() => { if (cb) cb(err); this.emit("error", err); });
      return false;
    }
    this._write(chunk, enc || "utf8", (err) => {
      if (err) this.emit("error", err);
      if (cb) cb(err || null);
    });
    return true;
  }
  end(chunk, enc, cb) {
    if (typeof chunk === "function") { cb = chunk; chunk = undefined; }
    else if (typeof enc === "function") { cb = enc; enc = undefined; }
    if (chunk !== undefined && chunk !== null) this.write(chunk, enc);
    if (this.writableEnded) return this;
    this.writableEnded = true;
    const finish = (err) => {
      if (err) { this.emit("error", err); return; }
      this.writableFinished = true;
      this.emit("finish");
      this.emit("close");
      if (cb) cb();
    };
    later(() => (this._final ? this._final(finish) : finish()));
    return this;
  }
  cork() {}
  uncork() {}
  setDefaultEncoding() { return this; }
  destroy(err) {
    if (this.destroyed) return this;
    this.destroyed = true;
    later(() => { if (err) this.emit("error", err); this.emit("close"); });
    return this;
  }
}

export class Duplex extends Readable {
  constructor(opts = {}) {
    super(opts);
    this.writable = true;
    this.writableEnded = false;
    if (opts.write) this._write = opts.write;
    if (opts.final) this._final = opts.final;
  }
}
for (const name of ["write", "end", "_write", "cork", "uncork", "setDefaultEncoding"]) {
  Duplex.prototype[name] = Writable.prototype[name];
}

export class Transform extends Duplex {
  constructor(opts = {}) {
    super(opts);
    if (opts.transform) this._transform = opts.transform;
    if (opts.flush) this._flush_ = opts.flush;
    this._final = (cb) => {
      const done = () => { this.push(null); cb(); };
      if (this._flush_) this._flush_((err, data) => { if (data !== undefined && data !== null) this.push(data); if (err) cb(err); else done(); });
      else done();
    };
  }
  _transform(chunk, _enc, cb) { cb(null, chunk); }
  _write(chunk, enc, cb) {
    this._transform(chunk, enc, (err, data) => {
      if (data !== undefined && data !== null) this.push(data);
      cb(err);
    });
  }
}

export class PassThrough extends Transform {}

export function finished(stream, cb) {
  let called = false;
  const done = (err) => { if (!called) { called = true; cb(err); } };
  stream.on("end", () => done());
  stream.on("finish", () => done());
  stream.on("error", (err) => done(err));
  return () => {};
}

export function pipeline(...streams) {
  const cb = typeof streams[streams.length - 1] === "function" ? streams.pop() : null;
  for (let i = 0; i < streams.length - 1; i++) {
    streams[i].pipe(streams[i + 1]);
    streams[i].on("error", (err) => cb && cb(err));
  }
  const last = streams[streams.length - 1];
  if (cb) finished(last, cb);
  return last;
}

export const promises = {
  pipeline: (...s) => new Promise((res, rej) => pipeline(...s, (err) => (err ? rej(err) : res()))),
  finished: (s) => new Promise((res, rej) => finished(s, (err) => (err ? rej(err) : res()))),
};

// Web stream interop (Node 17+): async iteration works both ways.
Readable.fromWeb = (webStream, options) => Readable.from(webStream, options);
Readable.toWeb = (readable) => globalThis.ReadableStream.from(readable);
Stream.Readable = Readable;
Stream.Writable = Writable;
Stream.Duplex = Duplex;
Stream.Transform = Transform;
Stream.PassThrough = PassThrough;
Stream.Stream = Stream;
Stream.pipeline = pipeline;
Stream.finished = finished;
Stream.promises = promises;
export default Stream;
