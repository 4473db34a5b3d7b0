// pi:prelude — the pi ExtensionAPI (`pi`), the per-call `ctx`, and the request dispatcher the
// worker drives through `globalThis.__pi_rt` (start / settle / fire).
//
// Everything here is bookkeeping inside the extension's own runtime. Effects (exec, messages,
// UI, session reads, secrets) are hostcalls decided by the supervisor.

import * as host from "pi:host";
import { bindApi, makeCtx, makeController } from "pi:context";

const internal = host._internal;
// Captured before extension code runs, so a polluted JSON global cannot corrupt the bridge.
const jsonParse = JSON.parse;
const jsonStringify = JSON.stringify;
// Appends without Array.prototype.push, which an extension may have replaced in its own realm.
const append = (list, value) => {
  list[list.length] = value;
};
const TYPEBOX_KIND = Symbol.for("TypeBox.Kind");

// ---- registrations ---------------------------------------------------------------------------

const tools = new Map();
const commands = new Map();
const handlers = new Map(); // event name -> [handler]
const flags = new Map();
// The flags' values as the agent parsed its command line; set by the host once they are known (pi parses
// extension flags after loading every extension), else the values the worker started with.
let flagValues = null;
const shortcuts = new Map();
const renderers = new Map();
const providers = [];
// pi 1.x registrations with nothing to run headless: kept so getMcpServers() and the registration
// report answer like pi; an MCP server's command is recorded, never started (that would be an effect).
const entryRenderers = new Map();
const toolRenderers = [];
const mcpServers = new Map();
const virtualModels = [];
const busHandlers = new Map(); // channel -> [handler]
let activeTools = null;
// Bumped on every registration; each reply carries it so the host can refresh its copy when an
// extension registers tools or commands at run time (not only while loading).
let registrationVersion = 0;
let thinkingLevel = "off";
let label = undefined;

function requireFunction(value, what) {
  if (typeof value !== "function") throw new TypeError(`${what} must be a function`);
}

function requireName(value, what) {
  if (typeof value !== "string" || value.trim() === "") throw new TypeError(`${what} must be a non-empty string`);
  return value;
}

// An engine OOM leaves the runtime unusable: never swallow it, let the worker report it as fatal.
// When even the error object cannot be allocated, QuickJS throws `null`; that is treated as an
// OOM too (an extension that literally `throw null`s is reported as out of memory: documented).
function rethrowFatal(err) {
  if (err === null) throw err;
  if (err && err.name === "InternalError" && /^out of memory/.test(String(err.message))) throw err;
}


// pi.exec as pi's execCommand: never rejects. A refused or failed command resolves with code 1 (the reason in
// stderr, where pi has the child's); an aborted `signal` resolves at once with killed: true (the host call
// still runs to its own timeout, its answer is dropped).
function runExec(command, args, options) {
  const opts = options || {};
  const params = { cmd: String(command), args: Array.isArray(args) ? args.map(String) : [] };
  if (opts.cwd !== undefined) params.cwd = String(opts.cwd);
  if (opts.timeout !== undefined) params.timeout_ms = Number(opts.timeout);
  if (opts.input !== undefined) params.stdin = String(opts.input);
  const killed = () => ({ stdout: "", stderr: "", code: 0, killed: true });
  const signal = opts.signal;
  if (signal && signal.aborted) return Promise.resolve(killed());
  const running = host.call("exec", params).then(
    (r) => ({ stdout: r.stdout ?? "", stderr: r.stderr ?? "", code: r.exit_code ?? r.code ?? 0, killed: Boolean(r.killed) }),
    (err) => ({ stdout: "", stderr: String(err && err.message ? err.message : err), code: 1, killed: false }),
  );
  if (!signal || typeof signal.addEventListener !== "function") return running;
  return new Promise((resolve) => {
    const onAbort = () => resolve(killed());
    signal.addEventListener("abort", onAbort, { once: true });
    running.then((result) => {
      signal.removeEventListener("abort", onAbort);
      resolve(result);
    });
  });
}

