// pi:ai-extras — the value exports that newer pi-ai releases (1.x, under @earendil-works) added to the package
// root and to its `compat` / `models` / provider sub-paths. An ES import of a name the module does not export is
// a link error that stops the whole extension from loading, so every upstream name has a value: constants and
// small pure helpers are implemented; provider, credential and transport machinery (which runs in the host,
// never in an extension) throws ERR_NOT_SUPPORTED when used.
function notInExtensions(name) {
  const fn = function () {
    throw Object.assign(new Error(`pi-sandbox: ${name} is LLM-provider machinery that runs in the host, not in an extension; `
      + "use complete()/stream() or ctx.modelRegistry"), { code: "ERR_NOT_SUPPORTED" });
  };
  Object.defineProperty(fn, "name", { value: name });
  return fn;
}

// ---- constants ------------------------------------------------------------------------------------------------
export const PI_AI_VERSION = "0.0.0-pi-sandbox";
export const PI_ATTRIBUTION = "pi";
export const AI_TELEMETRY_SCHEMA = "pi.ai.telemetry.v1";
export const CACHE_WARMING_IDLE_CONTINUATION_PROBABILITY = 0;
export const CACHE_WARMING_MAX_AGE_MS = 0;
export const CACHE_WARMING_MAX_IDLE_AGE_MS = 0;
export const CACHE_WARMING_MINIMUM_EXPECTED_SAVINGS = 0;
export const DEFAULT_MAX_AGENT_RETRY_DELAY_MS = 60000;
export const ANTHROPIC_API_KEY_ENV = "ANTHROPIC_API_KEY";
export const ANTHROPIC_AUTH_TOKEN_ENV = "ANTHROPIC_AUTH_TOKEN";
export const ANTHROPIC_OAUTH_TOKEN_ENV = "ANTHROPIC_OAUTH_TOKEN";
export const ANTHROPIC_FEDERATION_RULE_ID_ENV = "ANTHROPIC_FEDERATION_RULE_ID";
export const ANTHROPIC_IDENTITY_TOKEN_FILE_ENV = "ANTHROPIC_IDENTITY_TOKEN_FILE";
export const ANTHROPIC_ORGANIZATION_ID_ENV = "ANTHROPIC_ORGANIZATION_ID";
export const ANTHROPIC_SERVICE_ACCOUNT_ID_ENV = "ANTHROPIC_SERVICE_ACCOUNT_ID";
export const ANTHROPIC_WORKSPACE_ID_ENV = "ANTHROPIC_WORKSPACE_ID";

// ---- small pure helpers ---------------------------------------------------------------------------------------
export class ModelsError extends Error {
  constructor(message, options) { super(message, options); this.name = "ModelsError"; }
}
export function getModelType(model) { return model && typeof model === "object" && model.type ? model.type : "llm"; }
export function isModelType(model, type) { return getModelType(model) === type; }
export function hasApi(model, api) { return Boolean(model) && model.api === api; }
export function retryDelayMs(attempt, max = DEFAULT_MAX_AGENT_RETRY_DELAY_MS) {
  return Math.min(max, 1000 * 2 ** Math.max(0, Number(attempt) || 0));
}
export function isRetryableAssistantError() { return false; }
export function isRecoverableLength() { return false; }
export function isCacheWarmingReplayable() { return false; }
export function evaluateCacheWarming() { return { warm: false }; }
export function getCacheWarmingDelayMs() { return undefined; }
export function getCacheWarmingRequestOptions() { return {}; }
export function getPromptCacheTtlMs() { return undefined; }
export function formatUserAgent(name, version) { return version ? `${name}/${version}` : String(name ?? ""); }
export function getClientVersion() { return PI_AI_VERSION; }
export function getAttributionHeaders() { return {}; }
export function getIdentityHeaders() { return {}; }
export function getOpenCodeSessionHeaders() { return {}; }
export function mergeClientIdentity(a, b) { return { ...(a || {}), ...(b || {}) }; }
export function withClientIdentity(options, identity) { return { ...(options || {}), identity }; }
export function parseToolCallArguments(text) {
  if (typeof text !== "string") return text ?? {};
  try { return JSON.parse(text); } catch { return {}; }
}
export function toToolDeclaration(tool) {
  return { name: tool?.name, description: tool?.description, parameters: tool?.parameters };
}
export function declarationsEqual(a, b) { return JSON.stringify(a) === JSON.stringify(b); }
export function getDeclaredTools(context) { return Array.isArray(context?.tools) ? context.tools : []; }
export const getCurrentTools = getDeclaredTools;
export function getToolStateChanges() { return []; }
export function hasToolRedefinitions() { return false; }
export function hasNonAdditiveToolChanges() { return false; }
function systemText(message) {
  const c = message?.content;
  return typeof c === "string" ? c : Array.isArray(c) ? c.map((p) => p?.text ?? "").join("") : "";
}
export function createInitialSystemMessage(text) { return { role: "system", content: String(text ?? "") }; }
export function getInitialSystemMessage(context) {
  return (context?.messages || []).find((m) => m?.role === "system") ?? (context?.systemPrompt ? createInitialSystemMessage(context.systemPrompt) : undefined);
}
export const getCurrentSystemMessage = getInitialSystemMessage;
export function getSystemMessageText(message) { return systemText(message); }
export function getCurrentSystemPrompt(context) { return context?.systemPrompt ?? systemText(getInitialSystemMessage(context)); }
export function withoutInitialSystemMessage(messages) { return (messages || []).filter((m) => m?.role !== "system"); }
export function collapseSystemMessages(messages) { return messages || []; }
export function renderSystemMessageUpdate(message) { return systemText(message); }
export function normalizeContext(context) { return context; }
export function resolveTranscript(context) { return context?.messages || []; }
export function resolveTranscriptTools(context) { return getDeclaredTools(context); }
export function defaultProviderAuthContext() { return {}; }

