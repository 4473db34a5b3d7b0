// node:url — a WHATWG-style URL / URLSearchParams (QuickJS-ng has neither), plus fileURLToPath,
// pathToFileURL and the legacy parse/format/resolve. Pragmatic parser: special schemes get an authority
// (user:pass@host:port), others keep an opaque path. No IDNA/punycode (hosts are lower-cased only).

const SPECIAL = { "http:": "80", "https:": "443", "ws:": "80", "wss:": "443", "ftp:": "21", "file:": "" };

function pctEncode(str, keep) {
  let out = "";
  for (const ch of str) {
    if (keep.test(ch)) out += ch;
    else for (const b of new TextEncoder().encode(ch)) out += "%" + b.toString(16).toUpperCase().padStart(2, "0");
  }
  return out;
}
const PATH_KEEP = /[A-Za-z0-9\-._~!$&'()*+,;=:@/%]/;
const QUERY_KEEP = /[A-Za-z0-9\-._~!$&'()*+,;=:@/?%]/;
const FORM_KEEP = /[A-Za-z0-9*\-._]/;

function normalizePath(path) {
  const out = [];
  const segs = path.split("/");
  for (let i = 0; i < segs.length; i++) {
    const s = segs[i];
    const last = i === segs.length - 1;
    if (s === "." || s.toLowerCase() === "%2e") { if (last) out.push(""); continue; }
    if (s === ".." || /^(\.|%2e){2}$/i.test(s)) {
      if (out.length > 1) out.pop();
      if (last) out.push("");
      continue;
    }
    out.push(s);
  }
  let p = out.join("/");
  if (!p.startsWith("/")) p = "/" + p;
  return p;
}

function invalid(input) {
  const err = new TypeError(`Invalid URL: ${input}`);
  err.code = "ERR_INVALID_URL";
  err.input = input;
  return err;
}

export class URLSearchParams {
  constructor(init) {
    this._list = [];
    this._url = null;
    if (init === undefined || init === null) return;
    if (typeof init === "string") this._parse(init);
    else if (init instanceof URLSearchParams) this._list = init._list.map((p) => [...p]);
    else if (typeof init[Symbol.iterator] === "function") for (const [k, v] of init) this._list.push([String(k), String(v)]);
    else for (const k of Object.keys(init)) this._list.push([k, String(init[k])]);
  }
  _parse(str) {
    this._list = [];
    if (str.startsWith("?")) str = str.slice(1);
    for (const part of str.split("&")) {
      if (!part) continue;
      const eq = part.indexOf("=");
      const dec = (s) => { try { return decodeURIComponent(s.replace(/\+/g, " ")); } catch { return s; } };
      this._list.push(eq === -1 ? [dec(part), ""] : [dec(part.slice(0, eq)), dec(part.slice(eq + 1))]);
    }
  }
  _update() { if (this._url) this._url._query = this._list.length ? "?" + this.toString() : ""; }
  get size() { return this._list.length; }
  append(k, v) { this._list.push([String(k), String(v)]); this._update(); }
  delete(k, v) { this._list = this._list.filter(([a, b]) => a !== k || (v !== undefined && b !== String(v))); this._update(); }
  get(k) { const p = this._list.find(([a]) => a === k); return p ? p[1] : null; }
  getAll(k) { return this._list.filter(([a]) => a === k).map((p) => p[1]); }
  has(k, v) { return this._list.some(([a, b]) => a === k && (v === undefined || b === String(v))); }
  set(k, v) {
    const i = this._list.findIndex(([a]) => a === k);
    if (i === -1) this._list.push([String(k), String(v)]);
    else { this._list[i][1] = String(v); this._list = this._list.filter(([a], j) => a !== k || j === i); }
    this._update();
  }
  sort() { this._list.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)); this._update(); }
  forEach(fn, thisArg) { for (const [k, v] of this._list) fn.call(thisArg, v, k, this); }
  keys() { return this._list.map((p) => p[0])[Symbol.iterator](); }
  values() { return this._list.map((p) => p[1])[Symbol.iterator](); }
  entries() { return this._list.map((p) => [...p])[Symbol.iterator](); }
  [Symbol.iterator]() { return this.entries(); }
  toString() {
    const enc = (s) => pctEncode(s, FORM_KEEP).replace(/%20/g, "+");
    return this._list.map(([k, v]) => `${enc(k)}=${enc(v)}`).join("&");
  }
}

export class URL {
  constructor(input, base) {
    input = String(input).trim();
    const m = /^([A-Za-z][A-Za-z0-9+.-]*):(.*)$/s.exec(input);
    if (m) this._parseAbsolute(m[1].toLowerCase() + ":", m[2], input);
    else {
      if (base === undefined) throw invalid(input);
      const b = base instanceof URL ? base : new URL(base);
      this._resolve(b, input);
    }
  }
  static canParse(input, base) { try { new URL(input, base); return true; } catch { return false; } }
  static parse(input, base) { try { return new URL(input, base); } catch { return null; } }