const pi = {
  on(event, handler) {
    requireName(event, "pi.on event");
    requireFunction(handler, "pi.on handler");
    registrationVersion += 1;
    if (!handlers.has(event)) handlers.set(event, []);
    append(handlers.get(event), handler);
  },
  registerTool(def) {
    if (!def || typeof def !== "object") throw new TypeError("registerTool needs a tool definition object");
    requireName(def.name, "tool name");
    requireFunction(def.execute, `tool '${def.name}' execute`);
    registrationVersion += 1;
    tools.set(def.name, def);
  },
  registerCommand(name, options) {
    requireName(name, "command name");
    const opts = typeof options === "function" ? { handler: options } : options || {};
    requireFunction(opts.handler, `command '${name}' handler`);
    registrationVersion += 1;
    commands.set(name, opts);
  },
  registerFlag(name, options) {
    requireName(name, "flag name");
    registrationVersion += 1;
    flags.set(name, options || {});
  },
  getFlag(name) {
    const given = (flagValues || host.info().flags || {})[name];
    if (given !== undefined) return given;
    const def = flags.get(name);
    return def ? def.default : undefined;
  },
  registerShortcut(key, options) {
    const opts = typeof options === "function" ? { handler: options } : options || {};
    registrationVersion += 1;
    shortcuts.set(String(key), opts);
  },
  registerMessageRenderer(customType, renderer) {
    requireName(customType, "message renderer type");
    registrationVersion += 1;
    renderers.set(customType, renderer);
  },
  registerProvider(name, config) {
    requireName(name, "provider name");
    const cfg = config || {};
    registrationVersion += 1;
    append(providers, { name, baseUrl: typeof cfg.baseUrl === "string" ? cfg.baseUrl : undefined, api: cfg.api });
  },
  unregisterProvider(name) {
    const at = providers.findIndex((p) => p.name === name);
    if (at >= 0) providers.splice(at, 1);
  },
  registerEntryRenderer(customType, renderer) {
    requireName(customType, "entry renderer type");
    registrationVersion += 1;
    entryRenderers.set(customType, renderer);
  },
  registerToolRenderer(resolver) {
    registrationVersion += 1;
    append(toolRenderers, resolver);
  },
  registerMarkdownTransformer() {
    registrationVersion += 1;
  },
  registerMcpServer(name, config) {
    requireName(name, "MCP server name");
    if (!config || typeof config !== "object") throw new TypeError(`MCP server '${name}' needs a config object`);
    registrationVersion += 1;
    mcpServers.set(name, jsonParse(toJson(config)));
  },
  unregisterMcpServer(name) {
    mcpServers.delete(name);
  },
  getMcpServers() {
    return [...mcpServers.entries()].map(([name, config]) => ({ name, config, extensionPath: host.info().extensionRoot }));
  },
  registerVirtualModel(model) {
    registrationVersion += 1;
    append(virtualModels, model);
  },
  unregisterVirtualModel(provider, id) {
    const at = virtualModels.findIndex((m) => m && m.provider === provider && m.id === id);
    if (at >= 0) virtualModels.splice(at, 1);
  },
  // pi's merged settings files are not the extension's to read here: an empty settings object (every
  // field of pi's Settings is optional), a fresh copy per call as in pi.
  getSettings: () => ({}),
  exec: runExec,
  sendMessage(message, options) {
    host.callSync("events", { op: "send_message", message, options: options || {} });
  },
  sendUserMessage(content, options) {
    host.callSync("events", { op: "send_user_message", content, options: options || {} });
  },
  appendEntry(customType, data) {
    // The session store keeps `data`; customType travels inside it and is unwrapped on read.
    const type = String(customType);
    const payload = { customType: type, data: data === undefined ? null : data };
    host.callSync("session", { op: "append_entry", customType: type, data: payload });
  },
  events: {
    on(channel, handler) {
      requireName(channel, "event channel");
      requireFunction(handler, "event bus handler");
      registrationVersion += 1;
      if (!busHandlers.has(channel)) busHandlers.set(channel, []);
      append(busHandlers.get(channel), handler);
      return () => {
        const list = busHandlers.get(channel) || [];
        const at = list.indexOf(handler);
        if (at >= 0) list.splice(at, 1);
      };
    },
    emit(channel, data) {
      requireName(channel, "event channel");
      // The supervisor decides and records the emit, then delivers it to the other extensions.
      host.callSync("events", { op: "emit", event: channel, data: data === undefined ? null : data });
      queueMicrotask(() => deliverBus(channel, data));
    },
  },
  getActiveTools() {
    return activeTools ? [...activeTools] : [...tools.keys()];
  },
  // pi's ToolInfo: what callers read off it (parameters, sourceInfo.path) is there; only this extension's tools
  getAllTools() {
    return [...tools.values()].map((t) => ({
      name: t.name, description: t.description ?? "", parameters: t.parameters ?? { type: "object", properties: {} },
      promptGuidelines: t.promptGuidelines, exposure: "direct", sourceInfo: sourceInfo(),
    }));
  },
  setActiveTools(names) {
    activeTools = Array.isArray(names) ? names.map(String) : null;
  },
  getThinkingLevel: () => thinkingLevel,
  setThinkingLevel(level) {
    thinkingLevel = String(level);
  },
  getSessionName() {
    const reply = host.callSync("session", { op: "get_name" });
    return reply && reply.name != null ? reply.name : undefined;
  },
  setSessionName(name) {
    host.callSync("session", { op: "set_name", name: String(name) });
  },
  setLabel(_entryId, text) {
    label = text;
  },
  setModel: async () => false,
  getCommands: () => [...commands.keys()].map((name) => ({
    name, description: commands.get(name).description ?? "", source: "extension", sourceInfo: sourceInfo(),
  })),
};

