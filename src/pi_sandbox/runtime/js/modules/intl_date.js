// pi:intl-date — Intl.DateTimeFormat and Date.prototype.toLocale{,Date,Time}String the way Node 20 (full ICU)
// answers them for en-US, plus the numeric layouts of the few locales extensions pass to get a fixed shape
// (`en-CA` / `sv-SE` give ISO dates, `en-GB` / `de-DE` / `fr-FR` day-first). QuickJS-ng has no Intl, and its
// own Date#toLocale* ignore their options ("01/15/2024, 01:05:00 PM" for every call), so a status line that
// asked for `{hour: "2-digit", minute: "2-digit"}` showed seconds, and `{month: "short", day: "numeric"}` a
// numeric date. Month and weekday names are English whatever the locale (no locale data is shipped). Time zones:
// the worker's local time, or UTC for `timeZone: "UTC"` (other zones would need the tz database; they fall
// back to local time rather than fail).
const MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"];
const DAYS = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"];
const UTC_ZONES = new Set(["utc", "etc/utc", "gmt", "etc/gmt", "z", "zulu", "universal", "etc/universal"]);

// Numeric layouts per language/region: date order and separator, 24-hour clock or not.
const LAYOUTS = {
  "en-US": { order: "mdy", sep: "/", pad: false, h12: true },
  "en-GB": { order: "dmy", sep: "/", pad: true, h12: false },
  "en-AU": { order: "dmy", sep: "/", pad: true, h12: true },
  "en-IN": { order: "dmy", sep: "/", pad: false, h12: true },
  "en-CA": { order: "ymd", sep: "-", pad: true, h12: true },
  "sv-SE": { order: "ymd", sep: "-", pad: true, h12: false },
  "lt-LT": { order: "ymd", sep: "-", pad: true, h12: false },
  "de-DE": { order: "dmy", sep: ".", pad: false, h12: false },
  "fr-FR": { order: "dmy", sep: "/", pad: true, h12: false },
  "ja-JP": { order: "ymd", sep: "/", pad: false, h12: false },
  "zh-CN": { order: "ymd", sep: "/", pad: false, h12: false },
};
const LANGUAGE_DEFAULT = { en: "en-US", sv: "sv-SE", de: "de-DE", fr: "fr-FR", ja: "ja-JP", zh: "zh-CN", lt: "lt-LT" };

function pickLocale(locales) {
  const list = locales === undefined || locales === null ? [] : [].concat(locales);
  for (const tag of list) {
    const parts = String(tag).split(/[-_]/);
    const lang = (parts[0] || "").toLowerCase();
    const region = parts.slice(1).find((p) => /^[A-Za-z]{2}$/.test(p));
    const full = region ? `${lang}-${region.toUpperCase()}` : "";
    if (LAYOUTS[full]) return full;
    if (LANGUAGE_DEFAULT[lang]) return LANGUAGE_DEFAULT[lang];
  }
  return "en-US";
}

const DATE_FIELDS = ["weekday", "era", "year", "month", "day"];
const TIME_FIELDS = ["dayPeriod", "hour", "minute", "second", "fractionalSecondDigits"];

/** ECMA-402's ToDateTimeOptions: which fields a call with these options formats. */
function resolveFields(options, required, defaults) {
  const o = { ...options };
  if (o.dateStyle || o.timeStyle) return o;
  let need = true;
  if (required !== "time" && DATE_FIELDS.some((f) => o[f] !== undefined)) need = false;
  if (required !== "date" && TIME_FIELDS.some((f) => o[f] !== undefined)) need = false;
  if (need && (defaults === "date" || defaults === "all")) { o.year = "numeric"; o.month = "numeric"; o.day = "numeric"; }
  if (need && (defaults === "time" || defaults === "all")) { o.hour = "numeric"; o.minute = "numeric"; o.second = "numeric"; }
  return o;
}

const DATE_STYLES = {
  full: { weekday: "long", year: "numeric", month: "long", day: "numeric" },
  long: { year: "numeric", month: "long", day: "numeric" },
  medium: { year: "numeric", month: "short", day: "numeric" },
  short: { year: "2-digit", month: "numeric", day: "numeric" },
};
const TIME_STYLES = {
  full: { hour: "numeric", minute: "2-digit", second: "2-digit", timeZoneName: "long" },
  long: { hour: "numeric", minute: "2-digit", second: "2-digit", timeZoneName: "short" },
  medium: { hour: "numeric", minute: "2-digit", second: "2-digit" },
  short: { hour: "numeric", minute: "2-digit" },
};

