// pi:web-streams — a compact WHATWG streams subset (ReadableStream, WritableStream, TransformStream,
// TextDecoderStream, TextEncoderStream), installed by pi:globals when the engine lacks them. Bundled SDKs
// (LLM clients, MCP) read fetch bodies through these; queues are unbounded (no back-pressure), which is fine
// for bodies that arrive whole from the http hostcall.

class ReadableStreamDefaultController {
  constructor(stream) { this._stream = stream; }
  get desiredSize() { return 1; }
  enqueue(chunk) { this._stream._push({ value: chunk, done: false }); }
  close() { this._stream._close(); }
  error(e) { this._stream._fail(e); }
}

class ReadableStreamDefaultReader {
  constructor(stream) {
    if (stream._locked) throw new TypeError("ReadableStream is locked");
    stream._locked = true;
    this._stream = stream;
  }
  get closed() { return this._stream._closedPromise; }
  read() { return this._stream._read(); }
  releaseLock() { if (this._stream) { this._stream._locked = false; this._stream = null; } }
  cancel(reason) { return this._stream.cancel(reason); }
}

export class ReadableStream {
  constructor(source = {}) {
    this._queue = [];
    this._waiters = [];
    this._state = "readable";
    this._error = undefined;
    this._locked = false;
    this._source = source;
    this._pulling = false;
    this._closedPromise = new Promise((resolve, reject) => { this._resolveClosed = resolve; this._rejectClosed = reject; });
    this._closedPromise.catch(() => {});
    this._controller = new ReadableStreamDefaultController(this);
    try {
      const started = source.start ? source.start(this._controller) : undefined;
      Promise.resolve(started).then(() => this._maybePull(), (e) => this._fail(e));
    } catch (e) { this._fail(e); }
  }
  static from(iterable) {
    const it = iterable[Symbol.asyncIterator] ? iterable[Symbol.asyncIterator]() : iterable[Symbol.iterator]();
    return new ReadableStream({
      async pull(c) { const r = await it.next(); if (r.done) c.close(); else c.enqueue(r.value); },
      cancel(reason) { return it.return ? it.return(reason) : undefined; },
    });
  }
  get locked() { return this._locked; }
  _push(result) {
    if (this._state !== "readable") return;
    const w = this._waiters.shift();
    if (w) w.resolve(result);
    else this._queue.push(result);
  }
  _close() {
    if (this._state !== "readable") return;
    this._state = "closed";
    for (const w of this._waiters.splice(0)) w.resolve({ value: undefined, done: true });
    this._resolveClosed();
  }
  _fail(e) {
    if (this._state !== "readable") return;
    this._state = "errored";
    this._error = e;
    for (const w of this._waiters.splice(0)) w.reject(e);
    this._rejectClosed(e);
  }
  _maybePull() {
    if (this._pulling || this._state !== "readable" || !this._source.pull || this._queue.length) return;
    this._pulling = true;
    Promise.resolve().then(() => this._source.pull(this._controller)).then(
      () => { this._pulling = false; if (this._waiters.length) this._maybePull(); },
      (e) => { this._pulling = false; this._fail(e); },
    );
  }
  _read() {
    if (this._queue.length) return Promise.resolve(this._queue.shift());
    if (this._state === "closed") return Promise.resolve({ value: undefined, done: true });
    if (this._state === "errored") return Promise.reject(this._error);
    const p = new Promise((resolve, reject) => this._waiters.push({ resolve, reject }));
    this._maybePull();
    return p;
  }
  getReader() { return new ReadableStreamDefaultReader(this); }
  async cancel(reason) {
    this._queue = [];
    this._close();
    if (this._source.cancel) await this._source.cancel(reason);
  }
  tee() {
    const reader = this.getReader();
    const branches = [];
    const pump = async () => {
      const r = await reader.read();
      for (const c of branches) { if (r.done) c.close(); else c.enqueue(r.value); }
    };
    for (let i = 0; i < 2; i++) branches.push(null);
    const make = (i) => new ReadableStream({ start(c) { branches[i] = c; }, pull: pump });
    return [make(0), make(1)];
  }
  pipeThrough(transform, options) {
    this.pipeTo(transform.writable, options).catch(() => {});
    return transform.readable;
  }
  async pipeTo(dest, options = {}) {
    const reader = this.getReader();
    const writer = dest.getWriter();
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        await writer.write(value);
      }
      if (!options.preventClose) await writer.close();
    } catch (e) {
      if (!options.preventAbort) await writer.abort(e);
      throw e;
    } finally {
      reader.releaseLock();
      writer.releaseLock();
    }
  }
  async *values() {
    const reader = this.getReader();
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return;
        yield value;
      }
    } finally { reader.releaseLock(); }
  }
  [Symbol.asyncIterator]() { return this.values(); }
}

