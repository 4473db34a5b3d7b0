// @mariozechner/pi-coding-agent — the value exports extensions import (ranked in extension-api-surface.md):
// UI helpers (DynamicBorder, BorderedLoader, CustomEditor, themes, keyHint), tool factories (create*Tool: their
// effects are fs / exec hostcalls, so the pipeline decides them), truncation helpers, message conversion,
// frontmatter parsing, SessionManager (read-only over JSONL files via fs), getAgentDir, VERSION.
// Types (ExtensionAPI, ToolDefinition, ...) are erased by the bundler and need no runtime value.
import * as host from "pi:host";
import { Type } from "@sinclair/typebox";
import { Container, Editor, Text, getEditorKeybindings, matchesKey, truncateToWidth } from "@mariozechner/pi-tui";
import { StringEnum } from "@mariozechner/pi-ai";
import * as fs from "fs";
import * as path from "path";
import * as os from "os";

export * from "pi:coding-agent-extras";
import { buildSessionContext as buildSessionContextOf, buildContextEntries as buildContextEntriesOf, buildSessionProjection as buildSessionProjectionOf } from "pi:coding-agent-extras";

export const VERSION = "0.73.1"; // the upstream release whose export list this implementation covers (tests/runtime/data)
export const CONFIG_DIR_NAME = ".pi";
export { Type, StringEnum };

export function getAgentDir() {
  let fromEnv;
  try { fromEnv = globalThis.process && globalThis.process.env.PI_CODING_AGENT_DIR; } catch { fromEnv = undefined; }
  return fromEnv || path.join(os.homedir(), CONFIG_DIR_NAME, "agent");
}

// ---- themes (headless: every style is the identity) --------------------------------------------------------
export class Theme {
  constructor(name = "dark") { this.name = name; }
  fg(_color, text) { return String(text); }
  bg(_color, text) { return String(text); }
  bold(text) { return String(text); }
  italic(text) { return String(text); }
  underline(text) { return String(text); }
  strikethrough(text) { return String(text); }
  inverse(text) { return String(text); }
  dim(text) { return String(text); }
  getFgAnsi() { return ""; }
  getBgAnsi() { return ""; }
  getColorMode() { return "none"; }
  getThinkingBorderColor() { return (t) => String(t); }
  getBashModeBorderColor() { return (t) => String(t); }
}
export const theme = new Theme();
export function getTheme() { return theme; }
export function initTheme() { return theme; }
const id = (t) => String(t);
export function getMarkdownTheme() {
  return { heading: id, link: id, linkUrl: id, code: id, codeBlock: id, codeBlockBorder: id, quote: id, quoteBorder: id,
    hr: id, listBullet: id, bold: id, italic: id, strikethrough: id, underline: id, highlightCode: (code) => String(code).split("\n") };
}
export function getSelectListTheme() {
  return { selectedPrefix: id, selectedText: id, description: id, scrollInfo: id, noMatch: id };
}
export function getSettingsListTheme() {
  return { label: (t) => String(t), value: (t) => String(t), description: id, cursor: "→ ", hint: id };
}
export function getEditorTheme() { return { borderColor: id, selectList: getSelectListTheme() }; }
export function highlightCode(code) { return String(code).split("\n"); }
export function getLanguageFromPath(p) {
  const ext = path.extname(String(p)).slice(1).toLowerCase();
  return { ts: "typescript", tsx: "typescript", js: "javascript", mjs: "javascript", py: "python", rs: "rust", go: "go",
    md: "markdown", json: "json", sh: "bash", yml: "yaml", yaml: "yaml" }[ext];
}

export function keyHint(action, description) {
  const keys = getEditorKeybindings().getKeys(action);
  return `${keys.length ? keys.join("/") : action} ${description}`.trim();
}
export function rawKeyHint(key, description) { return `${key} ${description}`.trim(); }
export function appKeyHint(_kb, action, description) { return keyHint(action, description); }
// Before 0.53: the key strings alone ("ctrl+c/escape").
export function editorKey(action) { return getEditorKeybindings().getKeys(action).join("/"); }
export function appKey(keybindings, action) {
  const keys = keybindings && typeof keybindings.getKeys === "function" ? keybindings.getKeys(action) : [];
  return (keys || []).join("/");
}

// ---- UI components ---------------------------------------------------------------------------------------
export class DynamicBorder {
  constructor(color = id) { this.color = color; }
  invalidate() {}
  render(width) { return [this.color("─".repeat(Math.max(1, width)))]; }
}

