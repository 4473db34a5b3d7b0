// pi:web — small web-platform pieces QuickJS-ng (jsbox) lacks, installed by pi:globals:
// * TextDecoder that also streams (`{stream: true}`) and decodes latin1/ascii/windows-1252 and utf-16le
//   (the engine's own decoder is utf-8 only and ignores `stream`);
// * a minimal `Intl` (NumberFormat, DateTimeFormat, Segmenter, Collator, PluralRules, RelativeTimeFormat,
//   ListFormat) with en-US behaviour — enough for width math, number formatting and sorting in extensions;
// * Blob.
import { DateTimeFormat } from "pi:intl-date";

const NativeDecoder = globalThis.TextDecoder;
const nativeUtf8 = new NativeDecoder();

const LABELS = {
  "utf-8": "utf-8", utf8: "utf-8", "unicode-1-1-utf-8": "utf-8",
  latin1: "windows-1252", "iso-8859-1": "windows-1252", ascii: "windows-1252", "us-ascii": "windows-1252",
  "windows-1252": "windows-1252", "utf-16le": "utf-16le", "utf-16": "utf-16le", "unicode-1-1-utf-16": "utf-16le",
  "utf-16be": "utf-16be", "unicodefffe": "utf-16be",
};

function incompleteUtf8Tail(bytes) {
  // Number of trailing bytes that start a multi-byte sequence not finished yet.
  for (let back = 1; back <= Math.min(3, bytes.length); back++) {
    const b = bytes[bytes.length - back];
    if ((b & 0xc0) === 0x80) continue;
    const need = b >= 0xf0 ? 4 : b >= 0xe0 ? 3 : b >= 0xc0 ? 2 : 1;
    return need > back ? back : 0;
  }
  return 0;
}

function toBytes(input) {
  if (input === undefined) return new Uint8Array(0);
  if (input instanceof ArrayBuffer) return new Uint8Array(input);
  if (ArrayBuffer.isView(input)) return new Uint8Array(input.buffer, input.byteOffset, input.byteLength);
  throw new TypeError("The \"input\" argument must be an instance of ArrayBuffer or ArrayBufferView");
}

