// querystring — the npm package `querystring-es3` (Node's querystring for browsers). Added here: `escape` /
// `unescape` (module-level in Node, absent from the package).
import lib from "querystring-es3/index.js";

export const { parse, stringify, decode, encode } = lib;
export const escape = (text) => encodeURIComponent(text);
export function unescape(text) {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}
export default { parse, stringify, decode, encode, escape, unescape };