export class BorderedLoader extends Container {
  constructor(tui, th, message = "Loading...", options = {}) {
    super();
    this.tui = tui;
    this.message = message;
    this.cancellable = options.cancellable !== false;
    this._controller = new AbortController();
    this.onAbort = undefined;
    this.addChild(new DynamicBorder());
    this._text = new Text(message, 1, 0);
    this.addChild(this._text);
    this.addChild(new DynamicBorder());
  }
  get signal() { return this._controller.signal; }
  setMessage(m) { this.message = m; this._text.setText(m); }
  handleInput(data) {
    if (this.cancellable && matchesKey(data, "escape")) { this._controller.abort(); if (this.onAbort) this.onAbort(); }
  }
  dispose() {}
}

export class CustomEditor extends Editor {
  constructor(tui, th, keybindings, options) {
    super(tui, th, options);
    this.keybindings = keybindings;
    this.actionHandlers = new Map();
    this.onEscape = undefined;
    this.onCtrlD = undefined;
    this.onPasteImage = undefined;
    this.onExtensionShortcut = undefined;
  }
  onAction(action, handler) { this.actionHandlers.set(action, handler); }
  handleInput(data) {
    if (this.onExtensionShortcut && this.onExtensionShortcut(data)) return;
    if (matchesKey(data, "escape") && this.onEscape) { this.onEscape(); return; }
    if (matchesKey(data, "ctrl+d") && this.onCtrlD && this.getText() === "") { this.onCtrlD(); return; }
    if (this.keybindings && typeof this.keybindings.matches === "function") {
      for (const [action, handler] of this.actionHandlers) if (this.keybindings.matches(data, action)) { handler(); return; }
    }
    super.handleInput(data);
  }
}

// ---- truncation ------------------------------------------------------------------------------------------
export const DEFAULT_MAX_LINES = 2000;
export const DEFAULT_MAX_BYTES = 50 * 1024;
export const GREP_MAX_LINE_LENGTH = 500;
const utf8 = new TextEncoder();
const bytesOf = (s) => utf8.encode(s).length;

export function formatSize(bytes) {
  if (bytes < 1024) return `${bytes}B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)}KB`;
  return `${(bytes / (1024 * 1024)).toFixed(1)}MB`;
}

function truncateCommon(content, options, fromEnd) {
  const maxLines = options.maxLines === undefined ? DEFAULT_MAX_LINES : options.maxLines;
  const maxBytes = options.maxBytes === undefined ? DEFAULT_MAX_BYTES : options.maxBytes;
  const text = String(content);
  const lines = text.split("\n");
  const totalBytes = bytesOf(text);
  const base = { totalLines: lines.length, totalBytes, maxLines, maxBytes, lastLinePartial: false, firstLineExceedsLimit: false };
  if (lines.length <= maxLines && totalBytes <= maxBytes) {
    return { ...base, content: text, truncated: false, truncatedBy: null, outputLines: lines.length, outputBytes: totalBytes };
  }
  const kept = [];
  let used = 0, truncatedBy = "lines";
  const order = fromEnd ? lines.slice().reverse() : lines;
  for (const line of order) {
    if (kept.length >= maxLines) { truncatedBy = "lines"; break; }
    const size = bytesOf(line) + (kept.length ? 1 : 0);
    if (used + size > maxBytes) {
      truncatedBy = "bytes";
      if (!kept.length) {
        if (!fromEnd) return { ...base, content: "", truncated: true, truncatedBy, outputLines: 0, outputBytes: 0, firstLineExceedsLimit: true };
        // tail: keep the end of an over-long last line
        let partial = line;
        while (bytesOf(partial) > maxBytes) partial = partial.slice(Math.ceil((bytesOf(partial) - maxBytes) / 4) || 1);
        kept.push(partial);
        used = bytesOf(partial);
        base.lastLinePartial = true;
      }
      break;
    }
    kept.push(line);
    used += size;
  }
  const out = (fromEnd ? kept.reverse() : kept).join("\n");
  return { ...base, content: out, truncated: true, truncatedBy, outputLines: kept.length, outputBytes: bytesOf(out) };
}
/** Keep the first lines/bytes (file reads). */
export function truncateHead(content, options = {}) { return truncateCommon(content, options, false); }
/** Keep the last lines/bytes (command output). */
export function truncateTail(content, options = {}) { return truncateCommon(content, options, true); }
export function truncateLine(line, maxChars = GREP_MAX_LINE_LENGTH) {
  const s = String(line);
  return s.length <= maxChars ? { text: s, wasTruncated: false } : { text: `${s.slice(0, maxChars)}... [truncated]`, wasTruncated: true };
}

