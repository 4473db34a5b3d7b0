// pi:context — the `ctx` object handed to handlers: headless UI, a read-only session view, the
// model registry (API keys are secrets: an `env` hostcall decided by the pipeline), and an abort
// signal. Split from the prelude; `bindApi(pi)` connects the two pieces that call back into `pi`.

import * as host from "pi:host";

// Captured before extension code runs (see the prelude).
const append = (list, value) => {
  list[list.length] = value;
};

let api = null;
/** Connect the `pi` object (used by sessionManager.getSessionName and modelRegistry.registerProvider). */
export function bindApi(pi) {
  api = pi;
}

// Status-like UI calls: in pi they take effect at once and return nothing. Here they are posts: the
// extension does not wait, the host applies them in the order sent and records each (a refusal too).
function fireAndForget(method, params) {
  try {
    host.post(method, params);
  } catch {
    // Never throws into the extension (a frame over the size limit is refused like a failed update).
  }
}

// ---- ctx (built per call) ---------------------------------------------------------------------------------------

// pi's Theme with no colours: styling returns the text, ANSI lookups are empty, and the fields callers read
// (`name`, `appearance`) are strings; any other method returns its last argument (the text, by convention).
const identity = (s) => s;
const THEME_FIELDS = {
  name: "dark",
  appearance: "dark",
  sourcePath: undefined,
  sourceInfo: undefined,
  getFgAnsi: () => "",
  getBgAnsi: () => "",
  getColorMode: () => "truecolor",
  getThinkingBorderColor: () => identity,
  getBashModeBorderColor: () => identity,
  highlight: (code) => String(code ?? "").split("\n"),
  style: (text) => String(text ?? ""),
};
const identityTheme = new Proxy(
  {},
  {
    get(_target, prop) {
      if (prop === Symbol.toPrimitive || prop === "then") return undefined;
      if (typeof prop === "string" && Object.prototype.hasOwnProperty.call(THEME_FIELDS, prop)) return THEME_FIELDS[prop];
      return (...args) => (args.length ? String(args[args.length - 1]) : "");
    },
  },
);

// A question for a person: the `ui` hostcall shows it to the operator and answers the headless default
// (confirm → false, select/input/editor → undefined); a refused or failed call answers the same.
async function ask(op, params, fallback) {
  try {
    const reply = await host.call("ui", { op, ...params });
    const value = reply ? reply.value : undefined;
    return value === null || value === undefined ? fallback : value;
  } catch {
    return fallback;
  }
}

const text = (value) => (value === undefined || value === null ? "" : String(value));

const noop = () => undefined;

// Headless UI: dialogs resolve to undefined/false, custom() to undefined; status-like calls are
// shown through the `ui` hostcall without blocking the extension. Nothing here throws.
const knownUi = {
  notify(message, level) {
    fireAndForget("ui", { op: "notify", message: text(message), level: level || "info" });
  },
  select: (title, options) =>
    ask("select", { title: text(title), options: Array.isArray(options) ? options.slice(0, 50).map((o) => text(o && typeof o === "object" ? o.label ?? o.value : o)) : [] }, undefined),
  confirm: async (title, message) => (await ask("confirm", { title: text(title), message: text(message) }, false)) === true,
  input: (title, placeholder) => ask("input", { title: text(title), message: text(placeholder) }, undefined),
  editor: (title) => ask("editor", { title: text(title) }, undefined),
  custom: async () => undefined,
  setStatus(key, text) {
    fireAndForget("ui", { op: "set_status", key: String(key), text: text === undefined ? null : String(text) });
  },
  setWidget(key, content) {
    const lines = Array.isArray(content) ? content.map(String) : content === undefined ? null : "component";
    fireAndForget("ui", { op: "set_widget", key: String(key), lines });
  },
  setWorkingMessage() {},
  setFooter() {},
  setHeader() {},
  setTitle(title) {
    fireAndForget("ui", { op: "set_title", title: String(title) });
  },
  setEditorText() {},
  getEditorText: () => "",
  pasteToEditor() {},
  setEditorComponent() {},
  getEditorComponent: () => undefined,
  // pi's headless UI answers a subscription with its unsubscribe function (callers keep and call it).
  onTerminalInput: () => noop,
  setTheme: () => ({ success: false, error: "no UI" }),
  getTheme: () => identityTheme,
  getAllThemes: () => [],
  getToolsExpanded: () => false,
  setToolsExpanded() {},
  theme: identityTheme,
};

