# ruff: noqa: E501  (embedded TypeScript extension source)
"""The bridge against the real pi agent (pinned in tests/bridge/pi_agent/package-lock.json), driven headless in
pi's RPC mode with a scripted model: sandboxed tools come back to pi, denials arrive as tool errors with the
remediation, prompts are answered through pi's UI, and a dead sandbox is reported and never bypassed."""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from pi_sandbox.audit import AuditStore
from pi_sandbox.cli.main import main
from tests.bridge.pi_agent import PiAgent, install_pi_agent
from tests.runtime.conftest import write_file

GREETER = """
import { Type } from "@sinclair/typebox";
import * as fs from "node:fs";
export default function (pi: any) {
  pi.registerTool({ name: "greet", label: "Greet", description: "Greet someone and count the workspace files",
    parameters: Type.Object({ name: Type.String({ description: "who to greet" }) }),
    async execute(_id: string, p: any) {
      const n = fs.readdirSync(".").length;
      return { content: [{ type: "text", text: `Hello, ${p.name}! ${n} file(s).` }], details: { files: n } };
    } });
  pi.registerTool({ name: "run", description: "Run a shell command", parameters: Type.Object({ command: Type.String() }),
    async execute(_id: string, p: any) {
      const r = await pi.exec("sh", ["-c", p.command]);
      if (r.code !== 0) throw new Error(r.stderr || `exit code ${r.code}`);
      return { content: [{ type: "text", text: r.stdout }] };
    } });
  pi.registerTool({ name: "probe", description: "Read PROBE_VALUE from the environment", parameters: Type.Object({}),
    async execute() {
      const v = process.env.PROBE_VALUE;
      if (v === undefined) throw new Error("PROBE_VALUE is not readable");
      return { content: [{ type: "text", text: v }] };
    } });
  pi.on("tool_call", async (e: any) => (e.toolName === "bash" ? { block: true, reason: "greeter: no bash here" } : undefined));
}
"""


@pytest.fixture(scope="session")
def pi_cli() -> Path:
    return install_pi_agent()


@pytest.fixture()
def bridged(pi_env: Any, pi_cli: Path) -> Iterator[Any]:
    """pi_env with the greeter in pi-sandbox's folder and the bridge installed by the real command."""
    write_file(pi_env.agent_dir / "sandboxed-extensions" / "greeter.ts", GREETER)
    (pi_env.workspace / "notes.txt").write_text("x")
    assert main(["bridge", "install"]) == 0
    agents: list[PiAgent] = []

    def start(ui: Any = None, args: Sequence[str] = ()) -> PiAgent:
        agent = PiAgent(pi_cli, os.environ, pi_env.workspace, ui, args)
        agents.append(agent)
        agent.ready()
        return agent

    yield start
    for agent in agents:
        agent.close()


def _ledger(pi_env: Any) -> list[Any]:
    with AuditStore.open_read_only(pi_env.state_dir) as store:
        return store.query_ledger(extension_id="greeter")


def test_sandboxed_tool_result_reaches_pi_and_denial_is_a_tool_error(bridged: Any, pi_env: Any) -> None:
    agent = bridged()
    end, answer = agent.run_tool("greet", {"name": "ann"})
    assert end["isError"] is False and end["result"]["content"][0]["text"] == "Hello, ann! 1 file(s)."
    assert end["result"]["details"] == {"files": 1}
    assert answer == "tool said: Hello, ann! 1 file(s)."  # the model got the sandboxed result back from pi
    end, answer = agent.run_tool("run", {"command": "echo hi"})
    error = end["result"]["content"][0]["text"]
    assert end["isError"] is True and answer.startswith("tool failed:")
    assert "denied by policy" in error and "allowDangerous" in error  # the remediation text, in pi
    notices = [e["message"] for e in agent.seen if e.get("method") == "notify"]
    assert any("exec" in n and "allowDangerous" in n for n in notices)  # the alert, shown in pi's UI
    entries = _ledger(pi_env)
    assert any(e.decision == "allow" and e.capability == "read" for e in entries)
    assert any(e.decision == "deny" and e.capability == "exec" and e.reason == "deny_caps" for e in entries)


FLAGGED = """
export default function (pi: any) {
  pi.registerFlag("shout", { description: "answer in capitals", type: "boolean", default: false });
  pi.registerFlag("greeting", { description: "the word to greet with", type: "string", default: "hello" });
  pi.registerFlag("unused", { description: "never given", type: "string", default: "kept" });
  pi.registerTool({ name: "flags", description: "Report the flags", parameters: { type: "object", properties: {} },
    async execute() {
      const text = JSON.stringify([pi.getFlag("shout"), pi.getFlag("greeting"), pi.getFlag("unused")]);
      return { content: [{ type: "text", text }] };
    } });
}
"""