// ---- per-file mutation queue -------------------------------------------------------------------------------
const queues = new Map();
/** Run `fn` after every earlier mutation of the same (resolved) path has settled. */
export function withFileMutationQueue(filePath, fn) {
  const key = path.resolve(String(filePath));
  const prev = queues.get(key) || Promise.resolve();
  const run = prev.then(() => fn(), () => fn());
  const tail = run.then(() => {}, () => {});
  queues.set(key, tail);
  tail.then(() => { if (queues.get(key) === tail) queues.delete(key); });
  return run;
}

// ---- events / results helpers ------------------------------------------------------------------------------
export function isToolCallEventType(toolName, event) { return !!event && event.toolName === toolName; }
export function isToolResultEventType(toolName, event) { return !!event && event.toolName === toolName; }
export const isBashToolResult = (e) => !!e && e.toolName === "bash";
export const isReadToolResult = (e) => !!e && e.toolName === "read";
export const isEditToolResult = (e) => !!e && e.toolName === "edit";
export const isWriteToolResult = (e) => !!e && e.toolName === "write";
export const isGrepToolResult = (e) => !!e && e.toolName === "grep";
export const isFindToolResult = (e) => !!e && e.toolName === "find";
export const isLsToolResult = (e) => !!e && e.toolName === "ls";

function textOf(content) {
  if (typeof content === "string") return content;
  return (content || []).map((c) => (c.type === "text" ? c.text : c.type === "image" ? "[image]" : c.type === "toolCall" ? "" : "")).join("");
}

/** AgentMessage[] → LLM Message[]: custom/bash/summary messages become user text; UI-only entries are dropped. */
export function convertToLlm(messages) {
  const out = [];
  for (const m of messages || []) {
    if (!m) continue;
    if (m.role === "user" || m.role === "assistant" || m.role === "toolResult") out.push(m);
    else if (m.role === "custom") out.push({ role: "user", content: typeof m.content === "string" ? [{ type: "text", text: m.content }] : m.content, timestamp: m.timestamp });
    else if (m.role === "bashExecution") {
      if (m.excludeFromContext) continue;
      out.push({ role: "user", content: [{ type: "text", text: `Ran \`${m.command}\`\n\`\`\`\n${m.output || ""}\n\`\`\`` }], timestamp: m.timestamp });
    } else if (m.role === "branchSummary" || m.role === "compactionSummary") {
      out.push({ role: "user", content: [{ type: "text", text: `<summary>\n${m.summary}\n</summary>` }], timestamp: m.timestamp });
    }
  }
  return out;
}

/** Messages → plain transcript text for summarisation prompts. */
export function serializeConversation(messages) {
  const parts = [];
  for (const m of messages || []) {
    if (m.role === "user") parts.push(`[User]: ${textOf(m.content)}`);
    else if (m.role === "assistant") {
      const text = textOf(m.content);
      if (text) parts.push(`[Assistant]: ${text}`);
      for (const c of m.content || []) {
        if (c.type === "toolCall") {
          const args = Object.entries(c.arguments || {}).map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(", ");
          parts.push(`[Assistant tool calls]: ${c.name}(${args})`);
        }
        if (c.type === "thinking" && c.thinking) parts.push(`[Assistant thinking]: ${c.thinking}`);
      }
    } else if (m.role === "toolResult") parts.push(`[Tool result]: ${textOf(m.content)}`);
  }
  return parts.join("\n\n");
}