const pad2 = (n) => String(n).padStart(2, "0");

export class DateTimeFormat {
  constructor(locales, options = {}) {
    const opts = options === undefined || options === null ? {} : Object(options);
    if ((opts.dateStyle || opts.timeStyle) && DATE_FIELDS.concat(TIME_FIELDS).some((f) => opts[f] !== undefined)) {
      throw new TypeError("Can't set option " + DATE_FIELDS.concat(TIME_FIELDS).find((f) => opts[f] !== undefined) + " when dateStyle is used");
    }
    this._locale = pickLocale(locales);
    this._layout = LAYOUTS[this._locale];
    const fields = resolveFields(opts, opts._required || "any", opts._defaults || "date");
    delete fields._required;
    delete fields._defaults;
    this._o = fields;
    this._utc = fields.timeZone !== undefined && UTC_ZONES.has(String(fields.timeZone).toLowerCase());
    const h12 = fields.hour12 !== undefined ? !!fields.hour12
      : fields.hourCycle ? fields.hourCycle === "h12" || fields.hourCycle === "h11" : this._layout.h12;
    this._h12 = h12;
    // Node 20 (ICU 74): `hour12: false` in a 12-hour locale picks the h24 cycle, so midnight is "24:09".
    this._h24 = fields.hour12 === false && fields.hourCycle === undefined && this._layout.h12;
  }

  formatToParts(date) {
    const d = date === undefined ? new Date() : date instanceof Date ? date : new Date(date);
    if (Number.isNaN(d.getTime())) throw new RangeError("Invalid time value");
    const utc = this._utc;
    const get = (m) => (utc ? d[`getUTC${m}`]() : d[`get${m}`]());
    const o = this._o;
    const ds = o.dateStyle ? DATE_STYLES[o.dateStyle] : o;
    const ts = o.timeStyle ? TIME_STYLES[o.timeStyle] : o.dateStyle ? {} : o;
    const parts = [];
    const lit = (value) => parts.push({ type: "literal", value });
    const part = (type, value) => parts.push({ type, value: String(value) });

    const hasDate = ["weekday", "year", "month", "day", "era"].some((f) => ds[f] !== undefined);
    const hasTime = ["hour", "minute", "second", "fractionalSecondDigits"].some((f) => ts[f] !== undefined);
    if (hasDate) this._dateParts(ds, get, part, lit);
    if (hasTime) {
      if (hasDate) lit(this._locale === "sv-SE" || this._locale === "lt-LT" ? " " : textual(ds) && (o.dateStyle === "full" || o.dateStyle === "long" || (!o.dateStyle && ds.month === "long")) ? " at " : ", ");
      this._timeParts(ts, get, part, lit);
    }
    const zone = ts.timeZoneName || o.timeZoneName;
    if (zone) {
      if (parts.length) lit(hasTime ? " " : ", ");
      part("timeZoneName", this._zoneName(zone, d));
    }
    return parts;
  }

  _dateParts(o, get, part, lit) {
    const y = get("FullYear"), m = get("Month"), day = get("Date"), wd = get("Day");
    const year = o.year === "2-digit" ? pad2(y % 100) : String(y);
    const weekday = o.weekday === undefined ? undefined : o.weekday === "long" ? DAYS[wd] : o.weekday === "narrow" ? DAYS[wd][0] : DAYS[wd].slice(0, 3);
    if (textual(o)) {
      // "Monday, January 15, 2024", "Jan 15", "January 2024", "Mon, Jan 15, 2024"
      const month = o.month === "long" ? MONTHS[m] : o.month === "narrow" ? MONTHS[m][0] : MONTHS[m].slice(0, 3);
      if (weekday) { part("weekday", weekday); if (o.month || o.day || o.year) lit(", "); }
      if (o.month) part("month", month);
      if (o.day !== undefined) { if (o.month) lit(" "); part("day", o.day === "2-digit" ? pad2(day) : day); }
      if (o.year !== undefined) { if (o.month || o.day !== undefined) lit(o.day !== undefined ? ", " : " "); part("year", year); }
      return;
    }
    const L = this._layout;
    const fields = [];
    const padded = (v, style) => (style === "2-digit" || (L.pad && style !== undefined && L.order !== "mdy") ? pad2(v) : String(v));
    if (o.month !== undefined) fields.push(["month", padded(m + 1, o.month)]);
    if (o.day !== undefined) fields.push(["day", padded(day, o.day)]);
    if (o.year !== undefined) fields.push(["year", year]);
    const rank = { y: "year", m: "month", d: "day" };
    const order = L.order.split("").map((c) => rank[c]);
    fields.sort((a, b) => order.indexOf(a[0]) - order.indexOf(b[0]));
    if (weekday) { part("weekday", weekday); if (fields.length) lit(", "); }
    fields.forEach(([type, value], i) => { if (i) lit(L.sep); part(type, value); });
  }

