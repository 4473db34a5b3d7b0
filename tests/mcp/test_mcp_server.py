# ruff: noqa: E501  (embedded JavaScript extension source)
"""``pi-sandbox mcp`` driven by the official MCP SDK's own client, over stdio and streamable HTTP, on a real
server process: tools with schemas, allowed and denied calls, prompts by elicitation (both protocol eras),
the headless default deny, and the ledger behind it all."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import mcp.types as types
import pytest
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client
from mcp.shared.exceptions import MCPError

from mcp import Client, StdioServerParameters
from pi_sandbox.audit import AuditStore
from pi_sandbox.audit.verify import verify_ledger
from tests.runtime.conftest import write_file

TOOLS = """
import { Type } from "@sinclair/typebox";
import * as fs from "node:fs";
export default function (pi: any) {
  pi.registerTool({ name: "echo", label: "Echo", description: "Echo the text back",
    parameters: Type.Object({ text: Type.String({ description: "what to echo" }) }),
    execute: async (_id: string, p: any) => ({ content: [{ type: "text", text: p.text }] }) });
  pi.registerTool({ name: "probe", description: "Read PROBE_VALUE",
    execute: async () => { const v = process.env.PROBE_VALUE; return { content: [{ type: "text", text: String(v) }], isError: v === undefined }; } });
  pi.registerTool({ name: "steal", description: "Read a file", parameters: Type.Object({ path: Type.String() }),
    execute: async (_id: string, p: any) => { try { return { content: [{ type: "text", text: fs.readFileSync(p.path, "utf8") }] }; }
      catch (e: any) { return { content: [{ type: "text", text: "could not read the key" }], isError: true }; } } });
  pi.registerTool({ name: "ask", description: "Ask the user twice",
    execute: async (_id: string, _p: any, _s: any, _u: any, ctx: any) => {
      const ok = await ctx.ui.confirm("Proceed?", "the ask tool wants to go on");
      const pick = await ctx.ui.select("Colour", ["red", "blue"]);
      return { content: [{ type: "text", text: `${ok} ${pick}` }] }; } });
  pi.registerTool({ name: "later", description: "Write timer.txt in 300 ms",
    execute: async (_id: string, _p: any, _s: any, _u: any, ctx: any) => {
      setTimeout(() => fs.writeFileSync(ctx.cwd + "/timer.txt", "ran while idle"), 300);
      return { content: [{ type: "text", text: "scheduled" }] }; } });
}
"""

Elicit = Callable[[Any, types.ElicitRequestParams], Any]


@pytest.fixture()
def server_env(pi_env: Any) -> dict[str, str]:
    """The `tools` extension in pi-sandbox's folder; env allowed for it (in probation: every env read is a prompt)."""
    pi_env.global_settings.write_text(json.dumps(
        {"extensionPolicy": {"profile": "balanced", "allowDangerous": True, "perExtension": {"tools": {"allow": ["env"]}}}}))
    write_file(pi_env.agent_dir / "sandboxed-extensions" / "tools.ts", TOOLS)
    (pi_env.home / ".ssh").mkdir()
    (pi_env.home / ".ssh" / "id_rsa").write_text("CANARY-PRIVATE-KEY\n")
    return {**os.environ, "PROBE_VALUE": "plain-value", "PYTHONDONTWRITEBYTECODE": "1"}


def _params(env: dict[str, str], cwd: Path, *args: str) -> StdioServerParameters:
    return StdioServerParameters(command=sys.executable, args=["-m", "pi_sandbox", "mcp", "--sandboxed-only", *args],
                                 env=env, cwd=str(cwd))


def _answers(*choices: str | None) -> tuple[Elicit, list[types.ElicitRequestParams]]:
    """An elicitation callback giving ``choices`` in turn (None: the person declines the form)."""
    asked: list[types.ElicitRequestParams] = []
    queue = list(choices)

    async def elicit(_context: Any, params: types.ElicitRequestParams) -> types.ElicitResult:
        asked.append(params)
        choice = queue.pop(0)
        if choice is None:
            return types.ElicitResult(action="decline")
        return types.ElicitResult(action="accept", content={"answer": choice})

    return elicit, asked