  _init(protocol) {
    this._protocol = protocol;
    this._username = ""; this._password = ""; this._hostname = ""; this._port = "";
    this._path = ""; this._query = ""; this._hash = "";
    this._special = protocol in SPECIAL;
  }
  _parseAbsolute(protocol, rest, input) {
    this._init(protocol);
    rest = rest.replace(/\\/g, this._special ? "/" : "\\");
    const hashAt = rest.indexOf("#");
    if (hashAt !== -1) { this._hash = "#" + pctEncode(rest.slice(hashAt + 1), QUERY_KEEP); rest = rest.slice(0, hashAt); }
    const qAt = rest.indexOf("?");
    if (qAt !== -1) { this._query = "?" + pctEncode(rest.slice(qAt + 1), QUERY_KEEP); rest = rest.slice(0, qAt); }
    if (this._special || rest.startsWith("//")) {
      // http:/x and http:x mean http://x; file: keeps an empty host for file:///path and file:/path.
      if (protocol === "file:") rest = rest.startsWith("//") ? rest : "//" + (rest.startsWith("/") ? rest : "/" + rest);
      else if (this._special) rest = rest.replace(/^\/*/, "//");
      const auth = /^\/\/([^/]*)(.*)$/s.exec(rest);
      this._parseAuthority(auth[1], input);
      this._path = auth[2] === "" && this._special ? "/" : normalizePath(pctEncode(auth[2] || "/", PATH_KEEP));
      if (auth[2] === "" && !this._special) this._path = "";
      if (this._special && protocol !== "file:" && !this._hostname) throw invalid(input);
    } else {
      this._opaque = true;
      this._path = rest;
    }
  }
  _parseAuthority(auth, input) {
    const at = auth.lastIndexOf("@");
    if (at !== -1) {
      const cred = auth.slice(0, at);
      auth = auth.slice(at + 1);
      const colon = cred.indexOf(":");
      this._username = pctEncode(colon === -1 ? cred : cred.slice(0, colon), /[A-Za-z0-9\-._~!$&'()*+,;=%]/);
      this._password = colon === -1 ? "" : pctEncode(cred.slice(colon + 1), /[A-Za-z0-9\-._~!$&'()*+,;=%]/);
    }
    const pm = /^(\[[^\]]*\]|[^:]*)(?::(\d*))?$/.exec(auth);
    if (!pm) throw invalid(input);
    const host = pm[1].toLowerCase();
    if (/[\s<>^|%]/.test(host) && !host.startsWith("[")) throw invalid(input);
    this._hostname = this._protocol === "file:" && host === "localhost" ? "" : host; // file://localhost/x is file:///x
    const port = pm[2] || "";
    if (port && Number(port) > 65535) throw invalid(input);
    this._port = port && SPECIAL[this._protocol] === String(Number(port)) ? "" : port ? String(Number(port)) : "";
  }
  _resolve(b, input) {
    this._init(b._protocol);
    if (b._opaque && !input.startsWith("#")) throw invalid(input);
    this._username = b._username; this._password = b._password;
    this._hostname = b._hostname; this._port = b._port;
    input = this._special ? input.replace(/\\/g, "/") : input;
    if (input.startsWith("//")) { this._parseAbsolute(b._protocol, input, input); return; }
    let rest = input;
    const hashAt = rest.indexOf("#");
    if (hashAt !== -1) { this._hash = "#" + pctEncode(rest.slice(hashAt + 1), QUERY_KEEP); rest = rest.slice(0, hashAt); }
    const qAt = rest.indexOf("?");
    let q = null;
    if (qAt !== -1) { q = "?" + pctEncode(rest.slice(qAt + 1), QUERY_KEEP); rest = rest.slice(0, qAt); }
    if (rest === "") {
      this._path = b._path; this._opaque = b._opaque;
      this._query = q !== null ? q : b._query;
      return;
    }
    this._query = q || "";
    const encoded = pctEncode(rest, PATH_KEEP);
    if (encoded.startsWith("/")) this._path = normalizePath(encoded);
    else this._path = normalizePath(b._path.slice(0, b._path.lastIndexOf("/") + 1) + encoded);
  }

  get protocol() { return this._protocol; }
  set protocol(v) { const p = String(v).replace(/:.*$/, "").toLowerCase() + ":"; if ((p in SPECIAL) === this._special) this._protocol = p; }
  get username() { return this._username; }
  set username(v) { this._username = pctEncode(String(v), /[A-Za-z0-9\-._~!$&'()*+,;=%]/); }
  get password() { return this._password; }
  set password(v) { this._password = pctEncode(String(v), /[A-Za-z0-9\-._~!$&'()*+,;=%]/); }
  get hostname() { return this._hostname; }
  set hostname(v) { this._hostname = String(v).toLowerCase(); }
  get port() { return this._port; }
  set port(v) { const s = String(v); this._port = s === "" || SPECIAL[this._protocol] === s ? "" : String(parseInt(s, 10) || ""); }
  get host() { return this._hostname + (this._port ? ":" + this._port : ""); }
  set host(v) { const [h, p] = String(v).split(":"); this.hostname = h; if (p !== undefined) this.port = p; }
  get origin() { return this._special && this._protocol !== "file:" ? `${this._protocol}//${this.host}` : "null"; }
  get pathname() { return this._path; }
  set pathname(v) { if (!this._opaque) this._path = normalizePath(pctEncode(String(v), PATH_KEEP)); }
  get search() { return this._query.length > 1 ? this._query : ""; }
  set search(v) {
    const s = String(v);
    this._query = s === "" ? "" : "?" + pctEncode(s.replace(/^\?/, ""), QUERY_KEEP);
    if (this._sp) this._sp._parse(this._query);
  }
  get searchParams() {
    if (!this._sp) { this._sp = new URLSearchParams(this._query); this._sp._url = this; }
    return this._sp;
  }
  get hash() { return this._hash.length > 1 ? this._hash : ""; }
  set hash(v) { const s = String(v); this._hash = s === "" ? "" : "#" + pctEncode(s.replace(/^#/, ""), QUERY_KEEP); }
  get href() {
    const cred = this._username || this._password ? `${this._username}${this._password ? ":" + this._password : ""}@` : "";
    const auth = this._opaque ? "" : `//${cred}${this.host}`;
    return `${this._protocol}${auth}${this._path}${this._query}${this._hash}`;
  }
  set href(v) { const u = new URL(v); Object.assign(this, u); this._sp = undefined; }
  toString() { return this.href; }
  toJSON() { return this.href; }
}

export function fileURLToPath(u) {
  const url = typeof u === "string" ? new URL(u) : u;
  if (!url || url.protocol !== "file:") {
    throw Object.assign(new TypeError("The URL must be of scheme file"), { code: "ERR_INVALID_URL_SCHEME" });
  }
  if (url.hostname && url.hostname !== "localhost") {
    throw Object.assign(new TypeError('File URL host must be "localhost" or empty on linux'), { code: "ERR_INVALID_FILE_URL_HOST" });
  }
  if (/%2f/i.test(url.pathname)) {
    throw Object.assign(new TypeError("File URL path must not include encoded / characters"), { code: "ERR_INVALID_FILE_URL_PATH" });
  }
  return decodeURIComponent(url.pathname);
}

export function pathToFileURL(p) {
  let abs = String(p);
  if (!abs.startsWith("/")) {
    const cwd = globalThis.process && globalThis.process.cwd ? globalThis.process.cwd() : "/";
    abs = `${cwd.replace(/\/$/, "")}/${abs}`;
  }
  const u = new URL("file://");
  u.pathname = abs.replace(/%/g, "%25").replace(/#/g, "%23").replace(/\?/g, "%3F");
  return u;
}

// Legacy API (url.parse / url.format / url.resolve), mapped onto the WHATWG parser.
export function parse(str, parseQuery = false) {
  let u;
  try { u = new URL(str); } catch { u = null; }
  if (!u) {
    const [pathname, query = null] = String(str).split("?");
    return { protocol: null, host: null, hostname: null, port: null, pathname, search: query === null ? null : "?" + query,
      query: parseQuery ? Object.fromEntries(new URLSearchParams(query || "")) : query, hash: null, href: str, path: str };
  }
  return {
    protocol: u.protocol, slashes: !u._opaque, auth: u.username ? `${u.username}${u.password ? ":" + u.password : ""}` : null,
    host: u.host, port: u.port || null, hostname: u.hostname, hash: u.hash || null, search: u.search || null,
    query: parseQuery ? Object.fromEntries(u.searchParams) : (u.search ? u.search.slice(1) : null),
    pathname: u.pathname, path: u.pathname + u.search, href: u.href,
  };
}
export function format(obj) {
  if (obj instanceof URL) return obj.href;
  if (typeof obj === "string") return obj;
  const proto = obj.protocol ? (obj.protocol.endsWith(":") ? obj.protocol : obj.protocol + ":") : "";
  const host = obj.host || (obj.hostname ? obj.hostname + (obj.port ? ":" + obj.port : "") : "");
  let search = obj.search || "";
  if (!search && obj.query && typeof obj.query === "object") {
    // Node's legacy url.format encodes the query with querystring (space → %20), not URLSearchParams (+).
    const q = Object.entries(obj.query).flatMap(([k, v]) => [].concat(v).map((x) => `${encodeURIComponent(k)}=${encodeURIComponent(x ?? "")}`)).join("&");
    if (q) search = "?" + q;
  }
  return `${proto}${host || proto === "file:" ? "//" : ""}${host}${obj.pathname || ""}${search}${obj.hash || ""}`;
}
export function resolve(from, to) { return new URL(to, new URL(from, "resolve://")).href.replace(/^resolve:\/\//, ""); }
export function domainToASCII(d) { return String(d).toLowerCase(); }
export function domainToUnicode(d) { return String(d); }
export function urlToHttpOptions(u) {
  return { protocol: u.protocol, hostname: u.hostname, hash: u.hash, search: u.search, pathname: u.pathname,
    path: `${u.pathname}${u.search}`, href: u.href, port: u.port ? Number(u.port) : undefined };
}

export default { URL, URLSearchParams, fileURLToPath, pathToFileURL, parse, format, resolve, domainToASCII,
  domainToUnicode, urlToHttpOptions };
