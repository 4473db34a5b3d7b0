// @mariozechner/pi-ai — what extensions use: StringEnum and Type (TypeBox re-export), model lookup, and
// complete/stream. An extension never talks to an LLM provider itself: completions are an `events` hostcall
// {op: "complete_ai", model, context, options} that the host may serve or refuse; when it is unavailable the
// call fails cleanly with an Error (code ERR_AI_UNAVAILABLE) instead of reaching the network.
import * as host from "pi:host";
import { Type } from "@sinclair/typebox";
import "pi:typebox-unsafe";

export { Type };

/** String enum schema that providers accept (plain {type:"string", enum}), as upstream defines it. */
export function StringEnum(values, options = {}) {
  return Type.Unsafe({ type: "string", enum: [...values], ...options });
}

const KNOWN_APIS = {
  anthropic: "anthropic-messages", openai: "openai-responses", google: "google-generative-ai",
  "google-vertex": "google-vertex", mistral: "openai-completions", xai: "openai-completions",
  groq: "openai-completions", openrouter: "openai-completions", cerebras: "openai-completions",
};

/** A model description; the host knows the real catalogue, so unknown ids get conservative defaults. */
export function getModel(provider, modelId) {
  return {
    id: String(modelId), name: String(modelId), provider: String(provider), api: KNOWN_APIS[provider] || "openai-completions",
    baseUrl: "", reasoning: false, input: ["text"], cost: { input: 0, output: 0, cacheRead: 0, cacheWrite: 0 },
    contextWindow: 128000, maxTokens: 8192,
  };
}
export function getModels() { return []; }
export function getProviders() { return Object.keys(KNOWN_APIS); }
export function modelsAreEqual(a, b) { return !!a && !!b && a.id === b.id && a.provider === b.provider; }
export function supportsXhigh() { return false; }
export function calculateCost(model, usage) {
  const c = (model && model.cost) || {};
  const cost = {
    input: ((c.input || 0) * (usage.input || 0)) / 1e6, output: ((c.output || 0) * (usage.output || 0)) / 1e6,
    cacheRead: ((c.cacheRead || 0) * (usage.cacheRead || 0)) / 1e6, cacheWrite: ((c.cacheWrite || 0) * (usage.cacheWrite || 0)) / 1e6,
  };
  cost.total = cost.input + cost.output + cost.cacheRead + cost.cacheWrite;
  usage.cost = cost;
  return cost;
}
export function getEnvApiKey() { return undefined; } // keys are secrets: ask ctx.modelRegistry.getApiKey (policy-checked)

/** Generic push-based async event stream with a final result promise. */
export class EventStream {
  constructor(isComplete = () => false, extractResult = (e) => e) {
    this._queue = []; this._waiters = []; this._done = false;
    this._isComplete = isComplete; this._extract = extractResult;
    this._result = new Promise((resolve, reject) => { this._resolve = resolve; this._reject = reject; });
  }
  push(event) {
    if (this._done) return;
    if (this._isComplete(event)) { this._done = true; this._resolve(this._extract(event)); }
    const w = this._waiters.shift();
    if (w) w({ value: event, done: false });
    else this._queue.push(event);
    if (this._done) for (const x of this._waiters.splice(0)) x({ value: undefined, done: true });
  }
  end(result) {
    this._done = true;
    if (result !== undefined) this._resolve(result);
    for (const w of this._waiters.splice(0)) w({ value: undefined, done: true });
  }
  result() { return this._result; }
  [Symbol.asyncIterator]() {
    return {
      next: () => {
        if (this._queue.length) return Promise.resolve({ value: this._queue.shift(), done: false });
        if (this._done) return Promise.resolve({ value: undefined, done: true });
        return new Promise((r) => this._waiters.push(r));
      },
      return: () => Promise.resolve({ value: undefined, done: true }),
    };
  }
}

export class AssistantMessageEventStream extends EventStream {
  constructor() {
    super((e) => e.type === "done" || e.type === "error", (e) => (e.type === "done" ? e.message : e.error));
  }
}
export function createAssistantMessageEventStream() { return new AssistantMessageEventStream(); }

function unavailable(err) {
  const e = new Error(`pi-sandbox: LLM completion is not available to this extension: ${err && err.message ? err.message : err}`);
  e.code = "ERR_AI_UNAVAILABLE";
  if (err && err.code) e.hostCode = err.code;
  return e;
}

function plainContext(context) {
  // Tools carry TypeBox schemas (symbols are dropped by JSON); keep only what a provider needs.
  const ctx = { ...context };
  if (Array.isArray(context.tools)) ctx.tools = context.tools.map((t) => ({ name: t.name, description: t.description, parameters: t.parameters }));
  return ctx;
}