// Newer pi releases keep adding UI calls (setWorkingIndicator, addAutocompleteProvider, ...). A
// headless UI has nothing to show, so any unknown setter-like method is a no-op instead of a crash.
const UI_NOOP = /^(set|add|remove|clear|show|hide|get|on|off|request|update|register|toggle|open|close)[A-Z]/;
const ui = new Proxy(knownUi, {
  get(target, prop, receiver) {
    if (Reflect.has(target, prop)) return Reflect.get(target, prop, receiver);
    if (typeof prop !== "string" || !UI_NOOP.test(prop)) return undefined;
    // a subscription (onX) answers an unsubscribe function, like pi's onTerminalInput
    return /^on[A-Z]/.test(prop) ? () => noop : noop;
  },
});

// Session store rows → pi's entry shapes (custom entries made by appendEntry).
function toPiEntry(entry, index) {
  if (entry && entry.type === "append_entry") {
    const wrapped = entry.data && typeof entry.data === "object" && "customType" in entry.data;
    return {
      type: "custom",
      id: entry.id ?? `entry-${index}`,
      customType: wrapped ? entry.data.customType : entry.customType,
      data: wrapped ? entry.data.data : entry.data,
      extensionId: entry.extension_id,
    };
  }
  return entry;
}

function sessionEntries(op) {
  const reply = host.callSync("session", { op });
  const rows = reply && Array.isArray(reply.entries) ? reply.entries : [];
  const out = [];
  for (let i = 0; i < rows.length; i++) append(out, toPiEntry(rows[i], i));
  return out;
}

// pi's session context (SessionManager.buildSessionContext): the branch's entries as the messages the model
// sees. A compaction entry stands for everything before the entry it kept; custom messages keep their type.
function contextEntriesOf(entries) {
  let start = 0;
  let summary = null;
  for (let i = entries.length - 1; i >= 0; i--) {
    const e = entries[i];
    if (e && e.type === "compaction") {
      summary = e;
      const kept = e.firstKeptEntryId == null ? -1 : entries.findIndex((x) => x && x.id === e.firstKeptEntryId);
      start = kept >= 0 && kept < i ? kept : i + 1;
      break;
    }
  }
  const out = [];
  if (summary) append(out, summary);
  for (let i = start; i < entries.length; i++) {
    const e = entries[i];
    if (e && e !== summary && (e.type === "message" || e.type === "custom_message" || e.type === "branch_summary")) append(out, e);
  }
  return out;
}

function entryMessages(e) {
  const at = (x) => Date.parse(x.timestamp) || 0;
  if (e.type === "message") return e.message ? [e.message] : [];
  if (e.type === "custom_message") {
    return [{ role: "custom", customType: e.customType, content: e.content, display: e.display, details: e.details, timestamp: at(e) }];
  }
  if (e.type === "compaction") return [{ role: "compactionSummary", summary: e.summary, tokensBefore: e.tokensBefore, timestamp: at(e) }];
  if (e.type === "branch_summary") return [{ role: "branchSummary", summary: e.summary, fromId: e.fromId, timestamp: at(e) }];
  return [];
}

function sessionContext(withEntries) {
  const entries = contextEntriesOf(sessionEntries("get_branch"));
  const messages = [];
  for (const e of entries) for (const m of entryMessages(e)) append(messages, m);
  const model = host.info().model;
  const out = {
    messages,
    thinkingLevel: api ? api.getThinkingLevel() : "off",
    model: model && model.provider ? { provider: model.provider, modelId: model.id } : null,
  };
  return withEntries ? { entries, ...out } : out;
}

// pi's getTree(): the session is one branch here, so each entry is the only child of the one before it.
function sessionTree() {
  const entries = sessionEntries("get_entries");
  const roots = [];
  let parent = null;
  for (const entry of entries) {
    const node = { entry, children: [] };
    append(parent ? parent.children : roots, node);
    parent = node;
  }
  return roots;
}

