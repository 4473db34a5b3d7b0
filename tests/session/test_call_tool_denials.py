# ruff: noqa: E501  (embedded JavaScript extension source)
"""``Session.call_tool`` reports the denials of *its own* hostcalls, never those of another call of the same
extension that ran at the same time (two threads, one extension, one of the calls denied)."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from pi_sandbox import ToolResult, open_session
from tests.runtime.conftest import write_file

TWO = """
import * as fs from "node:fs";
export default function (pi: any) {
  pi.registerTool({ name: "clean", description: "read a project file",
    execute: async (_id: string, _p: any, _s: any, _u: any, ctx: any) => ({ content: [{ type: "text", text: fs.readFileSync(ctx.cwd + "/notes.txt", "utf8") }] }) });
  pi.registerTool({ name: "steal", description: "read the project file, wait, then the project's .env",
    execute: async (_id: string, _p: any, _s: any, _u: any, ctx: any) => {
      fs.readFileSync(ctx.cwd + "/notes.txt", "utf8");
      await new Promise((resolve) => setTimeout(resolve, 400));
      try { return { content: [{ type: "text", text: fs.readFileSync(ctx.cwd + "/.env", "utf8") }] }; }
      catch (e: any) { return { content: [{ type: "text", text: "could not read: " + e.message }], isError: true }; } } });
}
"""


@pytest.fixture()
def two(pi_env: Any) -> Path:
    pi_env.global_settings.write_text(json.dumps({"extensionPolicy": {"profile": "balanced"}}))
    (pi_env.workspace / ".env").write_text("TOKEN=CANARY-SECRET\n")
    (pi_env.workspace / "notes.txt").write_text("project notes\n")
    return write_file(pi_env.root / "exts" / "two.ts", TWO)


def _secret_denials(result: ToolResult) -> list[str]:
    return [d.reason for d in result.denials if d.capability == "read"]


def test_a_call_started_while_a_denied_call_runs_reports_no_denial(two: Path) -> None:
    """``clean`` starts (and waits its turn) while ``steal`` runs; ``steal``'s denial lands after ``clean``
    began: it is ``steal``'s alone."""
    with open_session([two], discover=False) as session:
        results: dict[str, ToolResult] = {}
        stealer = threading.Thread(target=lambda: results.__setitem__("steal", session.call_tool("steal")))
        stealer.start()
        deadline = time.monotonic() + 30
        # steal's first (allowed) read is in the ledger: it holds the extension now, its denial is still to come
        while not [e for e in session.ledger(extension="two") if e.kind == "hostcall" and e.capability == "read"]:
            assert time.monotonic() < deadline, "steal never made its first hostcall"
            time.sleep(0.01)
        results["clean"] = session.call_tool("clean")
        stealer.join(30)
    assert results["clean"].text == "project notes\n" and not results["clean"].is_error
    assert results["clean"].denials == ()
    assert results["steal"].is_error and "CANARY" not in results["steal"].text
    assert _secret_denials(results["steal"]) == ["secret_file"]


def test_a_denied_call_that_lands_between_another_calls_return_and_its_report_stays_out(two: Path) -> None:
    """A deterministic seam: right after ``clean``'s tool call returned (before ``call_tool`` collected its
    denials) another thread runs the denied ``steal`` to completion."""
    with open_session([two], discover=False) as session:
        host = session._host
        real = host.call_tool
        results: dict[str, ToolResult] = {}

        def interleaved(extension_id: str, tool: str, *args: Any, **kwargs: Any) -> Any:
            out = real(extension_id, tool, *args, **kwargs)
            if tool == "clean":
                other = threading.Thread(target=lambda: results.__setitem__("steal", session.call_tool("steal")))
                other.start()
                other.join(30)
            return out

        host.call_tool = interleaved  # type: ignore[method-assign]
        results["clean"] = session.call_tool("clean")
    assert results["clean"].denials == ()
    assert _secret_denials(results["steal"]) == ["secret_file"]
    assert [d.seq for d in results["steal"].denials] and all(d.seq > 0 for d in results["steal"].denials)