// pi's SourceInfo of what this extension registered: loaded from its folder for this run (pi's `-e` scope).
function sourceInfo() {
  const root = host.info().extensionRoot;
  return { path: root, source: "local", scope: "temporary", origin: "top-level", baseDir: root };
}

bindApi(pi);

async function deliverBus(channel, data) {
  for (const handler of [...(busHandlers.get(channel) || [])]) {
    try {
      await handler(data);
    } catch (err) {
      rethrowFatal(err);
      host.log("error", `event bus handler for '${channel}' failed:`, err);
    }
  }
}

// ---- the dispatcher ----------------------------------------------------------------------------

function errorInfo(err) {
  if (err === null) return { name: "InternalError", message: "out of memory (allocation failed)", code: "oom" };
  if (err && typeof err === "object") {
    const out = { name: String(err.name || "Error"), message: String(err.message ?? err) };
    if (err.code !== undefined) out.code = String(err.code);
    if (typeof err.stack === "string") out.stack = err.stack.slice(0, 2000);
    return out;
  }
  return { name: "Error", message: String(err) };
}

function toJson(value) {
  const seen = new WeakSet();
  return jsonStringify(value === undefined ? null : value, (_key, v) => {
    if (typeof v === "bigint") return String(v);
    if (typeof v === "function" || typeof v === "symbol") return undefined;
    if (v && typeof v === "object") {
      if (seen.has(v)) return "[Circular]";
      seen.add(v);
    }
    return v;
  });
}

function registrations() {
  return {
    tools: [...tools.values()].map((t) => ({
      name: t.name,
      label: t.label ?? t.name,
      description: t.description ?? "",
      parameters: t.parameters ? jsonParse(toJson(t.parameters)) : null,
    })),
    commands: [...commands.entries()].map(([name, c]) => ({ name, description: c.description ?? "" })),
    events: [...handlers.keys()],
    flags: [...flags.entries()].map(([name, f]) => ({
      name,
      type: f.type ?? "boolean",
      description: f.description ?? "",
      default: f.default ?? null,
    })),
    shortcuts: [...shortcuts.entries()].map(([key, s]) => ({ key, description: s.description ?? "" })),
    messageRenderers: [...renderers.keys()],
    entryRenderers: [...entryRenderers.keys()],
    mcpServers: [...mcpServers.keys()],
    virtualModels: virtualModels.map((m) => `${m && m.provider}/${m && m.id}`),
    providers: providers.map((p) => ({ ...p })),
    busChannels: [...busHandlers.keys()],
  };
}