// A read-only view: every read is a `session` hostcall; nothing here can write the session. pi hands
// extensions its SessionManager (typed ReadonlySessionManager); the read methods of both are here.
const sessionManager = Object.freeze({
  getEntries: () => sessionEntries("get_entries"),
  getBranch: () => sessionEntries("get_branch"),
  getHeader: () => ({ type: "session", id: host.info().sessionId ?? null, cwd: host.info().cwd }),
  getSessionId: () => host.info().sessionId ?? null,
  getSessionFile: () => undefined,
  // No session file is exposed (getSessionFile is undefined, an in-memory session in pi); the folder
  // is a string because callers join paths onto it.
  getSessionDir: () => "",
  getLeafId: () => {
    const entries = sessionEntries("get_branch");
    return entries.length ? (entries[entries.length - 1].id ?? String(entries.length - 1)) : null;
  },
  getLeafEntry: () => {
    const entries = sessionEntries("get_branch");
    return entries.length ? entries[entries.length - 1] : undefined;
  },
  getEntry: (id) => sessionEntries("get_entries").find((e) => e && e.id === id),
  getEntryCount: () => sessionEntries("get_entries").length,
  getChildren: (id) => {
    const entries = sessionEntries("get_entries");
    const at = entries.findIndex((e) => e && e.id === id);
    return at >= 0 && at + 1 < entries.length ? [entries[at + 1]] : [];
  },
  getTree: sessionTree,
  buildContextEntries: () => contextEntriesOf(sessionEntries("get_branch")),
  buildSessionContext: () => sessionContext(false),
  buildSessionProjection: () => sessionContext(true),
  getSessionName: () => api.getSessionName(),
  getLabel: () => undefined,
  getCwd: () => host.info().cwd,
  isPersisted: () => false,
});

// Provider API keys are secrets: reading one is an `env` hostcall, decided like any other.
const PROVIDER_KEY_ENV = {
  anthropic: "ANTHROPIC_API_KEY",
  openai: "OPENAI_API_KEY",
  google: "GEMINI_API_KEY",
  gemini: "GEMINI_API_KEY",
  groq: "GROQ_API_KEY",
  mistral: "MISTRAL_API_KEY",
  openrouter: "OPENROUTER_API_KEY",
  xai: "XAI_API_KEY",
  cerebras: "CEREBRAS_API_KEY",
};

function providerOf(modelOrProvider) {
  if (typeof modelOrProvider === "string") return modelOrProvider;
  if (modelOrProvider && typeof modelOrProvider.provider === "string") return modelOrProvider.provider;
  return "";
}

const modelRegistry = {
  async getApiKey(modelOrProvider) {
    const provider = providerOf(modelOrProvider).toLowerCase();
    if (!provider) return undefined;
    const name = PROVIDER_KEY_ENV[provider] || `${provider.toUpperCase().replace(/[^A-Z0-9]/g, "_")}_API_KEY`;
    const reply = await host.call("env", { name });
    return reply && typeof reply.value === "string" ? reply.value : undefined;
  },
  async getApiKeyForProvider(provider) {
    return modelRegistry.getApiKey(String(provider));
  },
  find(provider, id) {
    return (host.info().models || []).find((m) => m.provider === provider && m.id === id);
  },
  getAvailable: () => host.info().models || [],
  getAll: () => host.info().models || [],
  // pi's "configured auth" is what makes a model available; no secret is read to answer it.
  hasConfiguredAuth: (model) => Boolean(model && modelRegistry.find(model.provider, model.id)),
  getProviderAuthStatus: (provider) => ({ configured: (host.info().models || []).some((m) => m.provider === provider) }),
  // The key is read like getApiKey (an `env` hostcall); pi answers {ok: false, error} instead of throwing.
  async getApiKeyAndHeaders(model) {
    let apiKey;
    try {
      apiKey = await modelRegistry.getApiKey(model);
    } catch (err) {
      return { ok: false, error: String(err && err.message ? err.message : err) };
    }
    if (apiKey === undefined) return { ok: false, error: `No API key found for "${providerOf(model)}"` };
    return { ok: true, apiKey, headers: {} };
  },
  getProviderDisplayName: (provider) => String(provider),
  isUsingOAuth: () => false,
  getError: () => undefined,
  refresh: async () => undefined,
  getProvider: () => undefined,
  getRegisteredProviderIds: () => [],
  getRegisteredProviderConfig: () => undefined,
  getRegisteredNativeProvider: () => undefined,
  getProviderAuth: async () => undefined,
  // pi 1.x typed models: the chat models are the ones here; there are no image or classifier models.
  getModelsOfType: (type, provider) => (type === "chat" ? (host.info().models || []).filter((m) => !provider || m.provider === provider) : []),
  getAvailableOfType: async (type, provider) => modelRegistry.getModelsOfType(type, provider),
  getModelOfType: (type, provider, id) => (type === "chat" ? modelRegistry.find(provider, id) : undefined),
  findOfType: (type, provider, id) => modelRegistry.getModelOfType(type, provider, id),
  registerVirtualModel(model) {
    api.registerVirtualModel(model);
  },
  unregisterVirtualModel(provider, id) {
    api.unregisterVirtualModel(provider, id);
  },
  // Completions go through pi-ai's, which asks the host (a `complete_ai` hostcall decided by the
  // pipeline); the module is loaded on first use so extensions that never call a model don't pay for it.
  complete: async (model, context, options) => (await import("@mariozechner/pi-ai")).complete(model, context, options),
  stream: (model, context, options) => lazyStream("stream", model, context, options),
  streamSimple: (model, context, options) => lazyStream("streamSimple", model, context, options),
  registerProvider(name, config) {
    api.registerProvider(name, config);
  },
  unregisterProvider() {},
};

