# ruff: noqa: E501  (embedded JavaScript extension source)
"""``pi_sandbox.open_session()``: the one Python front door, on real workers, a real pipeline and a real ledger."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

import pi_sandbox
from pi_sandbox import (
    PermissionAnswer,
    PermissionPrompt,
    SessionClosedError,
    ToolArgumentsError,
    ToolNotFoundError,
    open_session,
)
from pi_sandbox.audit import AuditStore
from pi_sandbox.audit.verify import verify_ledger
from tests.runtime.conftest import write_file

TOOLS = """
import { Type } from "@sinclair/typebox";
import * as fs from "node:fs";
export default function (pi: any) {
  pi.registerTool({ name: "echo", label: "Echo", description: "Echo the text back",
    parameters: Type.Object({ text: Type.String({ description: "what to echo" }) }),
    execute: async (_id: string, p: any) => ({ content: [{ type: "text", text: p.text }], details: { n: p.text.length } }) });
  pi.registerTool({ name: "probe", description: "Read PROBE_VALUE",
    execute: async () => { const v = process.env.PROBE_VALUE; return { content: [{ type: "text", text: String(v) }], isError: v === undefined }; } });
  pi.registerTool({ name: "steal", description: "Read an SSH key in the workspace",
    execute: async () => { try { return { content: [{ type: "text", text: fs.readFileSync(process.cwd() + "/.ssh/id_rsa", "utf8") }] }; }
      catch (e: any) { return { content: [{ type: "text", text: "could not read: " + e.message }], isError: true }; } } });
  pi.registerCommand("hello", { description: "Say hello", handler: async (args: string) => "hello " + args });
  pi.registerTool({ name: "later", description: "Write timer.txt soon",
    execute: async (_id: string, _p: any, _s: any, _u: any, ctx: any) => {
      setTimeout(() => fs.writeFileSync(ctx.cwd + "/timer.txt", "ran"), 50);
      return { content: [{ type: "text", text: "scheduled" }] }; } });
}
"""

GUARD = """
export default function (pi: any) {
  pi.on("tool_call", async (event: any) => event.toolName === "bash" && /rm -rf/.test(event.input.command)
    ? { block: true, reason: "guard: recursive delete" } : undefined);
  pi.registerTool({ name: "echo", description: "the guard's own echo", execute: async () => ({ content: [{ type: "text", text: "guard" }] }) });
}
"""


@pytest.fixture()
def exts(pi_env: Any, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    """Two extensions; env is allowed for `tools` (a new extension in probation: every env read is a prompt)."""
    pi_env.global_settings.write_text(json.dumps(
        {"extensionPolicy": {"profile": "balanced", "allowDangerous": True, "perExtension": {"tools": {"allow": ["env"]}}}}))
    monkeypatch.setenv("PROBE_VALUE", "plain-value")
    for where in (pi_env.home, pi_env.workspace):
        (where / ".ssh").mkdir()
        (where / ".ssh" / "id_rsa").write_text("CANARY-PRIVATE-KEY\n")
    root = pi_env.root / "exts"
    return {"tools": write_file(root / "tools.ts", TOOLS), "guard": write_file(root / "guard.ts", GUARD)}


def _sealed(state_dir: Path) -> Any:
    report = verify_ledger(state_dir)
    assert report.chain_valid and report.unsealed_entries == 0, report.to_dict()
    return report


def test_tools_with_schemas_calls_denials_and_a_sealed_ledger(pi_env: Any, exts: dict[str, Path]) -> None:
    with open_session([exts["tools"]], discover=False) as session:
        assert [(e.id, e.loaded) for e in session.extensions()] == [("tools", True)]
        specs = {t.name: t for t in session.tools()}
        assert specs["echo"].description == "Echo the text back" and specs["echo"].label == "Echo"
        assert specs["echo"].parameters["properties"]["text"] == {"type": "string", "description": "what to echo"}
        assert specs["probe"].parameters == {"type": "object", "properties": {}}
        result = session.call_tool("echo", {"text": "hi"})
        assert (result.text, result.is_error, result.details, result.denials) == ("hi", False, {"n": 2}, ())
        with pytest.raises(ToolArgumentsError):
            session.call_tool("echo", {})
        stolen = session.call_tool("steal")
        assert stolen.is_error and "CANARY" not in stolen.text
        (denial,) = [d for d in stolen.denials if d.capability == "read"]
        assert denial.reason == "secret_file" and "readSecretFiles" in denial.remediation
        assert "readSecretFiles" in denial.describe()
        assert session.run_command("hello", "ann") == "hello ann"
        assert session.next_timer_at() is None
        session.call_tool("later")
        due = session.next_timer_at()
        assert due is not None
        time.sleep(max(0.0, due - time.monotonic()) + 0.01)
        assert session.run_due_timers() == 1 and (pi_env.workspace / "timer.txt").read_text() == "ran"
        assert session.verify_ledger().chain_valid
        ledger = session.ledger(extension="tools")
        assert any(e.seq == denial.seq and e.decision == "deny" for e in ledger)
    assert session.closed
    _sealed(pi_env.state_dir)
    with pytest.raises(SessionClosedError) as closed:
        session.tools()
    assert "open_session" in closed.value.remediation


def test_prompts_go_to_the_callback_and_every_answer_is_recorded(pi_env: Any, exts: dict[str, Path]) -> None:
    asked: list[PermissionPrompt] = []
    answers = iter([PermissionAnswer.DENY, "once", True, RuntimeError("broken UI"), None, "maybe", PermissionAnswer.SESSION])

    def on_prompt(prompt: PermissionPrompt) -> Any:
        asked.append(prompt)
        answer = next(answers)
        if isinstance(answer, Exception):
            raise answer
        return answer

    with open_session([exts["tools"]], discover=False, on_prompt=on_prompt) as session:
        texts = [session.call_tool("probe").text for _ in range(8)]
    assert texts == ["undefined", "plain-value", "plain-value", "undefined", "undefined", "undefined",
                     "plain-value", "plain-value"]  # the 8th: remembered for the session, not asked
    assert len(asked) == 7
    assert (asked[0].extension_id, asked[0].capability, asked[0].method) == ("tools", "env", "env")
    assert "probation" in asked[0].explanation
    with AuditStore.open_read_only(pi_env.state_dir) as store:
        reasons = [e.reason for e in store.query_ledger(extension_id="tools") if "prompt" in e.reason]
    assert reasons == ["prompt_user_deny", "prompt_user_allow", "prompt_user_allow", "prompt_no_answer_deny",
                       "prompt_no_answer_deny", "prompt_user_deny", "prompt_user_allow", "prompt_cache_allow"]


def test_dialogs_go_to_the_dialog_callback(pi_env: Any) -> None:
    ext = write_file(pi_env.root / "exts" / "asker.ts", """
    export default function (pi: any) {
      pi.registerTool({ name: "ask", description: "three dialogs",
        execute: async (_id: string, _p: any, _s: any, _u: any, ctx: any) => {
          const ok = await ctx.ui.confirm("Proceed?", "go on");
          const pick = await ctx.ui.select("Colour", ["red", "blue"]);
          const typed = await ctx.ui.input("Name", "who are you");
          return { content: [{ type: "text", text: `${ok} ${pick} ${typed}` }] }; } });
    }
    """)
    seen: list[pi_sandbox.Dialog] = []
    replies: list[Any] = [True, "blue", "ann", "yes", "green", RuntimeError("broken UI")]

    def on_dialog(dialog: pi_sandbox.Dialog) -> Any:
        seen.append(dialog)
        reply = replies.pop(0)
        if isinstance(reply, Exception):
            raise reply
        return reply

    with open_session([ext], discover=False, on_dialog=on_dialog) as session:
        assert session.call_tool("ask").text == "true blue ann"
        assert session.call_tool("ask").text == "false undefined undefined"  # wrong shapes, a failing UI: headless
    assert [(d.extension_id, d.op, d.title) for d in seen[:3]] == [
        ("asker", "confirm", "Proceed?"), ("asker", "select", "Colour"), ("asker", "input", "Name")]
    assert seen[1].options == ("red", "blue") and seen[0].message == "go on"


def test_headless_without_a_callback(pi_env: Any, exts: dict[str, Path]) -> None:
    with open_session([exts["tools"]], discover=False) as session:
        assert session.call_tool("probe").is_error
    with AuditStore.open_read_only(pi_env.state_dir) as store:
        assert "prompt_headless_deny" in [e.reason for e in store.query_ledger(extension_id="tools")]


def test_events_commands_and_tool_names_across_extensions(pi_env: Any, exts: dict[str, Path]) -> None:
    with open_session([exts["tools"], exts["guard"]], discover=False) as session:
        outcome = session.emit("tool_call", {"toolName": "bash", "input": {"command": "rm -rf /"}})
        assert outcome["block"] and outcome["blocked_by"] == "guard"
        assert not session.emit("tool_call", {"toolName": "bash", "input": {"command": "ls"}}).get("block")
        with pytest.raises(ToolNotFoundError, match="tools, guard") as ambiguous:
            session.call_tool("echo", {"text": "x"})
        assert "extension=" in ambiguous.value.remediation
        assert session.call_tool("echo", extension="guard").text == "guard"
        with pytest.raises(ToolNotFoundError, match="no tool 'nope'"):
            session.tool("nope")
        assert session.load(exts["tools"]) == []  # already loaded: nothing new
        other = write_file(pi_env.root / "more" / "tools.ts", TOOLS)
        (more,) = session.load(other)
        assert (more.id, more.loaded, more.origin) == ("tools-2", True, "cli")  # ids stay unique
        with pytest.raises(pi_sandbox.ExtensionLoadError, match="cannot load"):
            session.load(pi_env.root / "missing.ts")


def test_exception_in_the_block_still_stops_workers_and_seals(pi_env: Any, exts: dict[str, Path]) -> None:
    with pytest.raises(KeyError), open_session([exts["tools"]], discover=False) as session:
        pids = [e.worker.pid for e in session._host.extensions() if e.worker]
        assert pids
        session.call_tool("echo", {"text": "before the crash"})
        raise KeyError("the embedding program fails")
    for pid in pids:
        assert not Path(f"/proc/{pid}").exists() or "zombie" in Path(f"/proc/{pid}/status").read_text().lower()
    _sealed(pi_env.state_dir)


def test_flags_and_model_reach_the_extension(pi_env: Any) -> None:
    ext = write_file(pi_env.root / "exts" / "who.ts", """
    export default function (pi: any) {
      pi.registerFlag("verbose", { type: "boolean", default: false });
      pi.registerTool({ name: "who", description: "model and flag",
        execute: async (_id: string, _p: any, _s: any, _u: any, ctx: any) =>
          ({ content: [{ type: "text", text: `${ctx.model?.id} ${pi.getFlag("verbose")}` }] }) });
    }
    """)
    with open_session([ext], discover=False, flags={"verbose": True}, model={"provider": "p", "id": "m-1"}) as session:
        assert session.call_tool("who").text == "m-1 true"


def test_discovery_and_bad_settings(pi_env: Any, exts: dict[str, Path]) -> None:
    folder = pi_env.agent_dir / "sandboxed-extensions"
    write_file(folder / "tools.ts", TOOLS)
    with open_session(sandboxed_only=True) as session:
        assert [e.id for e in session.extensions()] == ["tools"]
    pi_env.global_settings.write_text('{"extensionPolicy": ')  # not JSON
    with pytest.raises(pi_sandbox.ConfigError) as bad:
        open_session()
    assert "config validate" in bad.value.remediation


def test_import_is_cheap_and_the_public_surface_resolves() -> None:
    code = ("import sys; before = set(sys.modules); import pi_sandbox;"
            "print(sorted(m for m in set(sys.modules) - before if m != 'pi_sandbox'))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}).stdout
    assert out.strip() == "[]"  # nothing but the package itself (not even typing) until a name is used
    assert pi_sandbox.__all__ == ["__version__", *sorted(set(pi_sandbox.__all__) - {"__version__"})]
    for name in pi_sandbox.__all__:
        assert getattr(pi_sandbox, name) is not None
        assert name in dir(pi_sandbox)
    with pytest.raises(AttributeError):
        pi_sandbox.nothing_here  # noqa: B018
    assert (Path(pi_sandbox.__file__).parent / "py.typed").is_file()


@pytest.mark.parametrize("answer", [PermissionAnswer.UNASKED, "unasked", PermissionAnswer.DENY, "deny", False, "x", 1])
def test_only_the_allowing_answers_allow(answer: Any) -> None:
    from pi_sandbox.session.core import _to_prompt_answer

    assert _to_prompt_answer(answer).allow is False
    assert _to_prompt_answer("session").scope == "session" and _to_prompt_answer(True).allow is True


@pytest.mark.parametrize("discover", [True, False])
@pytest.mark.parametrize("wrong", ["./nope.ts", "notes.txt", "empty-folder"])
def test_a_path_that_holds_no_extension_raises_whether_or_not_discovering(
    exts: dict[str, Path], pi_env: Any, discover: bool, wrong: str
) -> None:
    # With discover=True (the default) a mistyped path was dropped without a word: the session ran with the
    # configured extensions only, and extensions() did not mention it.
    from pi_sandbox import PiSandboxError

    (pi_env.workspace / "notes.txt").write_text("x")
    (pi_env.workspace / "empty-folder").mkdir()
    with pytest.raises(PiSandboxError, match=f"cannot load {wrong}"):
        with open_session([wrong], discover=discover, project_dir=pi_env.workspace):
            pass
    with open_session([exts["tools"]], discover=discover, project_dir=pi_env.workspace) as session:
        assert session.tool("probe").extension_id  # a right path still loads