async function loadExtension() {
  if (host.info().usesTypebox) {
    // Evaluate TypeBox and its Unsafe-kind checker before the extension's top level can pollute
    // shared prototypes (esbuild's export helper iterates objects with for...in).
    try {
      await import("pi:typebox-unsafe");
      await import("@sinclair/typebox/value");
    } catch {
      // not served: validation falls back to pass-through
    }
  }
  const mod = await import("ext:main");
  let factory = mod.default;
  if (typeof factory !== "function" && factory && typeof factory.default === "function") factory = factory.default;
  if (typeof factory !== "function") {
    const err = new TypeError("the extension has no default export function (export default function (pi) {...})");
    err.code = "no_default_export";
    throw err;
  }
  await factory(pi);
  return registrations();
}

let typeboxValue = null;
let typebox1Value = null;
// TypeBox 1.x (the `typebox` package) marks the schemas it builds with a non-enumerable "~kind" key.
const TYPEBOX1_KIND = "~kind";

async function validateParams(schema, input) {
  // Only TypeBox schemas are checked (plain JSON-schema objects pass through), 0.34 and 1.x alike.
  // Returns {args} (possibly converted) when valid, {problems} when not.
  if (!schema || typeof schema !== "object") return { args: input };
  if (!(TYPEBOX_KIND in schema)) {
    if (!(TYPEBOX1_KIND in schema)) return { args: input };
    if (typebox1Value === null) typebox1Value = await import("typebox/value");
    return checkWith(typebox1Value, schema, input);
  }
  if (typeboxValue === null) {
    try {
      // Registers a checker for Kind "Unsafe" (StringEnum) in the shared TypeRegistry.
      await import("pi:typebox-unsafe");
    } catch {
      // not served: Unsafe schemas then pass through unchecked (see the catch below)
    }
    const mod = await import("@sinclair/typebox/value");
    typeboxValue = mod.Value;
  }
  return checkWith(typeboxValue, schema, input);
}

function checkWith(typeboxValue, schema, input) {
  let ok;
  try {
    // pi converts first ("5" → 5 for a number, "true" → true ...), then checks: so do we.
    if (typeof typeboxValue.Convert === "function") input = typeboxValue.Convert(schema, input);
    ok = typeboxValue.Check(schema, input);
  } catch (err) {
    // Schemas TypeBox cannot check (custom kinds) are passed through, as pi's own validator does.
    return { args: input };
  }
  if (ok) return { args: input };
  const problems = [];
  for (const e of typeboxValue.Errors(schema, input)) {
    append(problems, `${e.path || e.instancePath || "/"}: ${e.message}`);
    if (problems.length >= 10) break;
  }
  return { problems };
}

function normalizeToolResult(result) {
  if (result && typeof result === "object" && Array.isArray(result.content)) {
    return { content: result.content, details: result.details ?? null, isError: Boolean(result.isError) };
  }
  const text = typeof result === "string" ? result : result === undefined ? "" : toJson(result);
  return { content: [{ type: "text", text }], details: null, isError: false };
}

// Both `execute` signatures pi has had, served at once: since 0.51 `(id, params, signal, onUpdate, ctx)`,
// before it `(id, params, onUpdate, ctx, signal)`. Argument 3 is the AbortSignal and, called, onUpdate;
// argument 4 is onUpdate and, read, the ctx; argument 5 is the ctx and also answers the AbortSignal members.
// Whichever order an extension was written for, each name it uses behaves as it expects.
const SIGNAL_MEMBERS = ["aborted", "reason", "addEventListener", "removeEventListener", "throwIfAborted", "onabort",
  "dispatchEvent"];

