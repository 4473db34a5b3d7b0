// @mariozechner/pi-tui — headless implementation. Components keep pi-tui's contract (`render(width)` returns
// an array of lines, `invalidate()`, optional `handleInput(data)`), but nothing draws to a terminal: the host
// has no TTY, and `TUI` only records what would be shown. Width math is ANSI-aware and treats East Asian wide
// characters and emoji as two cells.

// ---- width / ANSI utilities ---------------------------------------------------------------------------------
const ANSI_RE = /\u001b\[[0-9;?]*[ -/]*[@-~]|\u001b\][^\u0007\u001b]*(?:\u0007|\u001b\\)|\u001b[@-Z\\-_]/g;

export function stripAnsi(text) { return String(text).replace(ANSI_RE, ""); }

function charWidth(cp) {
  if (cp === 0 || cp < 32 || (cp >= 0x7f && cp < 0xa0)) return 0;
  if (cp >= 0x1f3fb && cp <= 0x1f3ff) return 0; // skin-tone modifiers join the emoji before them
  if (cp >= 0x1f1e6 && cp <= 0x1f1ff) return 1; // a regional-indicator pair (a flag) is two cells
  if ((cp >= 0x300 && cp <= 0x36f) || (cp >= 0x200b && cp <= 0x200f) || cp === 0xfe0f || cp === 0x200d) return 0;
  if ((cp >= 0x1100 && cp <= 0x115f) || (cp >= 0x2e80 && cp <= 0xa4cf) || (cp >= 0xac00 && cp <= 0xd7a3) ||
      (cp >= 0xf900 && cp <= 0xfaff) || (cp >= 0xfe30 && cp <= 0xfe4f) || (cp >= 0xff00 && cp <= 0xff60) ||
      (cp >= 0xffe0 && cp <= 0xffe6) || (cp >= 0x1f300 && cp <= 0x1faff) || (cp >= 0x20000 && cp <= 0x3fffd) ||
      (cp >= 0x2600 && cp <= 0x27bf && cp !== 0x2713 && cp !== 0x2717 && cp < 0x2700)) return 2;
  return 1;
}

const PRINTABLE_ASCII = /^[\x20-\x7e]*$/;

export function visibleWidth(text) {
  text = String(text);
  if (PRINTABLE_ASCII.test(text)) return text.length; // the common case, without ANSI parsing
  let w = 0;
  let afterJoiner = false;
  for (const ch of stripAnsi(text).replace(/\t/g, "   ")) {
    const cp = ch.codePointAt(0);
    if (!afterJoiner) w += charWidth(cp); // the emoji after a zero-width joiner is part of the same glyph
    afterJoiner = cp === 0x200d;
  }
  return w;
}

/** Split into [{ansi:true,text}|{ansi:false,text}] tokens. */
function tokens(text) {
  const out = [];
  let last = 0;
  String(text).replace(ANSI_RE, (m, ...rest) => {
    const idx = rest[rest.length - 2];
    if (idx > last) out.push({ ansi: false, text: text.slice(last, idx) });
    out.push({ ansi: true, text: m });
    last = idx + m.length;
    return m;
  });
  if (last < text.length) out.push({ ansi: false, text: text.slice(last) });
  return out;
}

export function truncateToWidth(text, maxWidth, ellipsis = "...", pad = false) {
  text = String(text);
  const total = visibleWidth(text);
  if (total <= maxWidth) return pad ? text + " ".repeat(Math.max(0, maxWidth - total)) : text;
  const ellW = visibleWidth(ellipsis);
  const budget = Math.max(0, maxWidth - ellW);
  let out = "", w = 0, sawAnsi = false, joined = false;
  outer: for (const t of tokens(text)) {
    if (t.ansi) { out += t.text; sawAnsi = true; continue; }
    for (const ch of t.text) {
      const cp = ch.codePointAt(0);
      const cw = joined ? 0 : charWidth(cp);
      joined = cp === 0x200d;
      if (w + cw > budget) break outer;
      out += ch;
      w += cw;
    }
  }
  const result = out + (sawAnsi ? "\u001b[0m" : "") + (maxWidth >= ellW ? ellipsis : "");
  return pad ? result + " ".repeat(Math.max(0, maxWidth - visibleWidth(result))) : result;
}