function plainOptions(options = {}) {
  const { signal, onPayload, ...rest } = options;
  if (rest.apiKey) delete rest.apiKey; // never ship secrets through params; the host holds provider keys
  return rest;
}

/** One completion through the host; resolves to an AssistantMessage. */
export async function complete(model, context, options = {}) {
  if (options.signal && options.signal.aborted) throw Object.assign(new Error("Request was aborted"), { name: "AbortError" });
  try {
    const res = await host.call("events", { op: "complete_ai", model: model && { id: model.id, provider: model.provider, api: model.api },
      context: plainContext(context || {}), options: plainOptions(options) });
    return res && res.message ? res.message : res;
  } catch (err) {
    if (err && err.name === "HostcallError") throw unavailable(err);
    throw err;
  }
}
export const completeSimple = complete;

/** Streaming form: the host answers with a whole message, replayed as start/text/done events. */
export function stream(model, context, options = {}) {
  const s = new AssistantMessageEventStream();
  complete(model, context, options).then((message) => {
    s.push({ type: "start", partial: message });
    const text = ((message && message.content) || []).filter((c) => c.type === "text").map((c) => c.text).join("");
    if (text) {
      s.push({ type: "text_start", contentIndex: 0, partial: message });
      s.push({ type: "text_delta", contentIndex: 0, delta: text, partial: message });
      s.push({ type: "text_end", contentIndex: 0, content: text, partial: message });
    }
    s.push({ type: "done", reason: (message && message.stopReason) || "stop", message });
  }, (err) => {
    const message = { role: "assistant", content: [], stopReason: "error", errorMessage: err.message, api: model && model.api,
      provider: model && model.provider, model: model && model.id, usage: emptyUsage(), timestamp: Date.now() };
    s.push({ type: "error", reason: "error", error: message });
  });
  return s;
}
export const streamSimple = stream;

function emptyUsage() {
  return { input: 0, output: 0, cacheRead: 0, cacheWrite: 0, totalTokens: 0, cost: { input: 0, output: 0, cacheRead: 0, cacheWrite: 0, total: 0 } };
}

/** Tolerant parse of possibly incomplete JSON (tool-call arguments while streaming). */
export function parseStreamingJson(text) {
  if (!text || !String(text).trim()) return {};
  try { return JSON.parse(text); } catch { /* fall through */ }
  let s = String(text);
  const stack = [];
  let inStr = false;
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (inStr) { if (c === "\\") i++; else if (c === '"') inStr = false; continue; }
    if (c === '"') inStr = true;
    else if (c === "{" || c === "[") stack.push(c === "{" ? "}" : "]");
    else if (c === "}" || c === "]") stack.pop();
  }
  if (inStr) s += '"';
  s = s.replace(/[,:]\s*$/, "");
  try { return JSON.parse(s + stack.reverse().join("")); } catch { return {}; }
}

export function isContextOverflow(message) {
  return !!message && message.stopReason === "error" && /context|too long|maximum.*tokens/i.test(String(message.errorMessage || ""));
}

export function validateToolArguments(tool, toolCall) { return toolCall.arguments; }
export function validateToolCall(tools, toolCall) {
  const tool = tools.find((t) => t.name === toolCall.name);
  if (!tool) throw new Error(`Tool "${toolCall.name}" not found`);
  return toolCall.arguments;
}

const providers = new Map();
export function registerApiProvider(provider) { providers.set(provider.api, provider); }
export function getApiProvider(api) { return providers.get(api); }

// ---- long tail --------------------------------------------------------------------------------------------
export function getSupportedThinkingLevels(model) {
  return model && model.reasoning ? ["off", "minimal", "low", "medium", "high"] : ["off"];
}
export function contentText(content) {
  if (typeof content === "string") return content;
  return (content || []).filter((c) => c && c.type === "text").map((c) => c.text).join("");
}
export function uuidv7() {
  const ms = Date.now();
  const rnd = crypto.getRandomValues(new Uint8Array(10));
  const hex = (n, w) => n.toString(16).padStart(w, "0");
  const r = Array.from(rnd, (b) => hex(b, 2)).join("");
  return `${hex(Math.floor(ms / 2 ** 16), 8)}-${hex(ms % 2 ** 16, 4)}-7${r.slice(0, 3)}-${((parseInt(r.slice(3, 4), 16) & 3) | 8).toString(16)}${r.slice(4, 7)}-${r.slice(7, 19)}`;
}
export function getOAuthProviders() { return []; }
export async function getOAuthApiKey() {
  throw Object.assign(new Error("pi-sandbox: OAuth credentials are not available to extensions; use ctx.modelRegistry.getApiKey"), { code: "ERR_NOT_SUPPORTED" });
}
export function estimateSystemPromptTokens(text) { return Math.ceil(String(text || "").length / 4); }
export function isRetryableError(err) { return !!err && /overloaded|rate limit|timeout|ECONNRESET|5\d\d/i.test(String(err.message || err)); }