def _text(result: types.CallToolResult) -> str:
    return "\n".join(c.text for c in result.content if isinstance(c, types.TextContent))


def _reasons(state_dir: Path) -> list[str]:
    with AuditStore.open_read_only(state_dir) as store:
        return [e.reason for e in store.query_ledger(extension_id="tools") if e.kind == "hostcall"]


def _sealed(state_dir: Path) -> None:
    report = verify_ledger(state_dir)
    assert report.chain_valid and report.unsealed_entries == 0, report.to_dict()


def test_list_call_allowed_denied_and_a_prompt_answered_by_elicitation(pi_env: Any, server_env: dict[str, str]) -> None:
    elicit, asked = _answers("once")
    key = pi_env.home / ".ssh" / "id_rsa"

    async def session() -> None:
        async with Client(_params(server_env, pi_env.workspace), elicitation_callback=elicit) as client:
            assert client.session.protocol_version == "2026-07-28"  # the SDK's default: no back-channel
            tools = {t.name: t for t in (await client.list_tools()).tools}
            assert set(tools) == {"echo", "probe", "steal", "ask", "later"}
            echo = tools["echo"]
            assert echo.description == "Echo the text back" and echo.title == "Echo"
            assert echo.input_schema["properties"]["text"] == {"type": "string", "description": "what to echo"}
            assert echo.input_schema["required"] == ["text"]
            assert (echo.meta or {})["pi-sandbox/extension"] == "tools"

            allowed = await client.call_tool("echo", {"text": "hello"})
            assert (_text(allowed), allowed.is_error) == ("hello", False)

            denied = await client.call_tool("steal", {"path": str(key)})
            text = _text(denied)
            assert denied.is_error and "CANARY" not in text
            (denial,) = (denied.meta or {})["pi-sandbox/denials"]
            assert (denial["capability"], denial["reason"]) == ("read", "path_outside_roots") and denial["seq"] > 0
            # the tool said only "could not read": the error the client gets names the refusal and the remediation
            assert "pi-sandbox denied read.fs (path_outside_roots)" in text and denial["remediation"] in text
            assert "move the file into the workspace" in text

            bad = await client.call_tool("echo", {})
            assert bad.is_error and "invalid arguments" in _text(bad)
            with pytest.raises(MCPError, match="Unknown tool"):
                await client.call_tool("nope", {})

            prompted = await client.call_tool("probe", {})
            assert (_text(prompted), prompted.is_error) == ("plain-value", False)

            # an extension timer runs while the client is idle (its write goes through the pipeline too)
            assert _text(await client.call_tool("later", {})) == "scheduled"
            with anyio.fail_after(30):
                while not (pi_env.workspace / "timer.txt").exists():
                    await anyio.sleep(0.05)
            assert (pi_env.workspace / "timer.txt").read_text() == "ran while idle"

    anyio.run(session)
    (question,) = asked
    assert "extension 'tools' wants 'env'" in question.message and "probation" in question.message
    schema = question.requested_schema["properties"]["answer"]
    assert [o["const"] for o in schema["oneOf"]] == ["once", "session", "always", "deny"]
    # the server has exited: the ledger holds the refusal and the answered prompt, and is sealed
    reasons = _reasons(pi_env.state_dir)
    assert "path_outside_roots" in reasons and "prompt_user_allow" in reasons
    _sealed(pi_env.state_dir)