// ---- provider, credential and transport machinery (host side) --------------------------------------------------
export const InMemoryCredentialStore = notInExtensions("InMemoryCredentialStore");
export const InMemoryModelsStore = notInExtensions("InMemoryModelsStore");
export const StreamingJsonParser = notInExtensions("StreamingJsonParser");
export const ToolCallArgumentsStream = notInExtensions("ToolCallArgumentsStream");
export const createFauxCore = notInExtensions("createFauxCore");
export const createModels = notInExtensions("createModels");
export const createProvider = notInExtensions("createProvider");
export const envApiKeyAuth = notInExtensions("envApiKeyAuth");
export const fauxProvider = notInExtensions("fauxProvider");
export const lazyApi = notInExtensions("lazyApi");
export const lazyOAuth = notInExtensions("lazyOAuth");
export const lazyStream = notInExtensions("lazyStream");
export const retryAssistantCall = notInExtensions("retryAssistantCall");
export const anthropicMessagesApi = notInExtensions("anthropicMessagesApi");
export const azureOpenAIResponsesApi = notInExtensions("azureOpenAIResponsesApi");
export const bedrockConverseStreamApi = notInExtensions("bedrockConverseStreamApi");
export const googleGenerativeAIApi = notInExtensions("googleGenerativeAIApi");
export const googleVertexApi = notInExtensions("googleVertexApi");
export const mistralConversationsApi = notInExtensions("mistralConversationsApi");
export const openAICodexResponsesApi = notInExtensions("openAICodexResponsesApi");
export const openAICompletionsApi = notInExtensions("openAICompletionsApi");
export const openAIResponsesApi = notInExtensions("openAIResponsesApi");
export const piMessagesApi = notInExtensions("piMessagesApi");
export const setBedrockProviderLoader = notInExtensions("setBedrockProviderLoader");
export const bedrockProviderModule = notInExtensions("bedrockProviderModule");
export const registerLazyBedrockProvider = notInExtensions("registerLazyBedrockProvider");
export const registerLazyOAuthFlows = notInExtensions("registerLazyOAuthFlows");
export const registerBunOAuthFlows = notInExtensions("registerBunOAuthFlows");

// ---- names of older releases (0.45 - 0.52): OAuth logins, token refresh, provider request builders -------------
function noOAuth(name) {
  const fn = function () {
    throw Object.assign(new Error(`pi-sandbox: ${name}: OAuth credentials are not available to extensions; use ctx.modelRegistry.getApiKey`),
      { code: "ERR_NOT_SUPPORTED" });
  };
  Object.defineProperty(fn, "name", { value: name });
  return fn;
}
export const loginAnthropic = noOAuth("loginAnthropic");
export const loginAntigravity = noOAuth("loginAntigravity");
export const loginGeminiCli = noOAuth("loginGeminiCli");
export const loginGitHubCopilot = noOAuth("loginGitHubCopilot");
export const loginOpenAICodex = noOAuth("loginOpenAICodex");
export const refreshAnthropicToken = noOAuth("refreshAnthropicToken");
export const refreshAntigravityToken = noOAuth("refreshAntigravityToken");
export const refreshGitHubCopilotToken = noOAuth("refreshGitHubCopilotToken");
export const refreshGoogleCloudToken = noOAuth("refreshGoogleCloudToken");
export const refreshOAuthToken = noOAuth("refreshOAuthToken");
export const refreshOpenAICodexToken = noOAuth("refreshOpenAICodexToken");
export const registerOAuthProvider = noOAuth("registerOAuthProvider");
export const getOAuthProvider = () => undefined;
export const getOAuthProviderInfoList = () => [];
export const anthropicOAuthProvider = Object.freeze({ id: "anthropic" });
export const antigravityOAuthProvider = Object.freeze({ id: "google-antigravity" });
export const geminiCliOAuthProvider = Object.freeze({ id: "google-gemini-cli" });
export const githubCopilotOAuthProvider = Object.freeze({ id: "github-copilot" });
export const openaiCodexOAuthProvider = Object.freeze({ id: "openai-codex" });
export const buildRequest = notInExtensions("buildRequest");
export const convertMessages = notInExtensions("convertMessages");
export const buildCodexPiBridge = notInExtensions("buildCodexPiBridge");
export const buildCodexSystemPrompt = notInExtensions("buildCodexSystemPrompt");
export const getCodexInstructions = notInExtensions("getCodexInstructions");
export const streamGoogleGeminiCli = notInExtensions("streamGoogleGeminiCli");
export const streamSimpleGoogleGeminiCli = notInExtensions("streamSimpleGoogleGeminiCli");
export function extractRetryDelay() { return undefined; }
export function getGitHubCopilotBaseUrl() { return "https://api.githubcopilot.com"; }
export function normalizeDomain(domain) { return String(domain ?? "").trim().replace(/^https?:\/\//, "").replace(/\/+$/, ""); }