class WritableStreamDefaultWriter {
  constructor(stream) {
    if (stream._locked) throw new TypeError("WritableStream is locked");
    stream._locked = true;
    this._stream = stream;
  }
  get ready() { return Promise.resolve(); }
  get closed() { return this._stream._closed; }
  get desiredSize() { return 1; }
  write(chunk) { return this._stream._enqueue(() => this._stream._sink.write && this._stream._sink.write(chunk, this._stream._controller)); }
  close() { return this._stream._enqueue(() => this._stream._sink.close && this._stream._sink.close()).then(() => this._stream._resolveClosed()); }
  abort(reason) { return Promise.resolve(this._stream._sink.abort && this._stream._sink.abort(reason)); }
  releaseLock() { if (this._stream) { this._stream._locked = false; this._stream = null; } }
}

export class WritableStream {
  constructor(sink = {}) {
    this._sink = sink;
    this._locked = false;
    this._chain = Promise.resolve();
    this._closed = new Promise((resolve) => { this._resolveClosed = resolve; });
    this._controller = { error: (e) => { this._error = e; }, signal: typeof AbortController === "function" ? new AbortController().signal : undefined };
    if (sink.start) this._chain = Promise.resolve(sink.start(this._controller));
  }
  get locked() { return this._locked; }
  _enqueue(op) {
    const next = this._chain.then(() => { if (this._error) throw this._error; return op(); });
    this._chain = next.catch(() => {});
    return next;
  }
  getWriter() { return new WritableStreamDefaultWriter(this); }
  abort(reason) { return Promise.resolve(this._sink.abort && this._sink.abort(reason)); }
  close() { return this.getWriter().close(); }
}

export class TransformStream {
  constructor(transformer = {}) {
    let readableController;
    this.readable = new ReadableStream({ start(c) { readableController = c; } });
    const controller = {
      enqueue: (chunk) => readableController.enqueue(chunk),
      error: (e) => readableController.error(e),
      terminate: () => readableController.close(),
      get desiredSize() { return 1; },
    };
    if (transformer.start) transformer.start(controller);
    this.writable = new WritableStream({
      write: (chunk) => (transformer.transform ? transformer.transform(chunk, controller) : controller.enqueue(chunk)),
      close: async () => { if (transformer.flush) await transformer.flush(controller); readableController.close(); },
      abort: (reason) => readableController.error(reason),
    });
  }
}

export class TextDecoderStream extends TransformStream {
  constructor(label = "utf-8", options = {}) {
    const decoder = new globalThis.TextDecoder(label, options);
    super({
      transform(chunk, c) { const s = decoder.decode(chunk, { stream: true }); if (s) c.enqueue(s); },
      flush(c) { const s = decoder.decode(); if (s) c.enqueue(s); },
    });
    this.encoding = decoder.encoding;
  }
}

export class TextEncoderStream extends TransformStream {
  constructor() {
    const encoder = new TextEncoder();
    super({ transform(chunk, c) { c.enqueue(encoder.encode(String(chunk))); } });
    this.encoding = "utf-8";
  }
}

export class ByteLengthQueuingStrategy { constructor({ highWaterMark }) { this.highWaterMark = highWaterMark; } size(c) { return c.byteLength; } }
export class CountQueuingStrategy { constructor({ highWaterMark }) { this.highWaterMark = highWaterMark; } size() { return 1; } }

export default { ReadableStream, WritableStream, TransformStream, TextDecoderStream, TextEncoderStream, ByteLengthQueuingStrategy, CountQueuingStrategy };
