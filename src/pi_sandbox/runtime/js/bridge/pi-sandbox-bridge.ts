// pi-sandbox bridge for the pi coding agent. Written by `pi-sandbox bridge install`; reinstall to update,
// `pi-sandbox bridge uninstall` to remove. See docs/bridge.md of pi-sandbox.
//
// pi loads this file like any extension. It starts `pi-sandbox rpc --sandboxed-only`, which loads the
// extensions in pi-sandbox's own folders (never pi's) into sandboxed workers, and makes them look to pi as
// if pi had loaded them: their tools (name, description, JSON Schema), commands and event handlers are
// registered here and every call is relayed over JSON lines. Their effects all pass pi-sandbox's pipeline
// and ledger. If pi-sandbox stops, this bridge says so and every relayed tool fails: nothing ever runs
// outside the sandbox.
import { spawn } from "node:child_process";

// Filled in by `pi-sandbox bridge install`: the command that starts pi-sandbox (argv prefix, JSON).
const SANDBOX_COMMAND: string[] = __PI_SANDBOX_COMMAND__;
const STATUS_KEY = "pi-sandbox";
// Events pi emits that sandboxed extensions may handle; the outcome of each is applied back in pi.
const RELAYED_EVENTS = [
  "session_start", "session_shutdown", "before_agent_start", "agent_start", "agent_end", "turn_start",
  "turn_end", "tool_call", "tool_result", "input", "model_select", "session_before_compact",
  "session_before_switch", "session_before_fork", "session_before_tree", "user_bash",
];
const PERMISSION_CHOICES: [string, string][] = [
  ["Allow once", "once"], ["Allow for this session", "session"], ["Always allow", "always"], ["Deny", "deny"],
];

type Json = any;

class SandboxProcess {
  private child: any;
  private buffer = "";
  private nextId = 1;
  private pending = new Map<number, { resolve: (v: Json) => void; reject: (e: Error) => void }>();
  private stderrTail: string[] = [];
  private readyWaiters: ((msg: Json) => void)[] = [];
  dead: string | null = null;
  // Set by stop(): the exit that follows is the planned end of the session, not a death to report.
  stopping = false;
  onNotification: (msg: Json) => void = () => {};
  onQuestion: (msg: Json) => Promise<Json> = async () => null;
  onDeath: (why: string) => void = () => {};

  start(cwd: string): Promise<Json> {
    const [cmd, ...args] = SANDBOX_COMMAND;
    this.child = spawn(cmd, [...args, "rpc", "--sandboxed-only"], { cwd, stdio: ["pipe", "pipe", "pipe"] });
    this.child.stdout.setEncoding("utf8");
    this.child.stderr.setEncoding("utf8");
    this.child.stdout.on("data", (chunk: string) => this.read(chunk));
    this.child.stderr.on("data", (chunk: string) => {
      // Extension console lines also arrive as notifications; stderr is kept for the death report only.
      this.stderrTail = [...this.stderrTail, ...chunk.split("\n").filter(Boolean)].slice(-8);
    });
    this.child.on("error", (err: Error) => this.die(`cannot start ${cmd}: ${err.message}`));
    this.child.on("exit", (code: number | null, signal: string | null) =>
      this.die(`pi-sandbox exited (${signal ? `signal ${signal}` : `code ${code}`})`));
    this.child.stdin.on("error", () => {});
    return new Promise((resolve, reject) => {
      this.readyWaiters.push(resolve);
      this.pending.set(0, { resolve, reject });
    });
  }

  private read(chunk: string): void {
    this.buffer += chunk;
    let at: number;
    // Split on "\n" only: U+2028/2029 are legal inside JSON strings.
    while ((at = this.buffer.indexOf("\n")) >= 0) {
      const line = this.buffer.slice(0, at);
      this.buffer = this.buffer.slice(at + 1);
      if (!line.trim()) continue;
      let msg: Json;
      try {
        msg = JSON.parse(line);
      } catch {
        continue;
      }
      this.dispatch(msg);
    }
  }

  private dispatch(msg: Json): void {
    if (msg.method === "ready") {
      this.pending.delete(0);
      for (const waiter of this.readyWaiters.splice(0)) waiter(msg.params);
    } else if (msg.method !== undefined && msg.id !== undefined) {
      this.onQuestion(msg).then(
        (result) => this.write({ id: msg.id, result }),
        (err) => this.write({ id: msg.id, error: { code: "error", message: String(err?.message ?? err) } }),
      );
    } else if (msg.method !== undefined) {
      this.onNotification(msg);
    } else {
      const waiter = this.pending.get(msg.id);
      if (!waiter) return;
      this.pending.delete(msg.id);
      if (msg.error) waiter.reject(new Error(msg.error.message));
      else waiter.resolve(msg.result);
    }
  }

