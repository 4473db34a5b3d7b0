// string_decoder — the npm package `string_decoder` (Node's own implementation, published for browsers).
import lib from "string_decoder/lib/string_decoder.js";

export const { StringDecoder } = lib;
export default lib;
