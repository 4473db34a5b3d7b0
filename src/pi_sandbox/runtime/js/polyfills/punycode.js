// punycode — the npm package `punycode` (the code Node's own deprecated builtin is), unchanged.
import punycode from "punycode/punycode.es6.js";

export const { decode, encode, toASCII, toUnicode, ucs2, version } = punycode;
export default punycode;