export class TextDecoder {
  constructor(label = "utf-8", options = {}) {
    const enc = LABELS[String(label).trim().toLowerCase()];
    if (!enc) throw new RangeError(`The "${label}" encoding is not supported`);
    this.encoding = enc;
    this.fatal = !!options.fatal;
    this.ignoreBOM = !!options.ignoreBOM;
    this._pending = new Uint8Array(0);
    this._bomSeen = false;
  }
  decode(input, options = {}) {
    let bytes = toBytes(input);
    if (this._pending.length) {
      const joined = new Uint8Array(this._pending.length + bytes.length);
      joined.set(this._pending);
      joined.set(bytes, this._pending.length);
      bytes = joined;
    }
    const stream = !!options.stream;
    let keep = 0;
    if (stream) keep = this.encoding === "utf-8" ? incompleteUtf8Tail(bytes) : this.encoding.startsWith("utf-16") ? bytes.length % 2 : 0;
    this._pending = keep ? bytes.slice(bytes.length - keep) : new Uint8Array(0);
    if (keep) bytes = bytes.subarray(0, bytes.length - keep);
    let text;
    if (this.encoding === "utf-8") {
      text = nativeUtf8.decode(bytes);
      if (this.fatal && text.includes("\uFFFD") && !hasEncodedReplacement(bytes)) {
        throw Object.assign(new TypeError("The encoded data was not valid for encoding utf-8"), { code: "ERR_ENCODING_INVALID_ENCODED_DATA" });
      }
    } else if (this.encoding === "utf-16le" || this.encoding === "utf-16be") {
      const [lo, hi] = this.encoding === "utf-16le" ? [0, 1] : [1, 0];  // byte order
      let s = "";
      for (let i = 0; i + 1 < bytes.length; i += 2) s += String.fromCharCode(bytes[i + lo] | (bytes[i + hi] << 8));
      text = s;
    } else {
      let s = "";
      for (let i = 0; i < bytes.length; i += 4096) s += String.fromCharCode.apply(null, Array.from(bytes.subarray(i, i + 4096)));
      text = s;
    }
    if (!this.ignoreBOM && !this._bomSeen && text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    if (text.length) this._bomSeen = true;
    if (!stream) this._bomSeen = false;
    return text;
  }
}

function hasEncodedReplacement(bytes) {
  for (let i = 0; i + 2 < bytes.length; i++) if (bytes[i] === 0xef && bytes[i + 1] === 0xbf && bytes[i + 2] === 0xbd) return true;
  return false;
}

// ---- Intl (en-US only) ------------------------------------------------------------------------------------
function group(intPart) { return intPart.replace(/\B(?=(\d{3})+(?!\d))/g, ","); }

class NumberFormat {
  constructor(locale, options = {}) {
    this._o = { style: "decimal", useGrouping: true, minimumFractionDigits: 0, ...options };
    if (this._o.maximumFractionDigits === undefined) {
      this._o.maximumFractionDigits = Math.max(this._o.minimumFractionDigits, this._o.style === "percent" ? 0 : this._o.style === "currency" ? 2 : 3);
    }
    if (this._o.style === "currency" && options.minimumFractionDigits === undefined) this._o.minimumFractionDigits = Math.min(2, this._o.maximumFractionDigits);
  }
  format(value) {
    let n = Number(value);
    const o = this._o;
    if (!Number.isFinite(n)) return Number.isNaN(n) ? "NaN" : n > 0 ? "∞" : "-∞";
    if (o.style === "percent") n *= 100;
    let suffix = "";
    if (o.notation === "compact") {
      const units = [[1e12, "T"], [1e9, "B"], [1e6, "M"], [1e3, "K"]];
      const hit = units.find(([d]) => Math.abs(n) >= d);
      if (hit) { n /= hit[0]; suffix = hit[1]; }
      const digits = Math.abs(n) < 100 ? 1 : 0;
      n = Number(n.toFixed(o.maximumFractionDigits === 3 ? digits : o.maximumFractionDigits));
    }
    const neg = n < 0;
    let [intPart, frac = ""] = Math.abs(n).toFixed(o.maximumFractionDigits).split(".");
    frac = frac.replace(/0+$/, "");
    while (frac.length < o.minimumFractionDigits) frac += "0";
    if (o.useGrouping !== false) intPart = group(intPart);
    let out = intPart + (frac ? "." + frac : "") + suffix;
    if (o.style === "percent") out += "%";
    if (o.style === "currency") out = (o.currency === "USD" || !o.currency ? "$" : `${o.currency} `) + out;
    if (o.style === "unit" && o.unit) out += ` ${o.unit}`;
    return (neg ? "-" : "") + out;
  }
  formatToParts(value) { return [{ type: "literal", value: this.format(value) }]; }
  resolvedOptions() { return { locale: "en-US", numberingSystem: "latn", ...this._o }; }
  static supportedLocalesOf() { return ["en-US"]; }
}

// DateTimeFormat (and Date#toLocale*): pi:intl-date.

const EXTEND = /[\u0300-\u036f\u0483-\u0489\u0591-\u05bd\u0610-\u061a\u064b-\u065f\u0e31\u0e34-\u0e3a\u0e47-\u0e4e\u1ab0-\u1aff\u1dc0-\u1dff\u200c\u200d\u20d0-\u20ff\ufe00-\ufe0f\ufe20-\ufe2f]|\ud83c[\udffb-\udfff]|\udb40[\udc20-\udc7f]/;

function graphemes(str) {
  const cps = Array.from(str);
  const out = [];
  for (let i = 0; i < cps.length; i++) {
    const cp = cps[i];
    const prevJoin = out.length && out[out.length - 1].endsWith("\u200d");
    const isRegional = /[\u{1F1E6}-\u{1F1FF}]/u.test(cp);
    const prevRegionalSingle = out.length && /^[\u{1F1E6}-\u{1F1FF}]$/u.test(out[out.length - 1]);
    if (out.length && (EXTEND.test(cp) || prevJoin || (isRegional && prevRegionalSingle) || (cp === "\n" && out[out.length - 1] === "\r"))) {
      out[out.length - 1] += cp;
    } else out.push(cp);
  }
  return out;
}

class Segmenter {
  constructor(locale, options = {}) { this._granularity = options.granularity || "grapheme"; }
  segment(input) {
    const str = String(input);
    const granularity = this._granularity;
    let pieces;
    if (granularity === "word") pieces = str.match(/[\p{L}\p{N}_'’]+|\s+|[^\p{L}\p{N}_\s]/gu) || [];
    else if (granularity === "sentence") pieces = str.match(/[^.!?]+[.!?]*\s*/g) || [];
    else pieces = graphemes(str);
    const segs = [];
    let index = 0;
    for (const segment of pieces) {
      const s = { segment, index, input: str };
      if (granularity === "word") s.isWordLike = /[\p{L}\p{N}]/u.test(segment);
      segs.push(s);
      index += segment.length;
    }
    return {
      [Symbol.iterator]: () => segs[Symbol.iterator](),
      containing: (i = 0) => segs.find((s) => i >= s.index && i < s.index + s.segment.length),
    };
  }
  resolvedOptions() { return { locale: "en-US", granularity: this._granularity }; }
  static supportedLocalesOf() { return ["en-US"]; }
}

class Collator {
  constructor(locale, options = {}) { this._o = options; }
  compare = (a, b) => {
    let x = String(a), y = String(b);
    if (this._o.sensitivity === "base" || this._o.sensitivity === "accent") { x = x.toLowerCase(); y = y.toLowerCase(); }
    if (this._o.sensitivity === "base") { x = x.normalize("NFD").replace(/[\u0300-\u036f]/g, ""); y = y.normalize("NFD").replace(/[\u0300-\u036f]/g, ""); }
    if (this._o.numeric) {
      const re = /(\d+|\D+)/g;
      const xs = x.match(re) || [], ys = y.match(re) || [];
      for (let i = 0; i < Math.min(xs.length, ys.length); i++) {
        const bothNum = /^\d/.test(xs[i]) && /^\d/.test(ys[i]);
        const c = bothNum ? Number(xs[i]) - Number(ys[i]) : xs[i] < ys[i] ? -1 : xs[i] > ys[i] ? 1 : 0;
        if (c) return c < 0 ? -1 : 1;
      }
      return xs.length - ys.length < 0 ? -1 : xs.length > ys.length ? 1 : 0;
    }
    return x < y ? -1 : x > y ? 1 : 0;
  };
  resolvedOptions() { return { locale: "en-US", usage: "sort", sensitivity: "variant", ...this._o }; }
  static supportedLocalesOf() { return ["en-US"]; }
}

class PluralRules {
  constructor(locale, options = {}) { this._type = options.type || "cardinal"; }
  select(n) {
    if (this._type === "ordinal") {
      const m10 = n % 10, m100 = n % 100;
      if (m10 === 1 && m100 !== 11) return "one";
      if (m10 === 2 && m100 !== 12) return "two";
      if (m10 === 3 && m100 !== 13) return "few";
      return "other";
    }
    return n === 1 ? "one" : "other";
  }
  resolvedOptions() { return { locale: "en-US", type: this._type }; }
  static supportedLocalesOf() { return ["en-US"]; }
}

class RelativeTimeFormat {
  constructor(locale, options = {}) { this._o = options; }
  format(value, unit) {
    const u = String(unit).replace(/s$/, "");
    const n = Math.abs(value);
    if (this._o.numeric === "auto" && u === "day" && (value === 0 || n === 1)) return value === 0 ? "today" : value > 0 ? "tomorrow" : "yesterday";
    const label = `${n} ${u}${n === 1 ? "" : "s"}`;
    return value < 0 || Object.is(value, -0) ? `${label} ago` : `in ${label}`;
  }
  static supportedLocalesOf() { return ["en-US"]; }
}

class ListFormat {
  constructor(locale, options = {}) { this._o = options; }
  format(list) {
    const items = [...list].map(String);
    const word = this._o.type === "disjunction" ? "or" : "and";
    if (items.length <= 1) return items.join("");
    if (items.length === 2) return `${items[0]} ${word} ${items[1]}`;
    return `${items.slice(0, -1).join(", ")}, ${word} ${items[items.length - 1]}`;
  }
  static supportedLocalesOf() { return ["en-US"]; }
}

class Locale {
  constructor(tag, options = {}) {
    const [language = "en", ...rest] = String(tag).split(/[-_]/);
    const region = rest.find((p) => /^[A-Za-z]{2}$|^\d{3}$/.test(p));
    this.language = options.language || language.toLowerCase();
    this.region = options.region || (region ? region.toUpperCase() : undefined);
    this.baseName = this.region ? `${this.language}-${this.region}` : this.language;
  }
  maximize() { return this; }
  minimize() { return this; }
  toString() { return this.baseName; }
}

class DisplayNames {
  constructor(locale, options = {}) {
    if (!options || !options.type) throw new TypeError("Intl.DisplayNames requires options.type");
    this._o = options;
  }
  of(code) { return String(code); }
  resolvedOptions() { return { locale: "en-US", style: "long", fallback: "code", ...this._o }; }
  static supportedLocalesOf() { return ["en-US"]; }
}

// ECMA-402: NumberFormat, DateTimeFormat and Collator are callable without `new` (legacy constructors) and
// their `format` / `compare` are bound to the instance (`list.map(nf.format)`); the newer constructors
// (PluralRules, Segmenter, RelativeTimeFormat, ListFormat, DisplayNames, Locale) throw a TypeError without `new`.
function legacyConstructor(Impl, bound) {
  function Ctor(locales, options) {
    const instance = new Impl(locales, options === undefined ? {} : options);
    for (const name of bound) instance[name] = Impl.prototype[name] ? Impl.prototype[name].bind(instance) : instance[name];
    return instance;
  }
  Ctor.prototype = Impl.prototype;
  Object.defineProperty(Impl.prototype, "constructor", { value: Ctor, writable: true, configurable: true });
  Object.defineProperty(Ctor, "name", { value: Impl.name });
  Ctor.supportedLocalesOf = Impl.supportedLocalesOf;
  return Ctor;
}

export const Intl = {
  NumberFormat: legacyConstructor(NumberFormat, ["format"]),
  DateTimeFormat: legacyConstructor(DateTimeFormat, ["format"]),
  Collator: legacyConstructor(Collator, ["compare"]),
  Segmenter, PluralRules, RelativeTimeFormat, ListFormat, DisplayNames, Locale,
  getCanonicalLocales: (l) => (l === undefined ? [] : [].concat(l).map(String)),
  supportedValuesOf: () => [],
};

export class Blob {
  constructor(parts = [], options = {}) {
    const enc = new TextEncoder();
    const chunks = parts.map((p) => (typeof p === "string" ? enc.encode(p) : p instanceof Blob ? p._bytes : toBytes(p)));
    const total = chunks.reduce((n, c) => n + c.length, 0);
    this._bytes = new Uint8Array(total);
    let off = 0;
    for (const c of chunks) { this._bytes.set(c, off); off += c.length; }
    this.type = String(options.type || "").toLowerCase();
  }
  get size() { return this._bytes.length; }
  async text() { return nativeUtf8.decode(this._bytes); }
  async arrayBuffer() { return this._bytes.slice().buffer; }
  async bytes() { return this._bytes.slice(); }
  slice(start, end, type) { const b = new Blob([this._bytes.slice(start, end)], { type }); return b; }
}

export class File extends Blob {
  constructor(parts, name, options = {}) {
    super(parts, options);
    this.name = String(name);
    this.lastModified = options.lastModified === undefined ? Date.now() : Number(options.lastModified);
  }
}

/** WHATWG FormData (string and Blob/File entries; a Blob value becomes a File, as in Node). */
export class FormData {
  constructor(form) {
    if (form !== undefined) throw new TypeError("FormData: a form element cannot exist outside a browser");
    Object.defineProperty(this, "_entries", { value: [], enumerable: false });
  }
  static _value(value, filename) {
    if (value instanceof Blob) {
      return value instanceof File && filename === undefined ? value
        : new File([value], filename !== undefined ? filename : value instanceof File ? value.name : "blob", { type: value.type });
    }
    return String(value);
  }
  append(name, value, filename) { this._entries.push([String(name), FormData._value(value, filename)]); }
  set(name, value, filename) {
    const key = String(name), entry = [key, FormData._value(value, filename)];
    const first = this._entries.findIndex(([k]) => k === key);
    if (first < 0) { this._entries.push(entry); return; }
    this._entries.splice(first, 1, entry);
    for (let i = this._entries.length - 1; i > first; i--) if (this._entries[i][0] === key) this._entries.splice(i, 1);
  }
  get(name) { const e = this._entries.find(([k]) => k === String(name)); return e ? e[1] : null; }
  getAll(name) { return this._entries.filter(([k]) => k === String(name)).map(([, v]) => v); }
  has(name) { return this._entries.some(([k]) => k === String(name)); }
  delete(name) { for (let i = this._entries.length - 1; i >= 0; i--) if (this._entries[i][0] === String(name)) this._entries.splice(i, 1); }
  forEach(fn, thisArg) { for (const [k, v] of this._entries) fn.call(thisArg, v, k, this); }
  *entries() { yield* this._entries.map(([k, v]) => [k, v]); }
  *keys() { for (const [k] of this._entries) yield k; }
  *values() { for (const [, v] of this._entries) yield v; }
  [Symbol.iterator]() { return this.entries(); }
  get [Symbol.toStringTag]() { return "FormData"; }
}

/** Number#toLocaleString with en-US grouping (the engine prints plain digits). */
export { installDateLocale } from "pi:intl-date";

export function installNumberLocale() {
  const fmt = (n, locale, options) => new NumberFormat(locale, options).format(n);
  Object.defineProperty(Number.prototype, "toLocaleString", {
    value: function toLocaleString(locale, options) { return fmt(this.valueOf(), locale, options); },
    writable: true, configurable: true,
  });
}

// ---- Event / EventTarget (web globals; AbortSignal is an EventTarget) -------------------------------------------
export class Event {
  constructor(type, init = {}) {
    this.type = type;
    this.bubbles = !!init.bubbles;
    this.cancelable = !!init.cancelable;
    this.defaultPrevented = false;
    this.timeStamp = Date.now();
    this.target = null;
  }
  preventDefault() { if (this.cancelable) this.defaultPrevented = true; }
  stopPropagation() {}
  stopImmediatePropagation() { this._stop = true; }
}

export class CustomEvent extends Event {
  constructor(type, init = {}) { super(type, init); this.detail = init.detail === undefined ? null : init.detail; }
}

export class EventTarget {
  constructor() { Object.defineProperty(this, "_listeners", { value: new Map(), enumerable: false }); }
  addEventListener(type, fn, opts) {
    if (!fn) return;
    const list = this._listeners.get(type) || [];
    if (list.some((e) => e.fn === fn)) return;
    list.push({ fn, once: !!(opts && typeof opts === "object" && opts.once) });
    this._listeners.set(type, list);
  }
  removeEventListener(type, fn) {
    const list = this._listeners.get(type);
    if (list) this._listeners.set(type, list.filter((e) => e.fn !== fn));
  }
  dispatchEvent(event) {
    if (!event.target) event.target = this;
    for (const entry of (this._listeners.get(event.type) || []).slice()) {
      if (entry.once) this.removeEventListener(event.type, entry.fn);
      if (typeof entry.fn === "function") entry.fn.call(this, event);
      else entry.fn.handleEvent(event);
      if (event._stop) break;
    }
    const handler = this[`on${event.type}`];
    if (typeof handler === "function") handler.call(this, event);
    return !event.defaultPrevented;
  }
}