  private write(msg: Json): void {
    if (this.dead) return;
    this.child.stdin.write(JSON.stringify(msg) + "\n");
  }

  request(method: string, params: Json = {}): Promise<Json> {
    if (this.dead) return Promise.reject(new Error(this.dead));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.write({ id, method, params });
    });
  }

  private die(why: string): void {
    if (this.dead) return;
    const tail = this.stderrTail.length ? `; last output: ${this.stderrTail.join(" | ")}` : "";
    this.dead = `the pi-sandbox process stopped: ${why}${tail}. Sandboxed extensions are unavailable until pi is `
      + "restarted; nothing runs outside the sandbox (check `pi-sandbox doctor`).";
    for (const waiter of this.pending.values()) waiter.reject(new Error(this.dead));
    this.pending.clear();
    if (!this.stopping) this.onDeath(this.dead);
  }

  stop(): void {
    if (this.dead || !this.child) return;
    this.stopping = true;
    this.request("shutdown").catch(() => {});
    setTimeout(() => this.child.kill("SIGKILL"), 5000).unref();
  }
}

const textOf = (content: Json): string =>
  Array.isArray(content) ? content.filter((c) => c && c.type === "text").map((c) => c.text).join("\n") : "";

export default async function piSandboxBridge(pi: any) {
  const sandbox = new SandboxProcess();
  let ctx: any = null; // the latest context pi gave us: where questions and notices are shown
  // pi's UI, or null. A context pi has retired (session ended, replaced or reloaded) throws on every use;
  // a notice arriving then (an alert, the child's exit) must not become an uncaught exception that kills pi.
  const ui = (): any => {
    try {
      return ctx?.hasUI ? ctx.ui : null;
    } catch {
      return null;
    }
  };
  const notices: [string, string][] = [];
  const notify = (text: string, level: string) => {
    const shown = ui();
    if (shown) shown.notify(text, level);
    else notices.push([text, level]);
  };
  sandbox.onDeath = (why) => {
    notify(why, "error");
    ui()?.setStatus(STATUS_KEY, "pi-sandbox stopped");
  };
  sandbox.onNotification = (msg) => {
    const p = msg.params || {};
    if (msg.method === "extension.message") {
      if (p.kind === "user_message") pi.sendUserMessage(p.content, p.options);
      else if (p.message) pi.sendMessage(p.message, p.options);
    } else if (msg.method === "extension.output" && p.source === "ui" && ui()) {
      if (p.kind === "notify") ui().notify(`[${p.extension_id}] ${p.text}`, p.level === "warn" ? "warning" : p.level);
      else if (p.kind === "set_status") ui().setStatus(`${STATUS_KEY}:${p.extension_id}`, p.text);
    } else if (msg.method === "alert" && p.severity !== "info") {
      notify(`pi-sandbox: ${p.summary}. ${p.remediation}`, "warning");
    }
  };
  sandbox.onQuestion = async (msg) => {
    const p = msg.params || {};
    const timeout = Math.max(1000, (p.timeout_ms || 60000) - 500);
    const shown = ui();
    if (!shown) return msg.method === "permission/request" ? { answer: "deny" } : { value: null };
    if (msg.method === "permission/request") {
      const title = `pi-sandbox: extension '${p.extension_id}' asks for '${p.capability}'`
        + `${p.target ? ` (${p.target})` : ""}\n${p.explanation}`;
      const picked = await shown.select(title, PERMISSION_CHOICES.map(([label]) => label), { timeout });
      const found = PERMISSION_CHOICES.find(([label]) => label === picked);
      return { answer: found ? found[1] : "deny" };
    }
    const title = `[${p.extension_id}] ${p.title}`;
    if (p.op === "confirm") return { value: await shown.confirm(title, p.message, { timeout }) };
    if (p.op === "select") return { value: (await shown.select(title, p.options, { timeout })) ?? null };
    if (p.op === "input") return { value: (await shown.input(title, p.message, { timeout })) ?? null };
    return { value: (await shown.editor(title, p.message)) ?? null };
  };

  let session: Json;
  try {
    session = await sandbox.start(process.cwd());
    session = await sandbox.request("initialize", { capabilities: { permissions: true, ui: true } });
  } catch (err: any) {
    if (!sandbox.dead) notify(`pi-sandbox did not start: ${err?.message ?? err}`, "error"); // else onDeath said it
    pi.on("session_start", async (_e: any, c: any) => {
      ctx = c;
      for (const [text, level] of notices.splice(0)) notify(text, level);
    });
    return;
  }

  const loaded = (session.extensions || []).filter((e: Json) => e.status === "loaded");
  const flagNames: string[] = [];
  for (const ext of session.extensions || []) {
    if (ext.status !== "loaded") notify(`pi-sandbox: extension '${ext.id}' did not load: ${ext.error}`, "warning");
  }
  for (const ext of loaded) {
    for (const spec of ext.tool_specs) {
      pi.registerTool({
        name: spec.name,
        label: spec.label,
        description: spec.description,
        parameters: spec.parameters,
        async execute(toolCallId: string, params: Json, _signal: any, _onUpdate: any, c: any) {
          ctx = c ?? ctx;
          const result = await sandbox.request("tool.call", { extension: ext.id, tool: spec.name, args: params, toolCallId });
          // pi marks a tool result as an error only when execute throws.
          if (result.isError) throw new Error(textOf(result.content) || `${spec.name} failed`);
          return { content: result.content, details: result.details ?? {} };
        },
      });
    }
    for (const command of ext.command_specs) {
      pi.registerCommand(command.name, {
        description: `${command.description} (sandboxed: ${ext.id})`,
        handler: async (args: string, c: any) => {
          ctx = c ?? ctx;
          await sandbox.request("command.run", { extension: ext.id, name: command.name, args: args ?? "" });
        },
      });
    }
    // A flag is pi-wide: the first extension to name it defines it (pi parses it after every extension loaded).
    for (const flag of ext.flag_specs || []) {
      if (flagNames.includes(flag.name)) continue;
      flagNames.push(flag.name);
      pi.registerFlag(flag.name, {
        description: `${flag.description} (sandboxed: ${ext.id})`,
        type: flag.type === "string" ? "string" : "boolean",
        ...(flag.default === null || flag.default === undefined ? {} : { default: flag.default }),
      });
    }
    for (const shortcut of ext.shortcut_specs || []) {
      pi.registerShortcut(shortcut.key, {
        description: `${shortcut.description} (sandboxed: ${ext.id})`,
        handler: async (c: any) => {
          ctx = c ?? ctx;
          try {
            await sandbox.request("shortcut.run", { extension: ext.id, key: shortcut.key });
          } catch (err: any) {
            notify(`pi-sandbox: shortcut ${shortcut.key} of '${ext.id}' failed: ${err?.message ?? err}`, "warning");
          }
        },
      });
    }
  }

  const handled = new Set<string>(loaded.flatMap((e: Json) => e.events || []));
  for (const event of RELAYED_EVENTS) {
    if (!handled.has(event) && event !== "session_start" && event !== "session_shutdown") continue;
    pi.on(event, async (data: Json, c: any) => {
      ctx = c ?? ctx;
      if (event === "session_start") {
        for (const [text, level] of notices.splice(0)) notify(text, level);
        if (flagNames.length) {
          // pi has parsed its command line by now: hand the sandboxed extensions their flags' values.
          const values: Json = {};
          for (const name of flagNames) {
            const value = pi.getFlag(name);
            if (typeof value === "boolean" || typeof value === "string") values[name] = value;
          }
          try {
            await sandbox.request("flags.set", { values });
          } catch (err: any) {
            notify(`pi-sandbox: could not pass the command-line flags on: ${err?.message ?? err}`, "warning");
          }
        }
        ui()?.setStatus(STATUS_KEY, `pi-sandbox: ${loaded.length} sandboxed extension(s)`);
      }
      if (event === "session_shutdown") {
        sandbox.stop();
        return undefined;
      }
      if (!handled.has(event)) return undefined;
      let out: Json;
      try {
        out = await sandbox.request("events.emit", { event, data: JSON.parse(JSON.stringify(data ?? {})) });
      } catch (err: any) {
        // A dead sandbox blocks tool calls it was asked to judge: it cannot vouch for them.
        if (event === "tool_call") return { block: true, reason: String(err?.message ?? err) };
        return undefined;
      }
      return outcomeFor(event, out);
    });
  }
}

// What pi expects back from a handler of `event`, from pi-sandbox's combined outcome.
function outcomeFor(event: string, out: Json): Json {
  const d = out.data || {};
  switch (event) {
    case "tool_call":
      return out.block ? { block: true, reason: out.reason ?? "blocked by a sandboxed extension" } : undefined;
    case "tool_result":
      return out.modified_by ? { content: d.content, details: d.details, isError: d.isError } : undefined;
    case "input":
      if (out.action === "handled") return { action: "handled" };
      if (out.action === "transform") return { action: "transform", text: d.text, images: d.images };
      return undefined;
    case "before_agent_start": {
      const result: Json = {};
      if (out.systemPrompt_by) result.systemPrompt = out.systemPrompt;
      if (out.messages) result.message = out.messages[0];
      return Object.keys(result).length ? result : undefined;
    }
    default:
      return event.startsWith("session_before_") && out.cancel ? { cancel: true } : undefined;
  }
}