function forward(target, prop) {
  const value = Reflect.get(target, prop, target);
  return typeof value === "function" ? value.bind(target) : value;
}

function executeArguments(signal, onUpdate, ctx) {
  const signalOrUpdate = new Proxy(() => undefined, {
    apply: (_t, _this, args) => onUpdate(...args),
    get: (_t, prop) => forward(signal, prop),
    set: (_t, prop, value) => Reflect.set(signal, prop, value),
    has: (_t, prop) => prop in signal,
    getPrototypeOf: () => Object.getPrototypeOf(signal),
  });
  const updateOrCtx = new Proxy(() => undefined, {
    apply: (_t, _this, args) => onUpdate(...args),
    get: (_t, prop) => (prop in ctx ? ctx[prop] : undefined),
    has: (_t, prop) => prop in ctx,
  });
  const ctxOrSignal = new Proxy(ctx, {
    get: (target, prop, receiver) =>
      !(prop in target) && SIGNAL_MEMBERS.includes(prop) ? forward(signal, prop) : Reflect.get(target, prop, receiver),
    has: (target, prop) => prop in target || SIGNAL_MEMBERS.includes(prop),
  });
  return [signalOrUpdate, updateOrCtx, ctxOrSignal];
}

function abortReason(ms) {
  const err = new Error(`the tool call was aborted after ${ms} ms`);
  err.name = "AbortError";
  err.code = "ABORT_ERR";
  return err;
}

async function runTool({ name, input, toolCallId, abortAfterMs }) {
  const tool = tools.get(name);
  if (!tool) {
    const err = new Error(`tool '${name}' is not registered by this extension`);
    err.code = "unknown_tool";
    throw err;
  }
  let args = input ?? {};
  if (typeof tool.prepareArguments === "function") args = tool.prepareArguments(args);
  const checked = await validateParams(tool.parameters, args);
  if (checked.problems) {
    const err = new Error(`invalid arguments for tool '${name}': ${checked.problems.join("; ")}`);
    err.code = "invalid_params";
    throw err;
  }
  args = checked.args;
  const updates = [];
  const onUpdate = (partial) => {
    if (updates.length < 100) append(updates, jsonParse(toJson(partial)));
  };
  const controller = makeController();
  const ms = Number(abortAfterMs);
  const timer = ms > 0 ? host.setTimer(() => controller.abort(abortReason(ms)), ms, false) : null;
  const ctx = makeCtx({ signal: controller.signal, toolCallId: toolCallId || "call-1" });
  try {
    const result = await tool.execute(toolCallId || "call-1", args, ...executeArguments(controller.signal, onUpdate, ctx));
    return { ...normalizeToolResult(result), updates: updates.length, aborted: controller.signal.aborted };
  } catch (err) {
    rethrowFatal(err);
    return toolError(err, updates.length, controller.signal.aborted);
  } finally {
    if (timer !== null) host.clearTimer(timer);
  }
}

// pi turns a thrown error into an error result the model can read.
function toolError(err, updates, aborted) {
  const text = String(err && err.message ? err.message : err);
  return { content: [{ type: "text", text }], details: null, isError: true, thrown: errorInfo(err), updates, aborted };
}

async function runCommand({ name, args }) {
  const command = commands.get(name);
  if (!command) {
    const err = new Error(`command '${name}' is not registered by this extension`);
    err.code = "unknown_command";
    throw err;
  }
  const result = await command.handler(args ?? "", makeCtx());
  return { result: result === undefined ? null : jsonParse(toJson(result)) };
}

async function runShortcut({ key }) {
  const shortcut = shortcuts.get(key);
  if (!shortcut || typeof shortcut.handler !== "function") {
    const err = new Error(`shortcut '${key}' is not registered by this extension`);
    err.code = "unknown_shortcut";
    throw err;
  }
  await shortcut.handler(makeCtx());
  return { result: null };
}

