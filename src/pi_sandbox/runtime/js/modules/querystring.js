// node:querystring
export function escape(s) { return encodeURIComponent(s); }
export function unescape(s) { try { return decodeURIComponent(s); } catch { return s; } }
export function parse(str, sep = "&", eq = "=") {
  const out = Object.create(null);
  for (const part of String(str || "").split(sep)) {
    if (!part) continue;
    const i = part.indexOf(eq);
    const k = unescape((i === -1 ? part : part.slice(0, i)).replace(/\+/g, " "));
    const v = i === -1 ? "" : unescape(part.slice(i + eq.length).replace(/\+/g, " "));
    if (k in out) out[k] = [].concat(out[k], v);
    else out[k] = v;
  }
  return out;
}
export function stringify(obj, sep = "&", eq = "=") {
  if (!obj || typeof obj !== "object") return "";
  return Object.keys(obj).flatMap((k) => [].concat(obj[k]).map((v) => `${escape(k)}${eq}${escape(v === undefined || v === null ? "" : String(v))}`)).join(sep);
}
export const decode = parse;
export const encode = stringify;
export default { parse, stringify, escape, unescape, decode, encode };