// ---- frontmatter -----------------------------------------------------------------------------------------
function scalar(v) {
  const s = v.trim();
  if (/^".*"$/.test(s) || /^'.*'$/.test(s)) return s.slice(1, -1);
  if (s === "true" || s === "false") return s === "true";
  if (s === "null" || s === "~" || s === "") return s === "" ? "" : null;
  if (/^-?\d+(\.\d+)?$/.test(s)) return Number(s);
  if (/^\[.*\]$/.test(s)) return s.slice(1, -1).split(",").map((x) => scalar(x)).filter((x) => x !== "");
  return s;
}
/** Minimal YAML frontmatter: `key: value`, inline lists, `- item` lists, block scalars (| and >). */
export function parseFrontmatter(content) {
  const text = String(content).replace(/^\uFEFF/, "");
  const m = /^---\r?\n([\s\S]*?)\r?\n---(?:\r?\n|$)/.exec(text);
  if (!m) return { frontmatter: {}, body: text };
  const frontmatter = {};
  let key = null, block = null;
  for (const line of m[1].split(/\r?\n/)) {
    if (block && (/^\s+/.test(line) || line === "")) { frontmatter[key] += (frontmatter[key] ? block : "") + line.trim(); continue; }
    block = null;
    const item = /^\s*-\s+(.*)$/.exec(line);
    if (item && key) { if (!Array.isArray(frontmatter[key])) frontmatter[key] = []; frontmatter[key].push(scalar(item[1])); continue; }
    const kv = /^([A-Za-z0-9_.-]+)\s*:\s*(.*)$/.exec(line);
    if (!kv) continue;
    key = kv[1];
    if (kv[2].trim() === "|" || kv[2].trim() === ">") { block = kv[2].trim() === "|" ? "\n" : " "; frontmatter[key] = ""; }
    else frontmatter[key] = scalar(kv[2]);
  }
  return { frontmatter, body: text.slice(m[0].length) };
}
export function stripFrontmatter(content) { return parseFrontmatter(content).body; }

// ---- tools -----------------------------------------------------------------------------------------------
function resolveIn(cwd, p) {
  const s = String(p || ".").replace(/^@/, "");
  return path.resolve(cwd, s.startsWith("~/") ? path.join(os.homedir(), s.slice(2)) : s);
}
const text = (t, details) => ({ content: [{ type: "text", text: t }], details });

export function createReadTool(cwd) {
  return {
    name: "read", label: "read", description: "Read the contents of a file (text). Use offset/limit for large files.",
    parameters: Type.Object({ path: Type.String(), offset: Type.Optional(Type.Number()), limit: Type.Optional(Type.Number()) }),
    async execute(_id, { path: p, offset, limit }) {
      const lines = fs.readFileSync(resolveIn(cwd, p), "utf8").split("\n");
      const start = Math.max(0, (offset || 1) - 1);
      if (start >= lines.length) throw new Error(`Offset ${offset} is beyond end of file (${lines.length} lines total)`);
      const selected = lines.slice(start, limit ? start + limit : undefined).join("\n");
      const t = truncateHead(selected);
      const more = t.truncated ? `\n\n[Showing lines ${start + 1}-${start + t.outputLines} of ${lines.length}. Use offset=${start + t.outputLines + 1} to continue]` : "";
      return text(t.content + more, { truncation: t.truncated ? t : undefined });
    },
  };
}

export function createWriteTool(cwd) {
  return {
    name: "write", label: "write", description: "Write content to a file, creating parent directories.",
    parameters: Type.Object({ path: Type.String(), content: Type.String() }),
    async execute(_id, { path: p, content }) {
      const abs = resolveIn(cwd, p);
      return withFileMutationQueue(abs, async () => {
        fs.mkdirSync(path.dirname(abs), { recursive: true });
        fs.writeFileSync(abs, content);
        return text(`Successfully wrote ${bytesOf(content)} bytes to ${p}`, undefined);
      });
    },
  };
}

export function createEditTool(cwd) {
  return {
    name: "edit", label: "edit", description: "Replace exact text in a file (oldText must match exactly once).",
    parameters: Type.Object({ path: Type.String(), oldText: Type.Optional(Type.String()), newText: Type.Optional(Type.String()),
      edits: Type.Optional(Type.Array(Type.Object({ oldText: Type.String(), newText: Type.String() }))) }),
    async execute(_id, params) {
      const abs = resolveIn(cwd, params.path);
      const edits = params.edits || [{ oldText: params.oldText, newText: params.newText }];
      return withFileMutationQueue(abs, async () => {
        let content = fs.readFileSync(abs, "utf8");
        for (const e of edits) {
          const count = content.split(e.oldText).length - 1;
          if (count === 0) throw new Error(`Could not find the exact text in ${params.path}. The old text must match exactly.`);
          if (count > 1) throw new Error(`Found ${count} occurrences of the text in ${params.path}. The text must be unique.`);
          content = content.replace(e.oldText, () => e.newText);
        }
        fs.writeFileSync(abs, content);
        return text(`Successfully replaced text in ${params.path}.`, { diff: "" });
      });
    },
  };
}

