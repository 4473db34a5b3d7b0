// @mariozechner/pi-agent-core (and @earendil-works/pi-agent-core) — extensions import it mostly for types
// (erased). Helpers shared with pi-coding-agent are re-exported from there; the agent loop, harness and session
// repositories belong to the host and fail with a clear error inside an extension.
import * as pca from "@mariozechner/pi-coding-agent";
import { uuidv7 } from "@mariozechner/pi-ai";

function notSupported(what) {
  return Object.assign(new Error(`pi-sandbox: ${what} is not available inside an extension (the agent loop runs in the host)`), { code: "ERR_NOT_SUPPORTED" });
}
const hostOnly = (what) => function () { throw notSupported(what); };

export class Agent { constructor() { throw notSupported("new Agent()"); } }
export const AgentHarness = hostOnly("AgentHarness");
export const InMemorySessionRepo = hostOnly("InMemorySessionRepo");
export const JsonlSessionRepo = hostOnly("JsonlSessionRepo");
export const Session = hostOnly("Session");
export const agentLoop = hostOnly("agentLoop()");
export const agentLoopContinue = hostOnly("agentLoopContinue()");
export const runAgentLoop = hostOnly("runAgentLoop()");
export const runAgentLoopContinue = hostOnly("runAgentLoopContinue()");
export const streamProxy = hostOnly("streamProxy()");
export const executeShellWithCapture = hostOnly("executeShellWithCapture()");
export const prepareCompaction = hostOnly("prepareCompaction()");
export const toSession = hostOnly("toSession()");
// Added by pi-agent-core 1.x.
export const runToolCall = hostOnly("runToolCall()");
export const setDefaultStreamFn = hostOnly("setDefaultStreamFn()");
export const DEFAULT_AGENT_IDENTITY = Object.freeze({ name: "pi" });

export class AgentHarnessError extends Error {}
export class BranchSummaryError extends Error {}
export class CompactionError extends Error {}
export class ExecutionError extends Error {}
export class FileError extends Error {}
export class SessionError extends Error {}

export const BRANCH_SUMMARY_PREFIX = "<summary>\n";
export const BRANCH_SUMMARY_SUFFIX = "\n</summary>";
export const COMPACTION_SUMMARY_PREFIX = "<summary>\n";
export const COMPACTION_SUMMARY_SUFFIX = "\n</summary>";

export const {
  DEFAULT_COMPACTION_SETTINGS, DEFAULT_MAX_BYTES, DEFAULT_MAX_LINES, GREP_MAX_LINE_LENGTH, buildSessionContext,
  calculateContextTokens, collectEntriesForBranchSummary, compact, convertToLlm, estimateTokens, findCutPoint,
  findTurnStartIndex, formatSize, generateBranchSummary, generateSummary, getLastAssistantUsage, prepareBranchEntries,
  serializeConversation, shouldCompact, truncateHead, truncateLine, truncateTail, loadSkills,
} = pca;
export { uuidv7 };

export const estimateContextTokens = (messages) => (messages || []).reduce((n, m) => n + pca.estimateTokens(m), 0);
export const bashExecutionToText = (m) => `Ran \`${m.command}\`\n\`\`\`\n${m.output || ""}\n\`\`\``;
export const createCustomMessage = (customType, content, display = true, details) =>
  ({ role: "custom", customType, content, display, details, timestamp: Date.now() });
export const createBranchSummaryMessage = (summary, fromId) => ({ role: "branchSummary", summary, fromId, timestamp: Date.now() });
export const createCompactionSummaryMessage = (summary, tokensBefore) => ({ role: "compactionSummary", summary, tokensBefore, timestamp: Date.now() });
export const createSessionId = () => uuidv7();
export const createTimestamp = () => new Date().toISOString();
export const getEntriesToFork = (entries) => entries || [];
export const formatSkillsForSystemPrompt = (skills) => pca.formatSkillsForPrompt(skills);
export const formatSkillInvocation = (name, args = "") => `/skill:${name}${args ? " " + args : ""}`;
export const formatPromptTemplateInvocation = (name, args = "") => `/${name}${args ? " " + args : ""}`;
export const loadSkillsFromDir = pca.loadSkillsFromDir;
export const loadSourcedSkills = () => ({ skills: [], diagnostics: [] });
export const loadPromptTemplates = () => [];
export const loadSourcedPromptTemplates = () => ({ templates: [], diagnostics: [] });
export const parseCommandArgs = (s) => (String(s).match(/"[^"]*"|'[^']*'|\S+/g) || []).map((a) => a.replace(/^["']|["']$/g, ""));
export const substituteArgs = (template, args) =>
  String(template).replace(/\$(\d+)|\$ARGUMENTS|\$@/g, (m, i) => (i ? args[Number(i) - 1] ?? "" : args.join(" ")));
export const sanitizeBinaryOutput = (s) => String(s).replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f]/g, "");
// Result helpers.
export const ok = (value) => ({ ok: true, value });
export const err = (error) => ({ ok: false, error });
export const getOrThrow = (r) => { if (r.ok) return r.value; throw r.error; };
export const getOrUndefined = (r) => (r.ok ? r.value : undefined);
export const getFileSystemResultOrThrow = getOrThrow;
export const toError = (e) => (e instanceof Error ? e : new Error(String(e)));
