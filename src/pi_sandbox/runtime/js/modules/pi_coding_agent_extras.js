// pi:coding-agent-extras — the long tail of @mariozechner/pi-coding-agent (and @earendil-works/pi-coding-agent)
// value exports. An ES import of a name the module does not export is a link error that stops the whole
// extension from loading, so every upstream export has a value here: small helpers are implemented, headless UI
// components render nothing, and agent-internal machinery (sessions, runners, credential stores, run modes)
// throws ERR_NOT_SUPPORTED when used — an extension runs inside the sandbox, not as the agent.
import * as host from "pi:host";
import { Container } from "@mariozechner/pi-tui";
import { getEditorKeybindings } from "@mariozechner/pi-tui";
import * as path from "path";

function notInExtensions(name) {
  const fn = function () {
    throw Object.assign(new Error(`pi-sandbox: ${name} is agent-internal and not available inside an extension`), { code: "ERR_NOT_SUPPORTED" });
  };
  Object.defineProperty(fn, "name", { value: name });
  return fn;
}

// ---- agent-internal machinery ------------------------------------------------------------------------------
export const AgentSession = notInExtensions("AgentSession");
export const AgentSessionRuntime = notInExtensions("AgentSessionRuntime");
export const ExtensionRunner = notInExtensions("ExtensionRunner");
export const InteractiveMode = notInExtensions("InteractiveMode");
export const RpcClient = notInExtensions("RpcClient");
export const DefaultPackageManager = notInExtensions("DefaultPackageManager");
export const DefaultResourceLoader = notInExtensions("DefaultResourceLoader");
export const ModelRuntime = notInExtensions("ModelRuntime");
export const ProjectTrustStore = notInExtensions("ProjectTrustStore");
export class CredentialSynchronizationError extends Error {}
export const FileAuthStorageBackend = notInExtensions("FileAuthStorageBackend");
export const InMemoryAuthStorageBackend = notInExtensions("InMemoryAuthStorageBackend");
export const main = notInExtensions("main");
export const runPrintMode = notInExtensions("runPrintMode");
export const runRpcMode = notInExtensions("runRpcMode");
export const parseArgs = notInExtensions("parseArgs");
export const createAgentSession = notInExtensions("createAgentSession");
export const createAgentSessionFromServices = notInExtensions("createAgentSessionFromServices");
export const createAgentSessionRuntime = notInExtensions("createAgentSessionRuntime");
export const createAgentSessionServices = notInExtensions("createAgentSessionServices");
export const createExtensionRuntime = notInExtensions("createExtensionRuntime");
export const discoverAndLoadExtensions = notInExtensions("discoverAndLoadExtensions");
export const discoverAuthStorage = notInExtensions("discoverAuthStorage");
export const discoverContextFiles = notInExtensions("discoverContextFiles");
export const discoverExtensions = notInExtensions("discoverExtensions");
export const discoverModels = notInExtensions("discoverModels");
export const discoverPromptTemplates = notInExtensions("discoverPromptTemplates");
export const discoverSkills = notInExtensions("discoverSkills");
export const loadSettings = notInExtensions("loadSettings");
export const loadProjectContextFiles = notInExtensions("loadProjectContextFiles");
export const buildSystemPrompt = notInExtensions("buildSystemPrompt");
export const compact = notInExtensions("compact");
export const generateSummary = notInExtensions("generateSummary");
export const generateSummaryWithUsage = notInExtensions("generateSummaryWithUsage");
export const generateBranchSummary = notInExtensions("generateBranchSummary");
export const createCodemodeExtension = notInExtensions("createCodemodeExtension");
export const createMcpExtension = notInExtensions("createMcpExtension");
export const createToolSearchExtension = notInExtensions("createToolSearchExtension");
export const resolveCliModel = notInExtensions("resolveCliModel");
export const resolveModelScopeWithDiagnostics = notInExtensions("resolveModelScopeWithDiagnostics");
export const readStoredCredential = notInExtensions("readStoredCredential"); // secrets: use ctx.modelRegistry
export const convertToPng = notInExtensions("convertToPng");
export const createPowerShellTool = notInExtensions("createPowerShellTool");
export const createPowerShellToolDefinition = notInExtensions("createPowerShellToolDefinition");
export const createLocalPowerShellOperations = notInExtensions("createLocalPowerShellOperations");
export const getPowerShellConfig = notInExtensions("getPowerShellConfig");
export const isPowerShellToolResult = (e) => !!e && e.toolName === "powershell";