// Combines the results of this extension's handlers for one event the way pi does; the host
// chains the returned `event` into the next extension.
async function runEvent({ event, data }) {
  const list = handlers.get(event) || [];
  const state = data && typeof data === "object" ? { ...data, type: event } : { type: event };
  const out = { handled: 0, errors: [], messages: [], results: [] };
  const ctx = makeCtx({ systemPrompt: state.systemPrompt });
  for (const handler of [...list]) {
    let r;
    try {
      r = await handler(state, ctx);
      out.handled += 1;
    } catch (err) {
      rethrowFatal(err);
      append(out.errors, errorInfo(err));
      continue;
    }
    if (r === undefined || r === null || typeof r !== "object") continue;
    append(out.results, jsonParse(toJson(r)));
    if (event === "tool_call" && r.block) {
      out.block = { reason: r.reason ? String(r.reason) : "blocked by extension" };
      break;
    }
    if (event === "input") {
      if (r.action === "transform" && typeof r.text === "string") state.text = r.text;
      if (r.action === "transform" && Array.isArray(r.images)) state.images = r.images;
      if (r.action === "handled") {
        out.action = "handled";
        if (r.response !== undefined) out.response = jsonParse(toJson(r.response));
        break;
      }
    }
    if (event === "before_agent_start") {
      if (typeof r.systemPrompt === "string") state.systemPrompt = r.systemPrompt;
      if (r.message) append(out.messages, jsonParse(toJson(r.message)));
    }
    if (event === "tool_result") {
      for (const key of ["content", "details", "isError"]) if (r[key] !== undefined) state[key] = r[key];
    }
    if (event === "context" && Array.isArray(r.messages)) state.messages = r.messages;
    if (event.startsWith("session_before_") && r.cancel) {
      out.cancel = true;
      break;
    }
  }
  out.event = jsonParse(toJson(state));
  return out;
}

async function deliverExternalBus({ channel, data }) {
  await deliverBus(channel, data);
  return { delivered: (busHandlers.get(channel) || []).length };
}

const kinds = {
  load: loadExtension,
  tool: runTool,
  command: runCommand,
  shortcut: runShortcut,
  event: runEvent,
  bus: deliverExternalBus,
  flags: async ({ values }) => {
    flagValues = values && typeof values === "object" ? { ...values } : {};
    return null;
  },
  tick: async () => ({ pending: internal.pendingCount() }),
  registrations: async () => registrations(),
};

// Requests being served: id → what an uncaught error does to it (see host.reportUncaught).
const active = new Map();
internal.onUncaught((err) => {
  rethrowFatal(err);
  if (active.size === 0) {
    host.log("error", "uncaught exception:", err);
    return;
  }
  for (const fail of [...active.values()]) fail(err);
});

function start(id, kind, payloadJson) {
  const fn = kinds[kind];
  let finished = false;
  const finish = (ok, value) => {
    if (finished) return; // an uncaught error already answered this request
    finished = true;
    active.delete(id);
    let body;
    try {
      body = ok
        ? `{"ok":true,"rv":${registrationVersion},"result":${toJson(value)}}`
        : `{"ok":false,"rv":${registrationVersion},"error":${toJson(errorInfo(value))}}`;
    } catch (err) {
      body = `{"ok":false,"error":${toJson(errorInfo(err))}}`;
    }
    internal.done(id, body);
  };
  if (!fn) {
    finish(false, new Error(`unknown request kind '${kind}'`));
    return;
  }
  // Node would crash on an uncaught error; here it ends the request: a tool reports it as its error result.
  active.set(id, (err) => (kind === "tool" ? finish(true, toolError(err, 0, false)) : finish(false, err)));
  let payload;
  try {
    payload = jsonParse(payloadJson);
    Promise.resolve(fn(payload)).then(
      (value) => finish(true, value),
      (err) => finish(false, err),
    );
  } catch (err) {
    finish(false, err);
  }
}

Object.defineProperty(globalThis, "__pi_rt", {
  value: Object.freeze({ start, settle: internal.settle, fire: internal.fire }),
  writable: false,
  enumerable: false,
  configurable: false,
});