// pi-ai's event stream, created once the module is loaded: iterable at once, `result()` as in pi-ai.
function lazyStream(name, model, context, options) {
  const inner = import("@mariozechner/pi-ai").then((m) => m[name](model, context, options));
  return {
    async *[Symbol.asyncIterator]() {
      yield* await inner;
    },
    result: async () => (await inner).result(),
  };
}

function makeCtx(extra) {
  const info = host.info();
  return {
    cwd: info.cwd,
    // pi's ExtensionMode: "tui" | "rpc" | "json" | "print". No terminal UI here and hasUI is false, as
    // in pi's print mode; extensions guard terminal-only code with `ctx.mode === "tui"`.
    mode: "print",
    hasUI: false,
    ui,
    sessionManager,
    model: info.model ?? undefined,
    modelRegistry,
    // No --models scoping: pi's empty list (callers then use modelRegistry.getAvailable()).
    scopedModels: [],
    thinkingLevel: api ? api.getThinkingLevel() : undefined,
    isIdle: () => true,
    // Project-local resources are not trusted implicitly in the sandbox (tighten-only, like settings).
    isProjectTrusted: () => false,
    hasPendingMessages: () => false,
    abort() {},
    shutdown() {},
    compact() {},
    getContextUsage: () => undefined,
    getSystemPrompt: () => (extra && extra.systemPrompt) || "",
    // pi's normalized BuildSystemPromptOptions (the inputs of the system prompt, every collection present);
    // the sandbox adds no files or skills.
    getSystemPromptOptions: () => ({
      cwd: info.cwd, selectedTools: api ? api.getActiveTools() : [], hiddenTools: [], toolSnippets: {}, toolGuidelines: {},
      promptGuidelines: [], appendSystemPrompt: "", sections: {}, contextFiles: [], skills: [],
    }),
    waitForIdle: async () => {},
    newSession: async () => ({ cancelled: true }),
    fork: async () => ({ cancelled: true }),
    navigateTree: async () => ({ cancelled: true }),
    switchSession: async () => ({ cancelled: true }),
    reload: async () => {},
    // pi: "the current abort signal, or undefined when the agent is not streaming" (set during tool calls).
    signal: extra && extra.signal ? extra.signal : undefined,
    ...(extra && extra.toolCallId !== undefined ? toolContext(String(extra.toolCallId)) : {}),
  };
}

// pi 1.x's tool context (ExtensionToolContext): the callable tools and nested calls. There are no pi tools
// to call here, so pi's own answer for a context without nested calls comes back (an error outcome).
function toolContext(toolCallId) {
  return {
    tools: [],
    executeTool: async (name) => ({
      toolCall: { type: "toolCall", id: `${toolCallId}/0`, name: String(name), arguments: {} },
      result: { content: [{ type: "text", text: "Nested tool calls are not available in this context" }], details: {} },
      isError: true,
    }),
  };
}

// The AbortController of one tool call (the globals install the real one; this fallback only runs when
// pi:globals is not served, e.g. in a stripped-down test runtime).
function makeController() {
  if (typeof AbortController === "function") return new AbortController();
  const signal = { aborted: false, reason: undefined, addEventListener() {}, removeEventListener() {}, throwIfAborted() {} };
  return { signal, abort(reason) { signal.aborted = true; signal.reason = reason; } };
}

export { makeCtx, makeController };
