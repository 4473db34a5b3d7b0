// pi:tui-extras — the value exports newer pi-tui releases (1.x, under @earendil-works) added. Every upstream name
// has a value (a missing ES import stops the whole extension from loading): text helpers are implemented,
// layout components render nothing (an extension runs headless; its UI reaches the operator as text), and
// terminal-device access (native clipboard, screen modes) throws ERR_NOT_SUPPORTED when used.
// pi-tui re-exports this module, so nothing of it is used while this module evaluates (a cycle): only inside
// functions, which run later.
import { stripAnsi, visibleWidth } from "@mariozechner/pi-tui";

function notInExtensions(name) {
  const fn = function () {
    throw Object.assign(new Error(`pi-sandbox: ${name} needs the terminal, which extensions do not own`), { code: "ERR_NOT_SUPPORTED" });
  };
  Object.defineProperty(fn, "name", { value: name });
  return fn;
}

// ---- layout components: render nothing ------------------------------------------------------------------------
class Stack {
  constructor() { this.children = []; }
  addChild(c) { this.children.push(c); return this; }
  removeChild(c) { const i = this.children.indexOf(c); if (i >= 0) this.children.splice(i, 1); }
  clear() { this.children = []; }
  invalidate() { for (const c of this.children) c?.invalidate?.(); }
  render(width) { return this.children.flatMap((c) => (c && typeof c.render === "function" ? c.render(width) : [])); }
}
export class HStack extends Stack {}
export class VStack extends Stack {}
export class ScrollView extends Stack {}
export class MouseRegion extends Stack {}
export class Marked { constructor(text = "") { this.text = String(text); } render() { return []; } invalidate() {} }
export const TuiAltScreen = Object.freeze({ kind: "alt" });
export const TuiMainScreen = Object.freeze({ kind: "main" });
export function isViewportTUI() { return false; }

// ---- text and colour helpers ----------------------------------------------------------------------------------
const TERMINAL_SEQ = /\u001b\[[0-?]*[ -\/]*[@-~]|\u001b\][^\u0007\u001b]*(?:\u0007|\u001b\\)|\u001b_[^\u0007\u001b]*(?:\u0007|\u001b\\)|\u001b[@-Z\\-_]/g;
export function stripTerminalSequences(text) { return String(text).replace(TERMINAL_SEQ, ""); }
export function replaceControlCharacters(text, replacement = "") {
  return String(text).replace(/[\u0000-\u0008\u000b-\u001f\u007f]/g, replacement);
}
export function sliceByColumn(text, start, end) {
  const plain = stripAnsi(String(text));
  let out = "", col = 0;
  for (const ch of plain) {
    const w = visibleWidth(ch);
    if (col >= start && (end === undefined || col + w <= end)) out += ch;
    col += w;
  }
  return out;
}
export function compositeTuiLine(base) { return String(base ?? ""); }
export function renderFakeCursor(text) { return String(text ?? ""); }
export function getOsc8LinkAtColumn() { return undefined; }
export function getSelectPageIndex(index, pageSize) { return pageSize > 0 ? Math.floor(index / pageSize) : 0; }
export function formatProgramStatus(status) { return String(status ?? ""); }
export function styleText(_style, text) { return String(text ?? ""); }
export function styleTextWithAnsi(_style, text) { return String(text ?? ""); }
export function foregroundAnsi() { return ""; }
export function backgroundAnsi() { return ""; }
export function renderLatex(text) { return String(text ?? ""); }
export function getTerminalColorMode() { return "none"; }
export function isAppleTerminalSession() { return false; }
export function parseTerminalColorSchemeReport() { return undefined; }
export function setCapabilityOverrides() {}
export function setImageTranscoder() {}

function hex2(n) { return Math.max(0, Math.min(255, Math.round(n))).toString(16).padStart(2, "0"); }
export function rgbColor(r, g, b) { return { kind: "rgb", r, g, b }; }
export function indexedColor(index) { return { kind: "indexed", index }; }
export function oklchColor(l, c, h) { return { kind: "oklch", l, c, h }; }
export function okhslColor(h, s, l) { return { kind: "okhsl", h, s, l }; }
export function parseColor(text) {
  const m = /^#?([0-9a-f]{6})$/i.exec(String(text ?? "").trim());
  if (!m) return undefined;
  const n = parseInt(m[1], 16);
  return rgbColor((n >> 16) & 255, (n >> 8) & 255, n & 255);
}
export function colorToRgb(color) { return color && color.kind === "rgb" ? { r: color.r, g: color.g, b: color.b } : undefined; }
export function colorToHex(color) { const c = colorToRgb(color); return c ? `#${hex2(c.r)}${hex2(c.g)}${hex2(c.b)}` : undefined; }
export function colorToOklch() { return undefined; }
export function colorToOkhsl() { return undefined; }
export function oklabToOkhslLightness(l) { return l; }
export function mixColors(a) { return a; }

// ---- terminal devices -----------------------------------------------------------------------------------------
export const getNativeClipboard = notInExtensions("getNativeClipboard");