  _timeParts(o, get, part, lit) {
    const h = get("Hours");
    const fields = [];
    if (o.hour !== undefined) {
      const shown = this._h12 ? h % 12 || 12 : this._h24 ? h || 24 : h;
      fields.push(["hour", o.hour === "2-digit" || (!this._h12 && o.minute !== undefined) ? pad2(shown) : String(shown)]);
    }
    if (o.minute !== undefined) fields.push(["minute", o.hour !== undefined || o.minute === "2-digit" ? pad2(get("Minutes")) : String(get("Minutes"))]);
    if (o.second !== undefined) fields.push(["second", o.minute !== undefined || o.second === "2-digit" ? pad2(get("Seconds")) : String(get("Seconds"))]);
    fields.forEach(([type, value], i) => { if (i) lit(":"); part(type, value); });
    if (o.fractionalSecondDigits) {
      lit(".");
      part("fractionalSecond", String(get("Milliseconds")).padStart(3, "0").slice(0, Number(o.fractionalSecondDigits)));
    }
    // ICU puts a narrow no-break space before the day period; format() gives a plain space like Node's.
    if (this._h12 && o.hour !== undefined) { lit("\u202f"); part("dayPeriod", h < 12 ? "AM" : "PM"); }
  }

  _zoneName(style, d) {
    if (this._utc) return style === "long" ? "Coordinated Universal Time" : "UTC";
    const off = -d.getTimezoneOffset();
    if (off === 0) return style === "long" ? "Coordinated Universal Time" : "UTC";
    const sign = off < 0 ? "-" : "+";
    const hh = Math.floor(Math.abs(off) / 60), mm = Math.abs(off) % 60;
    return `GMT${sign}${hh}${mm ? ":" + pad2(mm) : ""}`;
  }

  format(date) { return this.formatToParts(date).map((p) => p.value).join("").replace(/\u202f/g, " "); }

  formatRange(a, b) { return `${this.format(a)} – ${this.format(b)}`; }

  resolvedOptions() {
    const o = { ...this._o };
    return {
      locale: this._locale, calendar: "gregory", numberingSystem: "latn",
      timeZone: this._utc ? "UTC" : (o.timeZone || localZone()), hourCycle: this._h12 ? "h12" : this._h24 ? "h24" : "h23", hour12: this._h12, ...o,
    };
  }

  static supportedLocalesOf(locales) { return [].concat(locales === undefined ? [] : locales).map(String).filter((l) => LAYOUTS[pickLocale(l)]); }
}

function textual(o) { return o.month === "long" || o.month === "short" || o.month === "narrow"; }

function localZone() {
  // The TZ the worker runs in; only UTC can be named without the tz database.
  return new Date(0).getTimezoneOffset() === 0 ? "UTC" : "Etc/Unknown";
}

/** Date.prototype.toLocale{String,DateString,TimeString} with Node's defaults, over DateTimeFormat. */
export function installDateLocale() {
  const define = (name, required, defaults) => {
    Object.defineProperty(Date.prototype, name, {
      value: {
        [name](locales, options) {
          if (Number.isNaN(this.getTime())) return "Invalid Date";
          const opts = options === undefined ? {} : Object(options);
          return new DateTimeFormat(locales, { ...opts, _required: required, _defaults: defaults }).format(this);
        },
      }[name],
      writable: true, configurable: true, enumerable: false,
    });
  };
  define("toLocaleString", "any", "all");
  define("toLocaleDateString", "date", "date");
  define("toLocaleTimeString", "time", "time");
}