// ---- headless components: constructible, render nothing ------------------------------------------------------
class HeadlessComponent extends Container {
  constructor(...args) { super(); this.args = args; }
}
const component = (name) => ({ [name]: class extends HeadlessComponent {} })[name];
export const ArminComponent = component("ArminComponent");
export const AssistantMessageComponent = component("AssistantMessageComponent");
export const BashExecutionComponent = component("BashExecutionComponent");
export const BranchSummaryMessageComponent = component("BranchSummaryMessageComponent");
export const CompactionSummaryMessageComponent = component("CompactionSummaryMessageComponent");
export const CustomMessageComponent = component("CustomMessageComponent");
export const ExtensionEditorComponent = component("ExtensionEditorComponent");
export const ExtensionInputComponent = component("ExtensionInputComponent");
export const ExtensionSelectorComponent = component("ExtensionSelectorComponent");
export const FooterComponent = component("FooterComponent");
export const LoginDialogComponent = component("LoginDialogComponent");
export const ModelSelectorComponent = component("ModelSelectorComponent");
export const OAuthSelectorComponent = component("OAuthSelectorComponent");
export const SessionSelectorComponent = component("SessionSelectorComponent");
export const SettingsSelectorComponent = component("SettingsSelectorComponent");
export const ShowImagesSelectorComponent = component("ShowImagesSelectorComponent");
export const SkillInvocationMessageComponent = component("SkillInvocationMessageComponent");
export const ThemeSelectorComponent = component("ThemeSelectorComponent");
export const ThinkingSelectorComponent = component("ThinkingSelectorComponent");
export const ToolExecutionComponent = component("ToolExecutionComponent");
export const TreeSelectorComponent = component("TreeSelectorComponent");
export const UserMessageComponent = component("UserMessageComponent");
export const UserMessageSelectorComponent = component("UserMessageSelectorComponent");

// ---- small helpers, implemented ----------------------------------------------------------------------------
export const CURRENT_SESSION_VERSION = 3;
export const VIRTUAL_MODEL_STATE_ENTRY = "virtual-model-state";
export const DEFAULT_COMPACTION_SETTINGS = Object.freeze({ enabled: true, reserveTokens: 16384, keepRecentTokens: 20000 });

/** Rough token estimate (chars / 4), as upstream uses for budgeting. */
export function estimateTokens(messageOrText) {
  const text = typeof messageOrText === "string" ? messageOrText : JSON.stringify(messageOrText ?? "");
  return Math.ceil(text.length / 4);
}
export function calculateContextTokens(usage) {
  if (!usage) return 0;
  return usage.totalTokens || (usage.input || 0) + (usage.output || 0) + (usage.cacheRead || 0) + (usage.cacheWrite || 0);
}
export function shouldCompact(contextTokens, contextWindow, settings = DEFAULT_COMPACTION_SETTINGS) {
  return !!settings.enabled && contextTokens > contextWindow - settings.reserveTokens;
}
export function getLastAssistantUsage(entries) {
  for (let i = (entries || []).length - 1; i >= 0; i--) {
    const m = entries[i] && (entries[i].message || entries[i]);
    if (m && m.role === "assistant" && m.usage) return m.usage;
  }
  return undefined;
}
export function findTurnStartIndex(entries, index) {
  for (let i = index; i >= 0; i--) if (entries[i] && entries[i].type === "message" && entries[i].message.role === "user") return i;
  return -1;
}
export function findCutPoint() { return { firstKeptEntryIndex: 0, turnStartIndex: -1, isSplitTurn: false }; }
export function collectEntriesForBranchSummary() { return { entries: [], commonAncestorId: null }; }
export function prepareBranchEntries(entries) { return { messages: [], fileOps: { read: new Set(), written: new Set(), edited: new Set() }, entries }; }

/** JSONL text → entries (torn/invalid lines skipped). */
export function parseSessionEntries(text) {
  const out = [];
  for (const line of String(text).split("\n")) {
    if (!line.trim()) continue;
    try { out.push(JSON.parse(line)); } catch { /* a torn last line is skipped */ }
  }
  return out;
}
export function migrateSessionEntries(entries) { return entries; }
export function getLatestCompactionEntry(entries) {
  for (let i = (entries || []).length - 1; i >= 0; i--) if (entries[i] && entries[i].type === "compaction") return entries[i];
  return undefined;
}
export function sessionEntryToContextMessages(entry) {
  if (!entry) return [];
  if (entry.type === "message") return [entry.message];
  if (entry.type === "custom_message") return [{ role: "custom", customType: entry.customType, content: entry.content, display: entry.display, details: entry.details, timestamp: Date.parse(entry.timestamp) || 0 }];
  return [];
}
export function buildSessionContext(entries) {
  const messages = (entries || []).flatMap((e) => sessionEntryToContextMessages(e));
  return { messages, thinkingLevel: "off", model: null };
}
export function buildContextEntries(entries) { return (entries || []).filter((e) => e && (e.type === "message" || e.type === "custom_message")); }
// pi's SessionProjection: the entries with the context's fields beside them.
export function buildSessionProjection(entries) { return { entries: buildContextEntries(entries), ...buildSessionContext(entries) }; }