export function createBashTool(cwd, options = {}) {
  return {
    name: "bash", label: "bash", description: "Execute a bash command in the working directory; output is truncated to the tail.",
    parameters: Type.Object({ command: Type.String(), timeout: Type.Optional(Type.Number()) }),
    async execute(_id, { command, timeout }, signal) {
      if (signal && signal.aborted) throw new Error("Command aborted");
      const line = options.commandPrefix ? `${options.commandPrefix}\n${command}` : command;
      const params = { cmd: "bash", args: ["-c", line], cwd };
      if (timeout) params.timeout_ms = timeout * 1000;
      const res = await host.call("exec", params);
      const output = [res.stdout, res.stderr].filter(Boolean).join("");
      const t = truncateTail(output);
      let out = t.content || "(no output)";
      if (res.killed) throw new Error(`${out}\n\nCommand timed out`);
      if (res.exit_code !== 0) throw new Error(`${out}\n\nCommand exited with code ${res.exit_code}`);
      return text(out, { truncation: t.truncated ? t : undefined });
    },
  };
}

function walk(dir, limit, out = [], rel = "") {
  for (const d of fs.readdirSync(dir, { withFileTypes: true })) {
    if (out.length >= limit) break;
    if (d.name === ".git" || d.name === "node_modules") continue;
    const r = rel ? `${rel}/${d.name}` : d.name;
    out.push({ rel: r, dir: d.isDirectory() });
    if (d.isDirectory()) walk(path.join(dir, d.name), limit, out, r);
  }
  return out;
}

export function createLsTool(cwd) {
  return {
    name: "ls", label: "ls", description: "List directory contents.",
    parameters: Type.Object({ path: Type.Optional(Type.String()), limit: Type.Optional(Type.Number()) }),
    async execute(_id, { path: p, limit = 500 }) {
      const entries = fs.readdirSync(resolveIn(cwd, p), { withFileTypes: true })
        .map((d) => d.name + (d.isDirectory() ? "/" : "")).sort((a, b) => a.toLowerCase().localeCompare(b.toLowerCase()));
      return text(entries.slice(0, limit).join("\n") || "(empty directory)", undefined);
    },
  };
}

export function createFindTool(cwd) {
  return {
    name: "find", label: "find", description: "Find files by glob pattern.",
    parameters: Type.Object({ pattern: Type.String(), path: Type.Optional(Type.String()), limit: Type.Optional(Type.Number()) }),
    async execute(_id, { pattern, path: p, limit = 1000 }) {
      const hits = walk(resolveIn(cwd, p), 20000).filter((e) => !e.dir && (path.matchesGlob(e.rel, pattern) || path.matchesGlob(path.basename(e.rel), pattern)));
      return text(hits.slice(0, limit).map((e) => e.rel).join("\n") || "No files found matching pattern", undefined);
    },
  };
}

export function createGrepTool(cwd) {
  return {
    name: "grep", label: "grep", description: "Search file contents for a pattern.",
    parameters: Type.Object({ pattern: Type.String(), path: Type.Optional(Type.String()), glob: Type.Optional(Type.String()),
      ignoreCase: Type.Optional(Type.Boolean()), literal: Type.Optional(Type.Boolean()), limit: Type.Optional(Type.Number()) }),
    // Runs on the host's linear-time engine (RE2, like pi's ripgrep): bounded by the grep hostcall's deadline.
    async execute(_id, { pattern, path: p, glob, ignoreCase, literal, limit = 100 }) {
      const root = resolveIn(cwd, p);
      const input = { pattern: String(pattern), path: root, ignoreCase: Boolean(ignoreCase), literal: Boolean(literal),
        limit: Math.max(1, Math.min(1000, Math.floor(Number(limit)) || 100)) };
      if (glob) input.glob = String(glob);
      const res = await host.call("tool", { name: "grep", input });
      const out = res.matches.map((m) => `${m.path}:${m.line}: ${truncateLine(m.text).text}`);
      return text(out.join("\n") || "No matches found", undefined);
    },
  };
}

export function createCodingTools(cwd) { return [createReadTool(cwd), createBashTool(cwd), createEditTool(cwd), createWriteTool(cwd)]; }
export function createReadOnlyTools(cwd) { return [createReadTool(cwd), createGrepTool(cwd), createFindTool(cwd), createLsTool(cwd)]; }
// Newer upstream names for the same factories.
export const createReadToolDefinition = createReadTool;
export const createWriteToolDefinition = createWriteTool;
export const createEditToolDefinition = createEditTool;
export const createBashToolDefinition = createBashTool;
export const createLsToolDefinition = createLsTool;
export const createFindToolDefinition = createFindTool;
export const createGrepToolDefinition = createGrepTool;
// Pre-built tools bound to the workspace (upstream: process.cwd()).
const workspace = () => (globalThis.process ? globalThis.process.cwd() : "/");
export const readTool = createReadTool(workspace());
export const bashTool = createBashTool(workspace());
export const editTool = createEditTool(workspace());
export const writeTool = createWriteTool(workspace());
export const grepTool = createGrepTool(workspace());
export const findTool = createFindTool(workspace());
export const lsTool = createLsTool(workspace());
export const codingTools = [readTool, bashTool, editTool, writeTool];
export const readOnlyTools = [readTool, grepTool, findTool, lsTool];