/** Word-wrap to `width` cells; ANSI styles stay active across wrapped lines. */
export function wrapTextWithAnsi(text, width) {
  const w = Math.max(1, Math.floor(width));
  const out = [];
  let active = ""; // SGR codes in effect at the start of the next line
  for (const rawLine of String(text).split("\n")) {
    let line = active, lineW = 0, joined = false;
    const flush = () => { out.push(line); line = active; lineW = 0; };
    const words = rawLine.split(/(\s+)/);
    for (const word of words) {
      if (word === "") continue;
      const ww = visibleWidth(word);
      if (/^\s+$/.test(word)) {
        if (lineW === 0) continue; // no leading spaces on a wrapped line
        if (lineW + ww > w) { flush(); continue; }
        line += word; lineW += ww;
        continue;
      }
      if (lineW + ww > w && lineW > 0) { line = line.replace(/\s+$/, ""); flush(); }
      if (ww <= w - lineW && PRINTABLE_ASCII.test(word)) { line += word; lineW += ww; continue; } // fits, no ANSI
      for (const t of tokens(word)) {
        if (t.ansi) {
          line += t.text;
          active = /\u001b\[0?m/.test(t.text) ? "" : active + t.text;
          continue;
        }
        for (const ch of t.text) {
          const cp = ch.codePointAt(0);
          const cw = joined ? 0 : charWidth(cp);
          joined = cp === 0x200d;
          if (cw > 0 && lineW + cw > w) flush(); // zero-width parts stay with the glyph they modify
          line += ch;
          lineW += cw;
        }
      }
    }
    out.push(line);
  }
  return out;
}

function padLine(line, width) { return line + " ".repeat(Math.max(0, width - visibleWidth(line))); }

// ---- keys ---------------------------------------------------------------------------------------------
const SEQUENCES = {
  "\r": "enter", "\n": "enter", "\u001b": "escape", "\t": "tab", "\u001b[Z": "shift+tab", "\u007f": "backspace",
  "\b": "backspace", " ": "space", "\u001b[A": "up", "\u001b[B": "down", "\u001b[C": "right", "\u001b[D": "left",
  "\u001bOA": "up", "\u001bOB": "down", "\u001bOC": "right", "\u001bOD": "left", "\u001b[H": "home", "\u001b[F": "end",
  "\u001b[1~": "home", "\u001b[4~": "end", "\u001b[3~": "delete", "\u001b[5~": "pageUp", "\u001b[6~": "pageDown",
  "\u001b[2~": "insert", "\u001b\r": "alt+enter", "\u001b[13;2u": "shift+enter", "\u001b[1;5A": "ctrl+up",
  "\u001b[1;5B": "ctrl+down", "\u001b[1;5C": "ctrl+right", "\u001b[1;5D": "ctrl+left", "\u001b[1;3C": "alt+right",
  "\u001b[1;3D": "alt+left", "\u001b\u007f": "alt+backspace",
};
const KITTY_NAMES = { 13: "enter", 27: "escape", 9: "tab", 127: "backspace", 32: "space" };

/** Key id for raw terminal input ("ctrl+c", "enter", "a", ...), or undefined. */
export function parseKey(data) {
  if (typeof data !== "string" || data === "") return undefined;
  if (SEQUENCES[data]) return SEQUENCES[data];
  const kitty = /^\u001b\[(\d+)(?:;(\d+))?u$/.exec(data);
  if (kitty) {
    const code = Number(kitty[1]);
    const mod = Math.max(0, Number(kitty[2] || 1) - 1);
    const base = KITTY_NAMES[code] || String.fromCodePoint(code).toLowerCase();
    const mods = [mod & 4 ? "ctrl" : "", mod & 2 ? "alt" : "", mod & 1 ? "shift" : ""].filter(Boolean);
    return [...mods, base].join("+");
  }
  if (data.length === 1) {
    const c = data.charCodeAt(0);
    if (c >= 1 && c <= 26) return `ctrl+${String.fromCharCode(c + 96)}`;
    if (c >= 65 && c <= 90) return `shift+${data.toLowerCase()}`;
    return data;
  }
  if (data.length === 2 && data[0] === "\u001b") return `alt+${data[1].toLowerCase()}`;
  return undefined;
}

function normalizeKeyId(id) {
  const parts = String(id).toLowerCase().split("+");
  const base = parts.pop();
  const alias = { return: "enter", esc: "escape", pageup: "pageup", pagedown: "pagedown", del: "delete" }[base] || base;
  return [...["ctrl", "alt", "shift"].filter((m) => parts.includes(m)), alias].join("+");
}

export function matchesKey(data, keyId) {
  const parsed = parseKey(data);
  return parsed !== undefined && normalizeKeyId(parsed) === normalizeKeyId(keyId);
}
export function isKeyRelease() { return false; }
export function isKeyRepeat() { return false; }

const named = ["enter", "escape", "tab", "backspace", "delete", "up", "down", "left", "right", "home", "end",
  "pageUp", "pageDown", "space", "insert"];
export const Key = Object.freeze({
  ...Object.fromEntries(named.map((k) => [k, k])),
  esc: "escape", return: "enter",
  ctrl: (k) => `ctrl+${k}`, alt: (k) => `alt+${k}`, shift: (k) => `shift+${k}`,
  ctrlShift: (k) => `ctrl+shift+${k}`, ctrlAlt: (k) => `ctrl+alt+${k}`,
});

// Upstream's namespaced action ids (0.73+) with their default keys; the short names below are the older ids.
const NAMESPACED_BINDINGS = {
  "tui.editor.cursorUp": ["up"], "tui.editor.cursorDown": ["down"], "tui.editor.cursorLeft": ["left", "ctrl+b"],
  "tui.editor.cursorRight": ["right", "ctrl+f"], "tui.editor.cursorWordLeft": ["alt+left", "ctrl+left", "alt+b"],
  "tui.editor.cursorWordRight": ["alt+right", "ctrl+right", "alt+f"], "tui.editor.cursorLineStart": ["home", "ctrl+a"],
  "tui.editor.cursorLineEnd": ["end", "ctrl+e"], "tui.editor.jumpForward": ["ctrl+]"], "tui.editor.jumpBackward": ["ctrl+alt+]"],
  "tui.editor.pageUp": ["pageUp"], "tui.editor.pageDown": ["pageDown"], "tui.editor.deleteCharBackward": ["backspace"],
  "tui.editor.deleteCharForward": ["delete", "ctrl+d"], "tui.editor.deleteWordBackward": ["ctrl+w", "alt+backspace"],
  "tui.editor.deleteWordForward": ["alt+d", "alt+delete"], "tui.editor.deleteToLineStart": ["ctrl+u"],
  "tui.editor.deleteToLineEnd": ["ctrl+k"], "tui.editor.yank": ["ctrl+y"], "tui.editor.yankPop": ["alt+y"],
  "tui.editor.undo": ["ctrl+-"], "tui.input.newLine": ["shift+enter"], "tui.input.submit": ["enter"],
  "tui.input.tab": ["tab"], "tui.input.copy": ["ctrl+c"], "tui.select.up": ["up"], "tui.select.down": ["down"],
  "tui.select.pageUp": ["pageUp"], "tui.select.pageDown": ["pageDown"], "tui.select.confirm": ["enter"],
  "tui.select.cancel": ["escape", "ctrl+c"],
};
const DEFAULT_BINDINGS = {
  ...NAMESPACED_BINDINGS,
  cursorUp: ["up"], cursorDown: ["down"], cursorLeft: ["left"], cursorRight: ["right"], cursorLineStart: ["home", "ctrl+a"],
  cursorLineEnd: ["end", "ctrl+e"], deleteCharBackward: ["backspace"], deleteCharForward: ["delete"],
  submit: ["enter"], newLine: ["shift+enter", "alt+enter"], selectUp: ["up"], selectDown: ["down"],
  selectConfirm: ["enter"], selectCancel: ["escape", "ctrl+c"], selectPageUp: ["pageUp"], selectPageDown: ["pageDown"],
  tab: ["tab"], copy: ["ctrl+c"], interrupt: ["escape"], clear: ["ctrl+c"], exit: ["ctrl+d"],
};
export class EditorKeybindingsManager {
  constructor(overrides = {}) { this.bindings = { ...DEFAULT_BINDINGS, ...overrides }; }
  matches(data, action) { return (this.bindings[action] || []).some((k) => matchesKey(data, k)); }
  getKeys(action) { return this.bindings[action] || []; }
  setBindings(b) { Object.assign(this.bindings, b); }
}
const editorKeybindings = new EditorKeybindingsManager();
export function getEditorKeybindings() { return editorKeybindings; }
export function setEditorKeybindings(m) { Object.assign(editorKeybindings.bindings, m.bindings || m); }

// ---- fuzzy ------------------------------------------------------------------------------------------------
export function fuzzyMatch(query, text) {
  const q = String(query).toLowerCase(), t = String(text).toLowerCase();
  if (!q) return { matches: true, score: 0 };
  let qi = 0, score = 0, last = -1;
  for (let i = 0; i < t.length && qi < q.length; i++) {
    if (t[i] === q[qi]) {
      score += last === i - 1 ? 0 : i - last; // gaps cost; lower is better
      last = i;
      qi++;
    }
  }
  return qi === q.length ? { matches: true, score } : { matches: false, score: Infinity };
}
export function fuzzyFilter(items, query, getText = (x) => String(x)) {
  if (!String(query || "").trim()) return items.slice();
  return items.map((item) => ({ item, m: fuzzyMatch(query, getText(item)) }))
    .filter((x) => x.m.matches).sort((a, b) => a.m.score - b.m.score).map((x) => x.item);
}

// ---- components ----------------------------------------------------------------------------------------
export const CURSOR_MARKER = "\u001b_pi:c\u0007";

export class Container {
  constructor() { this.children = []; }
  addChild(c) { this.children.push(c); return this; }
  removeChild(c) { const i = this.children.indexOf(c); if (i !== -1) this.children.splice(i, 1); }
  clear() { this.children = []; }
  invalidate() { for (const c of this.children) if (c && c.invalidate) c.invalidate(); }
  render(width) { return this.children.flatMap((c) => (c && c.render ? c.render(width) : [])); }
}

export class Text {
  constructor(text = "", paddingX = 1, paddingY = 1, customBgFn) {
    this.text = String(text); this.paddingX = paddingX; this.paddingY = paddingY; this.customBgFn = customBgFn;
  }
  setText(text) { this.text = String(text); }
  setCustomBgFn(fn) { this.customBgFn = fn; }
  invalidate() {}
  render(width) {
    if (!this.text.trim()) return [];
    const inner = Math.max(1, width - this.paddingX * 2);
    const pad = " ".repeat(this.paddingX);
    const lines = wrapTextWithAnsi(this.text, inner).map((l) => padLine(pad + l + pad, width));
    const blank = " ".repeat(width);
    const out = [...Array(this.paddingY).fill(blank), ...lines, ...Array(this.paddingY).fill(blank)];
    return this.customBgFn ? out.map((l) => this.customBgFn(l)) : out;
  }
}

export class TruncatedText {
  constructor(text = "", paddingX = 0, paddingY = 0) { this.text = String(text); this.paddingX = paddingX; this.paddingY = paddingY; }
  setText(t) { this.text = String(t); }
  invalidate() {}
  render(width) {
    const pad = " ".repeat(this.paddingX);
    const first = this.text.split("\n")[0];
    const line = pad + truncateToWidth(first, Math.max(0, width - this.paddingX * 2)) + pad;
    return [...Array(this.paddingY).fill(""), line, ...Array(this.paddingY).fill("")];
  }
}

export class Spacer {
  constructor(lines = 1) { this.lines = lines; }
  setLines(n) { this.lines = n; }
  invalidate() {}
  render() { return Array(this.lines).fill(""); }
}

export class Box extends Container {
  constructor(paddingX = 1, paddingY = 1, bgFn) { super(); this.paddingX = paddingX; this.paddingY = paddingY; this.bgFn = bgFn; }
  setBgFn(fn) { this.bgFn = fn; }
  render(width) {
    const inner = Math.max(1, width - this.paddingX * 2);
    const pad = " ".repeat(this.paddingX);
    const body = super.render(inner).map((l) => padLine(pad + l + pad, width));
    if (!body.length) return [];
    const blank = " ".repeat(width);
    const out = [...Array(this.paddingY).fill(blank), ...body, ...Array(this.paddingY).fill(blank)];
    return this.bgFn ? out.map((l) => this.bgFn(l)) : out;
  }
}

/** Markdown rendered as readable plain text (headings, lists, code fences, quotes; inline marks stripped). */
export class Markdown {
  constructor(text = "", paddingX = 1, paddingY = 1, theme, defaultTextStyle) {
    this.text = String(text); this.paddingX = paddingX; this.paddingY = paddingY; this.theme = theme; this.defaultTextStyle = defaultTextStyle;
  }
  setText(t) { this.text = String(t); }
  invalidate() {}
  render(width) {
    const inner = Math.max(1, width - this.paddingX * 2);
    const pad = " ".repeat(this.paddingX);
    const out = [];
    let inCode = false;
    for (const raw of this.text.split("\n")) {
      if (/^\s*```/.test(raw)) { inCode = !inCode; continue; }
      if (inCode) { out.push(pad + truncateToWidth("  " + raw, inner)); continue; }
      let line = raw
        .replace(/^#{1,6}\s+/, "")
        .replace(/^(\s*)[-*+]\s+/, "$1• ")
        .replace(/^>\s?/, "│ ")
        .replace(/\*\*([^*]+)\*\*|__([^_]+)__/g, "$1$2")
        .replace(/(^|[^*])\*([^*]+)\*/g, "$1$2")
        .replace(/`([^`]+)`/g, "$1")
        .replace(/\[([^\]]+)\]\(([^)]+)\)/g, "$1 ($2)");
      if (/^\s*(-{3,}|\*{3,})\s*$/.test(raw)) line = "─".repeat(inner);
      for (const w of wrapTextWithAnsi(line, inner)) out.push(pad + w);
    }
    while (out.length && !out[out.length - 1].trim()) out.pop();
    if (!out.length) return [];
    return [...Array(this.paddingY).fill(""), ...out, ...Array(this.paddingY).fill("")];
  }
}

export class SelectList {
  constructor(items = [], maxVisible = 5, theme = {}) {
    this.items = items; this.filtered = items; this.maxVisible = maxVisible; this.theme = theme;
    this.selectedIndex = 0; this.onSelect = undefined; this.onCancel = undefined; this.onSelectionChange = undefined;
  }
  setItems(items) { this.items = items; this.filtered = items; this.selectedIndex = 0; }
  setFilter(filter) {
    const f = String(filter || "").toLowerCase();
    this.filtered = this.items.filter((it) => String(it.label || it.value).toLowerCase().includes(f) || String(it.value).toLowerCase().startsWith(f));
    this.selectedIndex = 0;
  }
  setSelectedIndex(i) { this.selectedIndex = Math.max(0, Math.min(i, this.filtered.length - 1)); }
  getSelectedItem() { return this.filtered[this.selectedIndex] || null; }
  invalidate() {}
  handleInput(data) {
    const kb = getEditorKeybindings();
    const n = this.filtered.length;
    if (kb.matches(data, "selectUp") && n) { this.selectedIndex = (this.selectedIndex - 1 + n) % n; this._changed(); }
    else if (kb.matches(data, "selectDown") && n) { this.selectedIndex = (this.selectedIndex + 1) % n; this._changed(); }
    else if (kb.matches(data, "selectConfirm")) { const it = this.getSelectedItem(); if (it && this.onSelect) this.onSelect(it); }
    else if (kb.matches(data, "selectCancel")) { if (this.onCancel) this.onCancel(); }
  }
  _changed() { if (this.onSelectionChange) this.onSelectionChange(this.getSelectedItem()); }
  render(width) {
    if (!this.filtered.length) return [truncateToWidth("  No matching items", width)];
    const start = Math.max(0, Math.min(this.selectedIndex - Math.floor(this.maxVisible / 2), this.filtered.length - this.maxVisible));
    const lines = this.filtered.slice(start, start + this.maxVisible).map((it, i) => {
      const sel = start + i === this.selectedIndex;
      const desc = it.description ? `  ${it.description}` : "";
      return truncateToWidth(`${sel ? "→ " : "  "}${it.label || it.value}${desc}`, width);
    });
    if (this.filtered.length > this.maxVisible) lines.push(`  (${this.selectedIndex + 1}/${this.filtered.length})`);
    return lines;
  }
}

export class SettingsList extends SelectList {
  constructor(items = [], maxVisible = 10, theme = {}, onChange, onCancel) {
    super(items.map((it) => ({ ...it, value: it.id, label: `${it.label}: ${it.currentValue}` })), maxVisible, theme);
    this.onChange = onChange; this.onCancel = onCancel;
  }
}

export class Input {
  constructor() { this.value = ""; this.cursor = 0; this.focused = false; this.onSubmit = undefined; this.onEscape = undefined; }
  getValue() { return this.value; }
  setValue(v) { this.value = String(v); this.cursor = this.value.length; }
  invalidate() {}
  handleInput(data) {
    const kb = getEditorKeybindings();
    if (kb.matches(data, "submit")) { if (this.onSubmit) this.onSubmit(this.value); return; }
    if (matchesKey(data, "escape")) { if (this.onEscape) this.onEscape(); return; }
    if (kb.matches(data, "deleteCharBackward")) {
      if (this.cursor > 0) { this.value = this.value.slice(0, this.cursor - 1) + this.value.slice(this.cursor); this.cursor--; }
      return;
    }
    if (kb.matches(data, "cursorLeft")) { this.cursor = Math.max(0, this.cursor - 1); return; }
    if (kb.matches(data, "cursorRight")) { this.cursor = Math.min(this.value.length, this.cursor + 1); return; }
    if (data.length >= 1 && !data.startsWith("\u001b") && data.charCodeAt(0) >= 32) {
      this.value = this.value.slice(0, this.cursor) + data + this.value.slice(this.cursor);
      this.cursor += data.length;
    }
  }
  render(width) { return [truncateToWidth("> " + this.value, width)]; }
}

export class Editor {
  constructor(tuiOrTheme, theme, options = {}) {
    const isTui = tuiOrTheme && typeof tuiOrTheme.requestRender === "function";
    this.tui = isTui ? tuiOrTheme : undefined;
    this.theme = isTui ? theme : tuiOrTheme;
    this.options = isTui ? options : theme || {};
    this.lines = [""]; this.focused = false; this.disableSubmit = false; this.history = [];
    this.onSubmit = undefined; this.onChange = undefined; this.borderColor = undefined;
  }
  getText() { return this.lines.join("\n"); }
  getExpandedText() { return this.getText(); }
  setText(t) { this.lines = String(t).split("\n"); if (this.onChange) this.onChange(this.getText()); }
  insertTextAtCursor(t) { this.setText(this.getText() + t); }
  addToHistory(t) { if (t && t.trim()) this.history.push(t); }
  setAutocompleteProvider() {}
  isShowingAutocomplete() { return false; }
  invalidate() {}
  handleInput(data) {
    const kb = getEditorKeybindings();
    if (kb.matches(data, "newLine")) { this.lines.push(""); return; }
    if (kb.matches(data, "submit")) {
      if (this.disableSubmit) return;
      const text = this.getText();
      if (this.onSubmit) this.onSubmit(text);
      return;
    }
    if (kb.matches(data, "deleteCharBackward")) {
      const last = this.lines.length - 1;
      if (this.lines[last].length) this.lines[last] = this.lines[last].slice(0, -1);
      else if (last > 0) this.lines.pop();
    } else if (!data.startsWith("\u001b") && data.charCodeAt(0) >= 32) {
      this.lines[this.lines.length - 1] += data;
    } else return;
    if (this.onChange) this.onChange(this.getText());
  }
  render(width) {
    const border = "─".repeat(Math.max(0, width));
    return [border, ...this.lines.flatMap((l) => wrapTextWithAnsi(l, Math.max(1, width))), border];
  }
}

export class Loader extends Text {
  constructor(tui, spinnerColorFn, messageColorFn, message = "Loading...") {
    super(message, 1, 0); this.tui = tui; this.message = message; this.running = false;
  }
  start() { this.running = true; }
  stop() { this.running = false; }
  setMessage(m) { this.message = m; this.setText(m); }
  render(width) { return super.render(width).map((l) => l.replace(/^ /, "⠋")); }
}
export class CancellableLoader extends Loader {
  constructor(...args) { super(...args); this.onAbort = undefined; this.aborted = false; this.signal = { aborted: false, addEventListener() {} }; }
  handleInput(data) { if (matchesKey(data, "escape")) { this.aborted = true; this.signal.aborted = true; if (this.onAbort) this.onAbort(); } }
}

export class Image {
  constructor(base64, mimeType, theme, options = {}) { this.base64 = base64; this.mimeType = mimeType; this.options = options; }
  invalidate() {}
  render(width) { return [truncateToWidth(`[image ${this.mimeType || ""}]`, width)]; }
}

/** Headless TUI: keeps the component tree; requestRender() renders into `lastFrame` at 80 columns. */
export class TUI extends Container {
  constructor(terminal) { super(); this.terminal = terminal; this.lastFrame = []; this.focused = null; this.overlays = []; }
  start() {}
  stop() {}
  requestRender() { this.lastFrame = this.render((this.terminal && this.terminal.columns) || 80); }
  setFocus(c) { this.focused = c; }
  showOverlay(component) { this.overlays.push(component); return { hide: () => this.hideOverlay(component), setHidden() {}, isHidden: () => false }; }
  hideOverlay(component) { this.overlays = this.overlays.filter((c) => c !== (component || this.overlays[this.overlays.length - 1])); }
  hasOverlay() { return this.overlays.length > 0; }
}
export class ProcessTerminal {
  constructor() { this.columns = 80; this.rows = 24; }
  start() {} stop() {} write() {} moveBy() {} hideCursor() {} showCursor() {} clearLine() {} clearFromCursor() {} clearScreen() {} setTitle() {}
}

export function isFocusable(c) { return !!c && "focused" in c; }
export class CombinedAutocompleteProvider {
  constructor(commands = [], basePath) { this.commands = commands; this.basePath = basePath; }
  getSuggestions() { return null; }
  applyCompletion(lines, line, col) { return { lines, cursorLine: line, cursorCol: col }; }
}
export function getCapabilities() { return { images: null, trueColor: false, hyperlinks: false }; }
export function setCapabilities() {}
export function hyperlink(text) { return text; }

// ---- long tail of upstream exports (older and newer releases) -----------------------------------------------
export const DEFAULT_EDITOR_KEYBINDINGS = Object.freeze({ ...DEFAULT_BINDINGS });
export const TUI_KEYBINDINGS = Object.freeze(Object.fromEntries(Object.entries(NAMESPACED_BINDINGS).map(([id, keys]) =>
  [id, { defaultKeys: keys.length === 1 ? keys[0] : keys, description: id.split(".").pop() }])));
export const KeybindingsManager = EditorKeybindingsManager;
export const getKeybindings = getEditorKeybindings;
export const setKeybindings = setEditorKeybindings;
let kittyActive = false;
export function isKittyProtocolActive() { return kittyActive; }
export function setKittyProtocolActive(v) { kittyActive = !!v; }
export function decodeKittyPrintable(data) {
  const m = /^\u001b\[(\d+)(?:;\d+)?u$/.exec(String(data));
  return m ? String.fromCodePoint(Number(m[1])) : undefined;
}
// Older helper predicates (pre-matchesKey releases).
export const isEnter = (d) => matchesKey(d, "enter");
export const isEscape = (d) => matchesKey(d, "escape");
export const isTab = (d) => matchesKey(d, "tab");
export const isShiftTab = (d) => matchesKey(d, "shift+tab");
export const isBackspace = (d) => matchesKey(d, "backspace");
export const isArrowUp = (d) => matchesKey(d, "up");
export const isArrowDown = (d) => matchesKey(d, "down");
export const isArrowLeft = (d) => matchesKey(d, "left");
export const isArrowRight = (d) => matchesKey(d, "right");
export const isCtrlC = (d) => matchesKey(d, "ctrl+c");
export const isCtrlD = (d) => matchesKey(d, "ctrl+d");
export const isShiftEnter = (d) => matchesKey(d, "shift+enter");

export class StdinBuffer {
  constructor() { this.listeners = new Map(); }
  on(ev, fn) { this.listeners.set(ev, [...(this.listeners.get(ev) || []), fn]); return this; }
  process(data) { for (const fn of this.listeners.get("data") || []) fn(String(data)); }
  destroy() { this.listeners.clear(); }
}
export class PaneContainer extends Container {}
export function newLeaf(component) { return { type: "leaf", component }; }
export function splitPane(tree) { return tree; }
export function removePane(tree) { return tree; }
export function setRatio(tree) { return tree; }
export function allPanes(tree) { return tree ? [tree] : []; }
export function paneCount(tree) { return tree ? 1 : 0; }
export function adjacentPane() { return undefined; }
export function computeLayout(tree, rect) { return { panes: tree ? [{ node: tree, rect }] : [], dividers: [] }; }

// Terminal images: no terminal, so every renderer falls back to text.
let imageId = 1;
let cellDims = { widthPx: 9, heightPx: 18 };
export function allocateImageId() { return imageId++; }
export function getCellDimensions() { return cellDims; }
export function setCellDimensions(d) { cellDims = { ...cellDims, ...d }; }
export function detectCapabilities() { return getCapabilities(); }
export function resetCapabilitiesCache() {}
export function calculateImageRows(dims, maxWidthCells = 60) { return Math.max(1, Math.ceil(((dims.heightPx || 0) / (cellDims.heightPx || 18)) * Math.min(1, maxWidthCells / Math.max(1, (dims.widthPx || 1) / cellDims.widthPx)))); }
export function deleteAllKittyImages() { return ""; }
export function deleteKittyImage() { return ""; }
export function encodeITerm2() { return ""; }
export function encodeKitty() { return ""; }
export function imageFallback(mimeType, dims, filename) {
  const size = dims ? ` ${dims.widthPx}x${dims.heightPx}` : "";
  return `[Image: ${filename ? filename + " " : ""}${mimeType || ""}${size}]`;
}
export function renderImage() { return null; }
function u8(base64) { return Uint8Array.from(atob(String(base64)), (c) => c.charCodeAt(0)); }
export function getPngDimensions(b64) { const b = u8(b64); if (b.length < 24) return null; const v = new DataView(b.buffer); return { widthPx: v.getUint32(16), heightPx: v.getUint32(20) }; }
export function getGifDimensions(b64) { const b = u8(b64); if (b.length < 10) return null; return { widthPx: b[6] | (b[7] << 8), heightPx: b[8] | (b[9] << 8) }; }
export function getJpegDimensions(b64) {
  const b = u8(b64);
  for (let i = 2; i + 9 < b.length;) {
    if (b[i] !== 0xff) return null;
    const marker = b[i + 1], len = (b[i + 2] << 8) | b[i + 3];
    if (marker >= 0xc0 && marker <= 0xc3) return { heightPx: (b[i + 5] << 8) | b[i + 6], widthPx: (b[i + 7] << 8) | b[i + 8] };
    i += 2 + len;
  }
  return null;
}
export function getWebpDimensions(b64) {
  const b = u8(b64);
  if (b.length < 30) return null;
  if (b[15] === 0x38 && b[12] === 0x56) return { widthPx: (b[26] | (b[27] << 8)) & 0x3fff, heightPx: (b[28] | (b[29] << 8)) & 0x3fff };
  return null;
}
export function getImageDimensions(b64, mimeType) {
  const m = String(mimeType || "");
  if (m.includes("png")) return getPngDimensions(b64);
  if (m.includes("gif")) return getGifDimensions(b64);
  if (m.includes("jpeg") || m.includes("jpg")) return getJpegDimensions(b64);
  if (m.includes("webp")) return getWebpDimensions(b64);
  return null;
}

// Names newer pi-tui releases added (1.x): see pi_tui_extras.js.
export * from "pi:tui-extras";