/** Extension-to-extension style bus for code that builds its own. */
export function createEventBus() {
  const handlers = new Map();
  const bus = {
    on(channel, fn) { if (!handlers.has(channel)) handlers.set(channel, new Set()); handlers.get(channel).add(fn); return () => handlers.get(channel).delete(fn); },
    emit(channel, data) { for (const fn of handlers.get(channel) || []) fn(data); },
    clear() { handlers.clear(); },
  };
  return bus;
}

/** Minimal line diff ("-"/"+" lines around the first difference). */
export function generateDiffString(oldText, newText) {
  const a = String(oldText).split("\n"), b = String(newText).split("\n");
  let start = 0;
  while (start < a.length && start < b.length && a[start] === b[start]) start++;
  let endA = a.length - 1, endB = b.length - 1;
  while (endA >= start && endB >= start && a[endA] === b[endB]) { endA--; endB--; }
  const lines = [...a.slice(start, endA + 1).map((l, i) => `-${start + i + 1} ${l}`), ...b.slice(start, endB + 1).map((l, i) => `+${start + i + 1} ${l}`)];
  return { diff: lines.join("\n"), firstChangedLine: lines.length ? start + 1 : undefined };
}
export function generateUnifiedPatch(filePath, oldText, newText) {
  const { diff } = generateDiffString(oldText, newText);
  return `--- ${filePath}\n+++ ${filePath}\n${diff.replace(/^([-+])\d+ /gm, "$1")}`;
}
export function renderDiff(diffText) { return String(diffText); }

export function getShellConfig() { return { shell: "bash", args: ["-c"] }; }

/** BashOperations over the `exec` hostcall (mediated like every other command). */
export function createLocalBashOperations() {
  return {
    async exec(command, cwd, options = {}) {
      const params = { cmd: "bash", args: ["-c", command], cwd };
      if (options.timeout) params.timeout_ms = options.timeout * 1000;
      const res = await host.call("exec", params);
      const out = `${res.stdout || ""}${res.stderr || ""}`;
      if (options.onData && out) options.onData(new TextEncoder().encode(out));
      return { exitCode: res.killed ? null : res.exit_code };
    },
  };
}

export function keyText(action) { return getEditorKeybindings().getKeys(action).join("/"); }
export function getPackageDir() { return "/pi-sandbox/pi-coding-agent"; }
export function getDocsPath() { return path.join(getPackageDir(), "docs"); }
export function getExamplesPath() { return path.join(getPackageDir(), "examples"); }
export function getReadmePath() { return path.join(getPackageDir(), "README.md"); }

export function formatSkillsForPrompt(skills) {
  return (skills || []).map((s) => `- ${s.name}: ${s.description || ""}`.trim()).join("\n");
}
export function loadSkills() { return { skills: [], diagnostics: [] }; }
export function loadSkillsFromDir() { return { skills: [], diagnostics: [] }; }
export function parseSkillBlock() { return null; }
export function createSyntheticSourceInfo(p, options = {}) { return { path: p, source: options.source || "extension", scope: "temporary" }; }
export function hasTrustRequiringProjectResources() { return false; }

export function formatDimensionNote(r) { return r && r.wasResized ? `[Image resized to ${r.width}x${r.height}]` : undefined; }
/** No image codecs in the sandbox: the image is returned unchanged (wasResized: false). */
export async function resizeImage(img) {
  return { data: img.data, mimeType: img.mimeType, width: img.width || 0, height: img.height || 0, originalWidth: img.width || 0, originalHeight: img.height || 0, wasResized: false };
}
export function detectSupportedImageMimeTypeFromFile(file) {
  const ext = path.extname(String(file)).toLowerCase();
  return { ".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".gif": "image/gif", ".webp": "image/webp" }[ext] || null;
}

export function wrapRegisteredTool(tool) { return tool; }
export function wrapRegisteredTools(tools) { return tools; }
export function wrapToolWithExtensions(tool) { return tool; }
export function wrapToolsWithExtensions(tools) { return tools; }
export function isStandardSchema(s) { return !!s && typeof s === "object" && "~standard" in s; }
export function hasJSONSchemaConverter(s) { return isStandardSchema(s) && typeof s["~standard"].jsonSchema === "function"; }
export function toJSONSchema(s) { return s; }

// pi 1.6's read-range label (`:10-19` for offset 10, limit 10): finite numbers or numeric strings; a malformed
// or absent range gives "" (strict schemas send omitted optional arguments as null).
function lineNumber(value) {
  const n = typeof value === "string" && value.trim() !== "" ? Number(value) : value;
  return typeof n === "number" && Number.isFinite(n) ? n : undefined;
}
export function formatReadLineRange(offset, limit) {
  if (offset == null && limit == null) return "";
  const start = offset == null ? 1 : lineNumber(offset);
  if (start === undefined) return "";
  if (limit == null) return `:${start}`;
  const count = lineNumber(limit);
  if (count === undefined) return "";
  const end = start + count - 1;
  return `:${start}${end ? `-${end}` : ""}`;
}