def test_handshake_era_client_is_asked_during_the_call(pi_env: Any, server_env: dict[str, str]) -> None:
    elicit, asked = _answers(None, "maybe", "session")

    async def session() -> list[tuple[str, bool]]:
        async with Client(_params(server_env, pi_env.workspace), mode="legacy", elicitation_callback=elicit) as client:
            assert client.session.protocol_version < "2026"
            results = [await client.call_tool("probe", {}) for _ in range(4)]
            assert "pi-sandbox denied env.env (prompt_user_deny)" in _text(results[0])
            return [(_text(r).splitlines()[0], r.is_error) for r in results]

    assert anyio.run(session) == [("undefined", True), ("undefined", True), ("plain-value", False),
                                  ("plain-value", False)]
    assert len(asked) == 3  # declined, a choice that is not one of the four, session; the 4th call is remembered
    assert [r for r in _reasons(pi_env.state_dir) if r.startswith("prompt")] == [
        "prompt_user_deny", "prompt_no_answer_deny", "prompt_user_allow", "prompt_cache_allow"]


def test_extension_dialogs_are_asked_by_elicitation(pi_env: Any, server_env: dict[str, str]) -> None:
    asked: list[types.ElicitRequestParams] = []
    declining = False

    async def elicit(_context: Any, params: types.ElicitRequestParams) -> types.ElicitResult:
        asked.append(params)
        field = params.requested_schema["properties"]["value"]
        if declining:
            return types.ElicitResult(action="decline")
        return types.ElicitResult(action="accept", content={"value": True if field["type"] == "boolean" else field["enum"][-1]})

    async def session() -> list[str]:
        nonlocal declining
        texts = []
        async with Client(_params(server_env, pi_env.workspace), elicitation_callback=elicit) as client:
            texts.append(_text(await client.call_tool("ask", {})))
            declining = True
            texts.append(_text(await client.call_tool("ask", {})))
        async with Client(_params(server_env, pi_env.workspace)) as client:  # no elicitation: headless answers
            texts.append(_text(await client.call_tool("ask", {})))
        return texts

    assert anyio.run(session) == ["true blue", "false undefined", "false undefined"]
    assert len(asked) == 4
    assert "extension 'tools' asks: Proceed? — the ask tool wants to go on" == asked[0].message
    assert asked[1].requested_schema["properties"]["value"]["enum"] == ["red", "blue"]


def test_no_elicitation_means_deny_and_prompts_deny_never_asks(pi_env: Any, server_env: dict[str, str]) -> None:
    elicit, asked = _answers("always")

    async def session() -> None:
        async with Client(_params(server_env, pi_env.workspace)) as client:  # no elicitation capability
            result = await client.call_tool("probe", {})
            assert result.is_error and "(prompt_headless_deny)" in _text(result)
        async with Client(_params(server_env, pi_env.workspace, "--prompts", "deny"), elicitation_callback=elicit) as client:
            assert (await client.call_tool("probe", {})).is_error

    anyio.run(session)
    assert asked == []
    assert [r for r in _reasons(pi_env.state_dir) if r.startswith("prompt")] == ["prompt_headless_deny"] * 2
    _sealed(pi_env.state_dir)


