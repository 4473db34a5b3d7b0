# ruff: noqa: E501  (embedded JavaScript extension source)
"""CLI: pi-sandbox ext list / tool call / command run / events emit / rpc / setup / demo, -e and --no-extensions."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from tests.runtime.conftest import write_file

from pi_sandbox.cli.main import main

EXT = """
import { Type } from "@sinclair/typebox";
export default function (pi: any) {
  pi.registerTool({ name: "add", parameters: Type.Object({ a: Type.Number(), b: Type.Number() }),
    execute: async (_id: string, p: any) => ({ content: [{ type: "text", text: String(p.a + p.b) }], details: { sum: p.a + p.b } }) });
  pi.registerTool({ name: "fail", execute: async () => ({ content: [{ type: "text", text: "nope" }], isError: true }) });
  pi.registerCommand("shout", { handler: async (args: string) => { pi.sendMessage({ customType: "shout", content: args.toUpperCase() }); } });
  pi.on("tool_call", async (e: any) => (e.toolName === "bash" ? { block: true, reason: "calc only" } : undefined));
  let started = false;
  pi.on("session_start", async () => { started = true; });
  pi.registerTool({ name: "started", execute: async () => ({ content: [{ type: "text", text: String(started) }] }) });
}
"""


@pytest.fixture()
def calc(pi_env: Any) -> Path:
    return write_file(pi_env.agent_dir / "extensions" / "calc.ts", EXT)


def run_json(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, Any]:
    code = main(list(argv))
    out = capsys.readouterr().out
    return code, json.loads(out) if out.strip() else None


def test_ext_list_discovers_agent_extensions(calc: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, data = run_json(capsys, "ext", "list", "--json")
    assert code == 0
    assert [(e["id"], e["status"], e["origin"]) for e in data["extensions"]] == [("calc", "loaded", "agent")]
    assert data["extensions"][0]["tools"] == ["add", "fail", "started"]


def test_no_extensions_loads_nothing_even_with_e(calc: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, data = run_json(capsys, "--no-extensions", "-e", str(calc), "ext", "list", "--json")
    assert code == 0 and data == {"extensions": [], "problems": []}
    code = main(["--no-extensions", "tool", "call", "calc", "add", "--args", '{"a":1,"b":2}'])
    assert code == 2
    assert "--no-extensions is set" in capsys.readouterr().err


def test_tool_call(calc: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, data = run_json(capsys, "tool", "call", "calc", "add", "--args", '{"a": 2, "b": 40}', "--json")
    assert code == 0 and data["details"] == {"sum": 42}
    assert main(["tool", "call", "calc", "add", "--args", '{"a": 2}']) == 2
    assert "invalid arguments" in capsys.readouterr().err
    assert main(["tool", "call", "calc", "fail"]) == 1
    assert main(["tool", "call", "calc", "add", "--args", "{not json"]) == 2
    assert main(["tool", "call", "ghost", "add"]) == 2


def test_tool_call_runs_in_a_started_session(calc: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, data = run_json(capsys, "tool", "call", "calc", "started", "--json")
    assert code == 0 and data["content"][0]["text"] == "true"


def test_explicit_extension_path(pi_env: Any, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_file(pi_env.root / "elsewhere" / "calc2.ts", EXT)
    code, data = run_json(capsys, "-e", str(path), "tool", "call", "calc2", "add", "--args", '{"a":1,"b":1}', "--json")
    assert code == 0 and data["content"][0]["text"] == "2"


def test_command_run_and_events_emit(calc: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, data = run_json(capsys, "command", "run", "calc", "shout", "hi", "there", "--json")
    assert code == 0 and data["messages"][0]["message"]["content"] == "HI THERE"
    code, data = run_json(
        capsys, "events", "emit", "tool_call", "--data", '{"toolName": "bash", "input": {}}', "--json"
    )
    assert code == 0 and data["block"] is True and data["reason"] == "calc only"


def test_setup_is_idempotent(capsys: pytest.CaptureFixture[str]) -> None:
    code, data = run_json(capsys, "setup", "--json")
    assert code == 0 and "already installed" in data["summary"] and "esbuild 0.28.2" in data["summary"]


def test_demo_runs_to_a_valid_ledger(capsys: pytest.CaptureFixture[str]) -> None:
    code, data = run_json(capsys, "demo", "--json")
    assert code == 0 and data["ledger_valid"] and data["all_as_expected"]
    outcomes = {s["outcome"] for s in data["steps"]}
    assert {"allowed", "denied", "blocked", "killed", "rejected"} <= outcomes


def test_rpc_over_a_real_subprocess(calc: Path) -> None:
    requests = [
        {"id": 1, "method": "list"},
        {"id": 2, "method": "tool.call", "params": {"extension": "calc", "tool": "add", "args": {"a": 1, "b": 2}}},
        {"id": 3, "method": "tool.call", "params": {"extension": "calc", "tool": "add", "args": {"a": "x"}}},
        {"id": 4, "method": "command.run", "params": {"extension": "calc", "name": "shout", "args": "yo"}},
        {"id": 5, "method": "events.emit", "params": {"event": "tool_call", "data": {"toolName": "bash"}}},
        {"id": 6, "method": "bogus"},
        {"id": 7, "method": "shutdown"},
    ]
    stdin = "\n".join(json.dumps(r) for r in requests) + "\nthis is not json\n"
    proc = subprocess.run(
        [sys.executable, "-m", "pi_sandbox.cli.main", "rpc"],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        env=dict(os.environ),
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    lines = [json.loads(line) for line in proc.stdout.splitlines()]
    assert lines[0]["method"] == "ready"
    by_id = {m["id"]: m for m in lines if "id" in m}
    assert by_id[1]["result"]["extensions"][0]["id"] == "calc"
    assert by_id[2]["result"]["content"][0]["text"] == "3"
    assert by_id[3]["error"]["code"] == "invalid_params"
    notes = [m for m in lines if m.get("method") == "extension.message"]
    assert notes and notes[0]["params"]["message"]["content"] == "YO"
    assert by_id[5]["result"]["block"] is True
    assert by_id[6]["error"]["code"] == "method_not_found"
    assert by_id[7]["result"] == {"stopped": True}
    assert not any(m.get("error", {}).get("code") == "parse_error" for m in lines)  # stopped before it


TICKER = """
export default function (pi: any) {
  let n = 0;
  pi.on("session_start", async () => {
    const id = setInterval(() => {
      n += 1;
      pi.sendMessage({ customType: "tick", content: `tick ${n}` });
      if (n === 3) clearInterval(id);
    }, 40);
  });
}
"""


def test_rpc_runs_extension_timers_while_idle(pi_env: Any) -> None:
    write_file(pi_env.agent_dir / "extensions" / "ticker.ts", TICKER)
    proc = subprocess.Popen(
        [sys.executable, "-m", "pi_sandbox.cli.main", "rpc"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ),
    )
    assert proc.stdin is not None and proc.stdout is not None
    try:
        ready = json.loads(proc.stdout.readline())
        assert ready["method"] == "ready"
        ticks = [json.loads(proc.stdout.readline()) for _ in range(3)]  # no request sent meanwhile
        assert [t["params"]["message"]["content"] for t in ticks] == ["tick 1", "tick 2", "tick 3"]
        proc.stdin.write(json.dumps({"id": 1, "method": "shutdown"}) + "\n")
        proc.stdin.flush()
        assert json.loads(proc.stdout.readline()) == {"id": 1, "result": {"stopped": True}}
        assert proc.wait(timeout=30) == 0
    finally:
        proc.kill()