// ---- sessions (read-only JSONL access through fs) ------------------------------------------------------------
export class SessionManager {
  constructor(entries = [], file) { this._entries = entries; this._file = file; }
  static inMemory() { return new SessionManager([{ type: "session", id: "in-memory", timestamp: new Date().toISOString(), cwd: globalThis.process ? globalThis.process.cwd() : "/" }]); }
  static open(file) {
    const lines = fs.readFileSync(file, "utf8").split("\n").filter((l) => l.trim());
    const entries = [];
    for (const l of lines) { try { entries.push(JSON.parse(l)); } catch { /* a torn last line is skipped */ } }
    return new SessionManager(entries, file);
  }
  static create() { return SessionManager.inMemory(); }
  static continueRecent() { return SessionManager.inMemory(); }
  static list() { return []; }
  static listAll() { return []; }
  getHeader() { return this._entries.find((e) => e.type === "session") || null; }
  getEntries() { return this._entries.filter((e) => e.type !== "session"); }
  getEntry(entryId) { return this._entries.find((e) => e.id === entryId); }
  getLeafId() { const e = this.getEntries(); return e.length ? e[e.length - 1].id : null; }
  getLeafEntry() { const e = this.getEntries(); return e[e.length - 1]; }
  getBranch(fromId) {
    const byId = new Map(this.getEntries().map((e) => [e.id, e]));
    const out = [];
    for (let cur = byId.get(fromId || this.getLeafId()); cur; cur = byId.get(cur.parentId)) out.unshift(cur);
    return out.length ? out : this.getEntries();
  }
  getSessionFile() { return this._file; }
  getSessionId() { const h = this.getHeader(); return h ? h.id : undefined; }
  getCwd() { const h = this.getHeader(); return h ? h.cwd : undefined; }
  getSessionName() { const e = this.getEntries().filter((x) => x.type === "session_info"); return e.length ? e[e.length - 1].name : undefined; }
  getLabel(entryId) { const l = this.getEntries().filter((x) => x.type === "label" && x.targetId === entryId); return l.length ? l[l.length - 1].label : undefined; }
  buildSessionContext() { return buildSessionContextOf(this.getBranch()); }
  buildContextEntries() { return buildContextEntriesOf(this.getBranch()); }
  buildSessionProjection() { return buildSessionProjectionOf(this.getBranch()); }
  getEntryCount() { return this.getEntries().length; }
  getChildren(parentId) { return this.getEntries().filter((e) => e.parentId === parentId); }
  getSessionDir() { return this._file ? path.dirname(this._file) : ""; }
  isPersisted() { return Boolean(this._file); }
  // pi's tree: entries under their parentId (an entry whose parent is unknown is a root)
  getTree() {
    const entries = this.getEntries();
    const nodes = new Map(entries.map((e) => [e.id, { entry: e, children: [] }]));
    const roots = [];
    for (const e of entries) {
      const parent = e.parentId != null ? nodes.get(e.parentId) : undefined;
      (parent ? parent.children : roots).push(nodes.get(e.id));
    }
    return roots;
  }
}

function notAvailable(what) {
  return class {
    constructor() { throw Object.assign(new Error(`pi-sandbox: ${what} cannot be constructed by an extension; use ctx.${what[0].toLowerCase() + what.slice(1)}`), { code: "ERR_NOT_SUPPORTED" }); }
  };
}
export const ModelRegistry = notAvailable("ModelRegistry");
export const AuthStorage = notAvailable("AuthStorage");
export const SettingsManager = notAvailable("SettingsManager");

export async function copyToClipboard() {
  throw Object.assign(new Error("pi-sandbox: the clipboard is not available to extensions"), { code: "ERR_NOT_SUPPORTED" });
}
export function defineTool(def) { return def; }
export function truncateToVisualLines(textIn, maxLines, width) {
  const lines = String(textIn).split("\n").map((l) => truncateToWidth(l, width));
  return { visualLines: lines.slice(-maxLines), skippedCount: Math.max(0, lines.length - maxLines) };
}