def test_streamable_http_on_loopback_with_a_bearer_token(pi_env: Any, server_env: dict[str, str]) -> None:
    proc = subprocess.Popen([sys.executable, "-m", "pi_sandbox", "mcp", "--sandboxed-only", "--http", "0"],
                            env=server_env, cwd=pi_env.workspace, stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stderr is not None
        line = proc.stderr.readline()
        match = re.search(r"(http://127\.0\.0\.1:\d+/mcp) \(Authorization: Bearer (\S+)\)", line)
        assert match and "5 tool(s) of 1 extension(s) on HTTP" in line, line
        url, token = match.groups()

        def client(bearer: str | None) -> Client:
            headers = {"Authorization": f"Bearer {bearer}"} if bearer is not None else None
            return Client(streamable_http_client(url, http_client=create_mcp_http_client(headers=headers)))

        async def session() -> None:
            async with client(token) as c:
                assert {t.name for t in (await c.list_tools()).tools} == {"echo", "probe", "steal", "ask", "later"}
                assert _text(await c.call_tool("echo", {"text": "over http"})) == "over http"
                assert (await c.call_tool("steal", {"path": str(pi_env.home / ".ssh" / "id_rsa")})).is_error
            for bearer in (None, token[:-1] + ("x" if token[-1] != "x" else "y")):  # no token, a wrong one
                async with create_mcp_http_client(
                        headers={"Authorization": f"Bearer {bearer}"} if bearer else None) as http:
                    refused = await http.post(url, json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"})
                    assert refused.status_code == 401 and "Bearer" in refused.text

        anyio.run(session)
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=60)
    assert code == 0
    assert "path_outside_roots" in _reasons(pi_env.state_dir)
    _sealed(pi_env.state_dir)


def test_http_token_from_the_environment_must_be_long(pi_env: Any, server_env: dict[str, str]) -> None:
    run = subprocess.run([sys.executable, "-m", "pi_sandbox", "mcp", "--http", "0"],
                         env={**server_env, "PI_SANDBOX_MCP_TOKEN": "short"}, cwd=pi_env.workspace,
                         capture_output=True, text=True, timeout=60, check=False)
    assert run.returncode == 3 and "PI_SANDBOX_MCP_TOKEN must be at least 16" in run.stderr


def test_taken_port_is_an_environment_error(pi_env: Any, server_env: dict[str, str]) -> None:
    import socket

    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        run = subprocess.run([sys.executable, "-m", "pi_sandbox", "mcp", "--http", str(port)], env=server_env,
                             cwd=pi_env.workspace, capture_output=True, text=True, timeout=60, check=False)
    assert run.returncode == 3 and f"cannot listen on 127.0.0.1:{port}" in run.stderr


def test_workspace_is_never_root_or_home(pi_env: Any, server_env: dict[str, str]) -> None:
    for cwd, extra in ((pi_env.home, ()), (pi_env.workspace, ("--workspace", "/"))):
        run = subprocess.run([sys.executable, "-m", "pi_sandbox", "mcp", *extra], env=server_env, cwd=cwd,
                             capture_output=True, text=True, timeout=60, check=False)
        assert run.returncode == 2 and "opens every file" in run.stderr and "--workspace DIR" in run.stderr, run.stderr

    async def session() -> None:  # --workspace from anywhere; -e relative to where the command runs
        write_file(pi_env.home / "mine.ts", TOOLS)
        params = StdioServerParameters(command=sys.executable, cwd=str(pi_env.home), env=server_env, args=[
            "-m", "pi_sandbox", "mcp", "--no-extensions", "--workspace", str(pi_env.workspace)])
        async with Client(params) as client:
            assert (await client.list_tools()).tools == []
        params = StdioServerParameters(command=sys.executable, cwd=str(pi_env.home), env=server_env, args=[
            "-m", "pi_sandbox", "mcp", "-e", "mine.ts", "--sandboxed-only", "--workspace", str(pi_env.workspace)])
        async with Client(params) as client:  # two extensions register the same names: <extension>.<tool>
            names = {t.name for t in (await client.list_tools()).tools}
            assert names == {f"{e}.{n}" for e in ("tools", "mine") for n in ("echo", "probe", "steal", "ask", "later")}
            assert _text(await client.call_tool("mine.later", {})) == "scheduled"
            with anyio.fail_after(30):
                while not (pi_env.workspace / "timer.txt").exists():  # ctx.cwd is the workspace
                    await anyio.sleep(0.05)

    anyio.run(session)


def test_sigterm_on_stdio_closes_the_session_and_seals(pi_env: Any, server_env: dict[str, str]) -> None:
    """A client that stops the server with SIGTERM while it keeps stdin open still gets a sealed ledger."""
    proc = subprocess.Popen([sys.executable, "-m", "pi_sandbox", "mcp", "--sandboxed-only"], env=server_env,
                            cwd=pi_env.workspace, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stderr is not None and "on stdio" in proc.stderr.readline()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
    finally:
        proc.kill()
        proc.communicate()
    _sealed(pi_env.state_dir)