// Provider-specific stream functions: all go through the same host completion (the host picks the provider).
export const streamAnthropic = stream;
export const streamSimpleAnthropic = stream;
export const streamOpenAICompletions = stream;
export const streamSimpleOpenAICompletions = stream;
export const streamOpenAIResponses = stream;
export const streamSimpleOpenAIResponses = stream;
export const streamOpenAICodexResponses = stream;
export const streamSimpleOpenAICodexResponses = stream;
export const streamAzureOpenAIResponses = stream;
export const streamSimpleAzureOpenAIResponses = stream;
export const streamGoogle = stream;
export const streamSimpleGoogle = stream;
export const streamGoogleVertex = stream;
export const streamSimpleGoogleVertex = stream;
export const streamMistral = stream;
export const streamSimpleMistral = stream;

export function getApiProviders() { return [...providers.values()]; }
export function unregisterApiProviders(api) { providers.delete(api); }
export function clearApiProviders() { providers.clear(); }
export function resetApiProviders() { providers.clear(); }
export function registerBuiltInApiProviders() {}
export function setBedrockProviderModule() {}
const cleanups = new Set();
export function registerSessionResourceCleanup(fn) { cleanups.add(fn); return () => cleanups.delete(fn); }
export async function cleanupSessionResources() { for (const fn of [...cleanups]) { cleanups.delete(fn); await fn(); } }
export function clampThinkingLevel(model, level) {
  const levels = getSupportedThinkingLevels(model);
  return levels.includes(level) ? level : levels[levels.length - 1];
}
export function findEnvKeys() { return []; } // provider keys are secrets: ask ctx.modelRegistry
export function formatThrownValue(v) { return v instanceof Error ? v.message : typeof v === "string" ? v : JSON.stringify(v); }
export function extractDiagnosticError(v) { return { message: formatThrownValue(v) }; }
export function createAssistantMessageDiagnostic(kind, error) { return { kind, ...extractDiagnosticError(error), timestamp: Date.now() }; }
export function appendAssistantMessageDiagnostic(message, diagnostic) {
  message.diagnostics = [...(message.diagnostics || []), diagnostic];
  return message;
}
export function getOverflowPatterns() { return [/context.{0,20}(length|window|limit)/i, /too many tokens/i, /maximum.{0,20}tokens/i]; }
/** Parse JSON, repairing common LLM damage (trailing commas, unterminated strings/brackets). */
export function repairJson(text) {
  return String(text).replace(/,\s*([}\]])/g, "$1");
}
export function parseJsonWithRepair(text) {
  try { return JSON.parse(text); } catch { /* repair below */ }
  return parseStreamingJson(repairJson(text));
}
// Faux provider helpers (upstream uses them in tests).
export function fauxText(text) { return { type: "text", text }; }
export function fauxThinking(thinking) { return { type: "thinking", thinking }; }
export function fauxToolCall(name, args, id = `call_${Math.random().toString(36).slice(2, 10)}`) { return { type: "toolCall", id, name, arguments: args }; }
export function fauxAssistantMessage(content, opts = {}) {
  return { role: "assistant", content: Array.isArray(content) ? content : [fauxText(String(content))], api: "faux", provider: "faux",
    model: "faux", usage: emptyUsage(), stopReason: opts.stopReason || "stop", timestamp: Date.now() };
}
export function registerFauxProvider() {
  throw Object.assign(new Error("pi-sandbox: custom LLM providers run in the host; use pi.registerProvider"), { code: "ERR_NOT_SUPPORTED" });
}
// Image generation goes through a provider the host owns.
export function getImageModel() { return undefined; }
export function getImageModels() { return []; }
export function getImageProviders() { return []; }
export function getImagesApiProvider() { return undefined; }
export function registerImagesApiProvider() {}
export function registerBuiltInImagesApiProviders() {}
export async function generateImages() {
  throw Object.assign(new Error("pi-sandbox: image generation is not available to extensions"), { code: "ERR_AI_UNAVAILABLE" });
}
export const generateImagesOpenRouter = generateImages;

// Names newer pi-ai releases added (1.x root, compat, models, provider sub-paths): see pi_ai_extras.js.
export * from "pi:ai-extras";
