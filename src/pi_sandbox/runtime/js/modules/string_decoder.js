// node:string_decoder — incremental decoding that keeps partial multi-byte sequences between writes.
import { Buffer } from "buffer";

export class StringDecoder {
  constructor(encoding = "utf8") {
    this.encoding = String(encoding).toLowerCase().replace("-", "");
    this._pending = new Uint8Array(0);
  }
  write(buf) {
    if (typeof buf === "string") return buf;
    let bytes = Buffer.concat([Buffer.from(this._pending), Buffer.from(buf)]);
    if (this.encoding !== "utf8") {
      const unit = this.encoding === "utf16le" || this.encoding === "ucs2" ? 2 : this.encoding === "base64" ? 3 : 1;
      const cut = bytes.length - (bytes.length % unit);
      this._pending = bytes.subarray(cut);
      return bytes.subarray(0, cut).toString(this.encoding);
    }
    // Hold back an incomplete trailing UTF-8 sequence.
    let keep = 0;
    for (let i = bytes.length - 1; i >= 0 && i >= bytes.length - 4; i--) {
      const b = bytes[i];
      if ((b & 0xc0) === 0x80) continue;
      const need = b >= 0xf0 ? 4 : b >= 0xe0 ? 3 : b >= 0xc0 ? 2 : 1;
      if (bytes.length - i < need) keep = bytes.length - i;
      break;
    }
    this._pending = bytes.subarray(bytes.length - keep);
    bytes = bytes.subarray(0, bytes.length - keep);
    return bytes.toString("utf8");
  }
  end(buf) {
    const head = buf ? this.write(buf) : "";
    const rest = this._pending.length ? Buffer.from(this._pending).toString(this.encoding) : "";
    this._pending = new Uint8Array(0);
    return head + rest;
  }
}
export default { StringDecoder };