def test_flags_of_sandboxed_extensions_are_pi_flags(bridged: Any, pi_env: Any) -> None:
    # Without the bridge registering them, pi refused '--shout' as an unknown option.
    write_file(pi_env.agent_dir / "sandboxed-extensions" / "flagged.ts", FLAGGED)
    agent = bridged(args=["--shout", "--greeting", "bonjour"])
    end, _ = agent.run_tool("flags", {})
    assert end["isError"] is False, end
    assert json.loads(end["result"]["content"][0]["text"]) == [True, "bonjour", "kept"]
    defaults = bridged()
    end, _ = defaults.run_tool("flags", {})
    assert json.loads(end["result"]["content"][0]["text"]) == [False, "hello", "kept"]


def test_events_are_relayed_and_a_sandboxed_block_stops_pis_own_tool(bridged: Any) -> None:
    agent = bridged()
    end, _ = agent.run_tool("bash", {"command": "echo should-not-run"})
    assert end["isError"] is True and "greeter: no bash here" in end["result"]["content"][0]["text"]


def test_permission_prompt_is_answered_in_pi(bridged: Any, pi_env: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    pi_env.global_settings.write_text(json.dumps({"extensionPolicy": {
        "profile": "balanced", "allowDangerous": True, "perExtension": {"greeter": {"allow": ["env"]}}}}))
    monkeypatch.setenv("PROBE_VALUE", "plain-value")
    answers = iter(["Deny", "Allow for this session"])
    asked: list[dict[str, Any]] = []

    def ui(event: dict[str, Any]) -> dict[str, Any]:
        asked.append(event)
        return {"value": next(answers)}

    agent = bridged(ui)
    end, _ = agent.run_tool("probe", {})
    assert end["isError"] is True and "PROBE_VALUE is not readable" in end["result"]["content"][0]["text"]
    end, _ = agent.run_tool("probe", {})
    assert end["isError"] is False and end["result"]["content"][0]["text"] == "plain-value"
    end, _ = agent.run_tool("probe", {})  # remembered for the session: not asked again
    assert end["result"]["content"][0]["text"] == "plain-value" and len(asked) == 2
    assert "greeter" in asked[0]["title"] and "'env'" in asked[0]["title"]
    reasons = [e.reason for e in _ledger(pi_env) if e.capability == "env"]
    assert reasons[:3] == ["prompt_user_deny", "prompt_user_allow", "prompt_cache_allow"]


def _children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        text = (task / "children").read_text().split()
        found += [int(c) for c in text]
    return found


def test_dead_sandbox_is_reported_and_nothing_runs_unsandboxed(bridged: Any, pi_env: Any) -> None:
    agent = bridged()
    sandbox_pids = [c for c in _children(agent.proc.pid)
                    if b"pi_sandbox" in Path(f"/proc/{c}/cmdline").read_bytes()]
    assert len(sandbox_pids) == 1
    os.kill(sandbox_pids[0], signal.SIGKILL)
    agent.wait_for(lambda e: e.get("method") == "notify" and "pi-sandbox process stopped" in e.get("message", ""))
    before = len(_ledger(pi_env))
    end, _ = agent.run_tool("greet", {"name": "bob"})
    text = end["result"]["content"][0]["text"]
    assert end["isError"] is True and "pi-sandbox process stopped" in text and "nothing runs outside" in text
    assert len(_ledger(pi_env)) == before  # no call reached any extension code
    end, _ = agent.run_tool("bash", {"command": "echo hi"})  # a guard that cannot answer blocks
    assert end["isError"] is True and "pi-sandbox process stopped" in end["result"]["content"][0]["text"]


@pytest.mark.parametrize(("plan", "answer"), [
    ({"tool": "greet", "args": {"name": "ann"}}, "tool said: Hello, ann!"),
    ({"tool": "run", "args": {"command": "echo hi"}}, "tool failed: "),  # denied: an alert arrives too
])
def test_print_mode_ends_cleanly(pi_env: Any, pi_cli: Path, plan: dict[str, Any], answer: str) -> None:
    # `pi -p` ends the session, then the pi-sandbox child exits: the bridge reported that exit as a death through
    # the context pi had just retired, which threw ("This extension ctx is stale") out of a child-process
    # handler: a Node stack trace and exit 1 after every successful one-shot run.
    import subprocess

    from tests.bridge.pi_agent import SCRIPTED_PROVIDER

    write_file(pi_env.agent_dir / "sandboxed-extensions" / "greeter.ts", GREETER)
    (pi_env.workspace / "notes.txt").write_text("x")
    assert main(["bridge", "install"]) == 0
    done = subprocess.run(
        ["node", str(pi_cli), "--no-session", "--offline", "--provider", "scripted", "--model", "script-1",
         "-e", str(SCRIPTED_PROVIDER), "-p", json.dumps(plan)],
        cwd=pi_env.workspace, env=dict(os.environ), capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(answer), done.stdout
    assert "stale" not in done.stderr and "pi-sandbox process stopped" not in done.stderr, done.stderr
    entries = _ledger(pi_env)
    assert any(e.kind == "hostcall" for e in entries)  # the call went through the sandbox
