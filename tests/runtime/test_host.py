# ruff: noqa: E501  (embedded JavaScript extension sources keep their natural line length)
"""ExtensionHost over a real Sandbox: registration, tools, commands, events, the bus, messages."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.runtime.conftest import MakeHost, source_for, write_file

from pi_sandbox.errors import ExtensionLoadError, ExtensionRuntimeError
from pi_sandbox.runtime.host import ExtensionHost, ToolArgumentsError, limits_for

API_EXT = """
import { Type } from "@sinclair/typebox";
export default function (pi: any) {
  pi.registerFlag("loud", { type: "boolean", default: false, description: "shout" });
  pi.registerShortcut("ctrl+shift+g", { description: "greet", handler: async (ctx: any) => { pi.appendEntry("shortcut", { ran: true }); } });
  pi.registerMessageRenderer("greeting", () => null);
  pi.registerProvider("local-llm", { baseUrl: "http://127.0.0.1:9/v1", api: "openai-completions", models: [] });
  pi.registerTool({
    name: "greet", label: "Greet", description: "greets",
    parameters: Type.Object({ name: Type.String({ minLength: 1 }), times: Type.Optional(Type.Integer({ minimum: 1 })) }),
    async execute(id: string, params: any, signal: any, onUpdate: any, ctx: any) {
      onUpdate({ content: [{ type: "text", text: "working" }] });
      const word = pi.getFlag("loud") ? "HELLO" : "hello";
      return { content: [{ type: "text", text: `${word} ${params.name}`.repeat(params.times ?? 1) }],
               details: { id, hasUI: ctx.hasUI, aborted: signal.aborted } };
    },
  });
  pi.registerTool({ name: "boom", execute: async () => { throw new Error("tool exploded"); } });
  pi.registerCommand("headless", { description: "dialogs", handler: async (_args: string, ctx: any) => {
    return { confirm: await ctx.ui.confirm("t", "m"), select: await ctx.ui.select("t", ["a"]) ?? "undef",
             input: await ctx.ui.input("t") ?? "undef", custom: await ctx.ui.custom(() => null) ?? "undef",
             hasUI: ctx.hasUI, cwd: ctx.cwd };
  } });
  pi.registerCommand("session", { handler: async (args: string, ctx: any) => {
    pi.appendEntry("memo", { text: args });
    return { entries: ctx.sessionManager.getEntries().length };
  } });
  pi.registerCommand("say", { handler: async (args: string) => {
    pi.sendMessage({ customType: "greeting", content: args, display: true }, { triggerTurn: false });
    pi.sendUserMessage("follow up " + args);
  } });
  pi.registerCommand("tools", { handler: async () => { pi.setActiveTools(["greet"]); return pi.getActiveTools(); } });
  pi.registerCommand("apikey", { handler: async (_a: string, ctx: any) => {
    try { return await ctx.modelRegistry.getApiKey({ provider: "anthropic" }); } catch (e: any) { return "error:" + e.code; }
  } });
  pi.on("before_agent_start", async (event: any) => ({ systemPrompt: event.systemPrompt + "\\n[rules]" }));
  pi.on("input", async (event: any) => ({ action: "transform", text: event.text.trim() }));
  pi.on("tool_result", async (event: any) => (event.toolName === "read" ? { content: [{ type: "text", text: "redacted" }] } : undefined));
}
"""


@pytest.fixture()
def api_host(make_host: MakeHost, ext_dir: Path) -> ExtensionHost:
    host = make_host(flags={"loud": True})
    loaded = host.load([source_for(write_file(ext_dir / "api" / "index.ts", API_EXT), "api")])
    assert loaded[0].status == "loaded", loaded[0].error
    return host


def test_registrations_are_listed(api_host: ExtensionHost) -> None:
    summary = api_host.get("api").summary()
    assert summary["tools"] == ["greet", "boom"]
    assert summary["commands"] == ["headless", "session", "say", "tools", "apikey"]
    assert summary["events"] == ["before_agent_start", "input", "tool_result"]
    assert summary["flags"] == ["loud"] and summary["shortcuts"] == ["ctrl+shift+g"]
    assert summary["message_renderers"] == ["greeting"] and summary["providers"] == ["local-llm"]
    tool = api_host.get("api").registrations["tools"][0]
    assert tool["parameters"]["required"] == ["name"]
    [record] = api_host.sandbox.store.query_records(kind="runtime_event", extension_id="api")
    assert record.payload["event"] == "register_provider" and record.payload["provider"] == "local-llm"
    assert "127.0.0.1" not in str(record.payload)  # the endpoint is kept as a hash only


def test_tool_call_validates_params_before_execute(api_host: ExtensionHost) -> None:
    result = api_host.call_tool("api", "greet", {"name": "ann", "times": 2}, tool_call_id="tc-1")
    assert result["content"][0]["text"] == "HELLO annHELLO ann"
    assert result["details"] == {"id": "tc-1", "hasUI": False, "aborted": False}
    assert result["updates"] == 1 and result["isError"] is False
    with pytest.raises(ToolArgumentsError, match="/times"):
        api_host.call_tool("api", "greet", {"name": "ann", "times": 0})
    with pytest.raises(ToolArgumentsError, match="/name"):
        api_host.call_tool("api", "greet", {})


def test_thrown_tool_error_is_an_error_result_and_recorded(api_host: ExtensionHost) -> None:
    result = api_host.call_tool("api", "boom", {})
    assert result["isError"] and result["content"][0]["text"] == "tool exploded"
    entries = api_host.sandbox.store.query_ledger(extension_id="api", limit=50)
    assert any(e.kind == "runtime" and e.reason == "extension_error" for e in entries)
    assert all("tool exploded" not in str(e.detail) for e in entries)  # hashes only


def test_unknown_tool_and_extension(api_host: ExtensionHost) -> None:
    with pytest.raises(ExtensionLoadError, match="not registered"):
        api_host.call_tool("api", "nope", {})
    with pytest.raises(ExtensionLoadError, match="no extension 'ghost'"):
        api_host.call_tool("ghost", "greet", {})


def test_headless_ui_never_throws(api_host: ExtensionHost) -> None:
    result = api_host.run_command("api", "headless")["result"]
    assert result == {
        "confirm": False, "select": "undef", "input": "undef", "custom": "undef", "hasUI": False,
        "cwd": str(api_host.config.project_dir),
    }


def test_session_entries_messages_and_active_tools(api_host: ExtensionHost) -> None:
    assert api_host.run_command("api", "session", "first")["result"] == {"entries": 1}
    assert api_host.run_command("api", "session", "second")["result"] == {"entries": 2}
    api_host.run_shortcut("api", "ctrl+shift+g")
    api_host.run_command("api", "say", "hi")
    kinds = [(m["kind"], m["extension_id"]) for m in api_host.outbox]
    assert kinds == [("message", "api"), ("user_message", "api")]
    assert api_host.outbox[0]["message"]["customType"] == "greeting"
    assert api_host.run_command("api", "tools")["result"] == ["greet"]


def test_api_key_is_a_secret_decided_by_policy(api_host: ExtensionHost) -> None:
    assert api_host.run_command("api", "apikey")["result"] == "error:denied"
    denied = [e for e in api_host.sandbox.store.query_ledger(extension_id="api", limit=50) if e.method == "env"]
    assert denied and denied[0].decision == "deny"


def test_event_results_combine_in_load_order(make_host: MakeHost, ext_dir: Path) -> None:
    host = make_host()
    first = write_file(ext_dir / "first.ts", API_EXT)
    second = write_file(
        ext_dir / "second.ts",
        """
        export default function (pi: any) {
          pi.on("before_agent_start", async (e: any) => ({ systemPrompt: e.systemPrompt + "[second]", message: { customType: "m" } }));
          pi.on("input", async (e: any) => (e.text === "stop" ? { action: "handled", response: "stopped" } : { action: "transform", text: e.text + "!" }));
          pi.on("tool_call", async (e: any) => (e.input.command?.includes("rm -rf") ? { block: true, reason: "dangerous" } : undefined));
          pi.on("session_before_switch", async () => ({ cancel: true }));
        }
        """,
    )
    host.load([source_for(first, "first"), source_for(second, "second")])
    start = host.emit("before_agent_start", {"systemPrompt": "BASE", "prompt": "p"})
    assert start["systemPrompt"] == "BASE\n[rules][second]" and start["messages"] == [{"customType": "m"}]
    assert host.emit("input", {"text": "  hi  "})["data"]["text"] == "hi!"
    handled = host.emit("input", {"text": " stop "})
    assert handled["action"] == "handled" and handled["handled_by"] == "second"
    assert handled["response"] == "stopped"
    blocked = host.emit("tool_call", {"toolName": "bash", "input": {"command": "rm -rf /"}})
    assert blocked["block"] and blocked["reason"] == "dangerous" and blocked["blocked_by"] == "second"
    assert not host.emit("tool_call", {"toolName": "bash", "input": {"command": "ls"}})["block"]
    result = host.emit("tool_result", {"toolName": "read", "content": [{"type": "text", "text": "secret"}]})
    assert result["data"]["content"] == [{"type": "text", "text": "redacted"}] and result["modified_by"] == ["first"]
    assert host.emit("session_before_switch", {})["cancel"] is True


def test_event_bus_between_extensions(make_host: MakeHost, ext_dir: Path) -> None:
    host = make_host()
    emitter = write_file(
        ext_dir / "emitter.ts",
        """
        export default function (pi: any) {
          pi.registerCommand("ping", { handler: async (args: string) => { pi.events.emit("demo:ping", { n: Number(args) }); } });
        }
        """,
    )
    listener = write_file(
        ext_dir / "listener.ts",
        """
        export default function (pi: any) {
          const seen: number[] = [];
          pi.events.on("demo:ping", (data: any) => { seen.push(data.n); });
          pi.registerCommand("seen", { handler: async () => seen });
        }
        """,
    )
    host.load([source_for(emitter, "emitter"), source_for(listener, "listener")])
    host.run_command("emitter", "ping", "7")
    host.run_command("emitter", "ping", "8")
    assert host.run_command("listener", "seen")["result"] == [7, 8]


def test_broken_extension_does_not_stop_the_others(make_host: MakeHost, ext_dir: Path) -> None:
    host = make_host()
    good = write_file(ext_dir / "good.ts", "export default function (pi: any) { pi.registerCommand('ok', { handler: async () => 'fine' }); }\n")
    syntax = write_file(ext_dir / "syntax.ts", "export default function (pi) { pi.on( }\n")
    nodefault = write_file(ext_dir / "nodefault.ts", "export const x = 1;\n")
    throws = write_file(ext_dir / "throws.ts", "export default function () { throw new Error('top-level boom'); }\n")
    results = {e.extension_id: e for e in host.load([source_for(p) for p in (syntax, nodefault, good, throws)])}
    assert results["good"].status == "loaded"
    assert results["syntax"].status == "failed" and "syntax.ts" in (results["syntax"].error or "")
    assert results["nodefault"].status == "failed" and "default export" in (results["nodefault"].error or "")
    assert results["throws"].status == "failed" and "top-level boom" in (results["throws"].error or "")
    assert host.run_command("good", "ok")["result"] == "fine"
    with pytest.raises(ExtensionRuntimeError, match="not loaded"):
        host.run_command("throws", "x")
    alerts = host.sandbox.store.query_alerts(category="runtime")
    assert {a.extension_id for a in alerts} >= {"syntax", "nodefault", "throws"}


def test_async_default_export_and_cjs_entry(make_host: MakeHost, ext_dir: Path) -> None:
    host = make_host()
    asynchronous = write_file(
        ext_dir / "later.ts",
        "export default async function (pi: any) { await Promise.resolve(); pi.registerCommand('late', { handler: async () => 1 }); }\n",
    )
    cjs = write_file(
        ext_dir / "cjs" / "index.js",
        """
        const path = require("node:path");
        module.exports = function (pi) { pi.registerCommand("join", { handler: async (a) => path.join("x", a) }); };
        """,
    )
    host.load([source_for(asynchronous, "later"), source_for(cjs, "cjs")])
    assert host.run_command("later", "late")["result"] == 1
    assert host.run_command("cjs", "join", "y")["result"] == "x/y"


def test_limits_come_from_config(make_config: object) -> None:
    config = make_config(settings={"extensionRuntime": {"callTimeoutMs": 1234, "maxMemoryMb": 96, "maxStackKb": 256}})  # type: ignore[operator]
    limits = limits_for(config, "x")
    assert limits.call_timeout_s == pytest.approx(1.234)
    assert limits.memory_bytes == 96 * 1024 * 1024 and limits.stack_bytes == 256 * 1024


def test_session_start_and_restart_reinitialises(make_host: MakeHost, ext_dir: Path) -> None:
    host = make_host()
    path = write_file(
        ext_dir / "stateful.ts",
        """
        export default function (pi: any) {
          let starts = 0;
          pi.on("session_start", async (e: any) => { starts += 1; });
          pi.registerCommand("starts", { handler: async () => starts });
          pi.registerCommand("hang", { handler: async () => { for (;;) {} } });
        }
        """,
    )
    host.load([source_for(path, "stateful")])
    assert host.run_command("stateful", "starts")["result"] == 0
    outcome = host.start_session()
    assert outcome["extensions"][0]["handled"] == 1
    assert host.run_command("stateful", "starts")["result"] == 1
    with pytest.raises(ExtensionRuntimeError, match="was killed"):
        host.run_command("stateful", "hang")
    # The restarted worker starts from scratch and gets its own session_start.
    assert host.run_command("stateful", "starts")["result"] == 1


def test_newer_package_names_and_ui_calls(make_host: MakeHost, ext_dir: Path) -> None:
    host = make_host()
    path = write_file(
        ext_dir / "newer.ts",
        """
        import { Type } from "typebox";
        import type { ExtensionAPI } from "@earendil-works/pi-coding-agent";
        import * as os from "node:os";
        export default function (pi: ExtensionAPI) {
          pi.registerTool({ name: "t", parameters: Type.Object({ n: Type.Number() }),
            execute: async (_i: string, p: any) => ({ content: [{ type: "text", text: String(p.n) }] }) });
          pi.registerCommand("ui", { handler: async (_a: string, ctx: any) => {
            ctx.ui.setWorkingIndicator("x"); ctx.ui.addAutocompleteProvider({}); ctx.ui.setHiddenThinkingLabel("y");
            return [typeof ctx.ui.someProperty, os.homedir()];
          } });
        }
        """,
    )
    [ext] = host.load([source_for(path, "newer")])
    assert ext.status == "loaded", ext.error
    assert host.call_tool("newer", "t", {"n": 3})["content"][0]["text"] == "3"
    with pytest.raises(ToolArgumentsError):
        host.call_tool("newer", "t", {"n": "three"})
    assert host.run_command("newer", "ui")["result"] == ["undefined", host.config.environ["HOME"]]


def test_a_listener_that_hangs_does_not_fail_the_emitter(make_host: MakeHost, ext_dir: Path) -> None:
    host = make_host()
    emitter = write_file(
        ext_dir / "shout.ts",
        """
        export default function (pi: any) {
          pi.registerTool({ name: "shout", execute: async () => { pi.events.emit("x:y", {}); return { content: [{ type: "text", text: "sent" }] }; } });
        }
        """,
    )
    hangs = write_file(ext_dir / "hangs.ts", 'export default function (pi: any) { pi.events.on("x:y", () => { for (;;) {} }); }\n')
    host.load([source_for(emitter, "shout"), source_for(hangs, "hangs")])
    assert host.call_tool("shout", "shout", {})["content"][0]["text"] == "sent"
    assert host.get("hangs").status == "dead"
    entries = host.sandbox.store.query_ledger(extension_id="hangs", limit=20)
    assert any(e.kind == "runtime" and e.reason == "timeout" for e in entries)


def test_tools_registered_at_run_time_are_listed(make_host: MakeHost, ext_dir: Path) -> None:
    host = make_host()
    path = write_file(
        ext_dir / "dynamic.ts",
        """
        export default function (pi: any) {
          pi.registerCommand("add-tool", { handler: async (name: string) => {
            pi.registerTool({ name, execute: async () => ({ content: [{ type: "text", text: "I am " + name }] }) });
          } });
        }
        """,
    )
    host.load([source_for(path, "dynamic")])
    assert host.get("dynamic").summary()["tools"] == []
    host.run_command("dynamic", "add-tool", "late_tool")
    assert host.get("dynamic").summary()["tools"] == ["late_tool"]
    assert host.call_tool("dynamic", "late_tool", {})["content"][0]["text"] == "I am late_tool"


def test_missing_toolchain_fails_the_load_with_setup_advice(make_host: MakeHost, ext_dir: Path) -> None:
    from pi_sandbox.runtime.toolchain import Toolchain

    host = make_host(toolchain=Toolchain(ext_dir / "no-toolchain"))
    path = write_file(ext_dir / "any.ts", "export default function () {}\n")
    with pytest.raises(ExtensionLoadError, match="run `pi-sandbox setup`"):
        host.load([source_for(path, "any")])
