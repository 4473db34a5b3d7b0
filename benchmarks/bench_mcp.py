"""Front door and MCP server round trips (``python benchmarks/bench_mcp.py [--calls N]``).

All in one run, on one extension whose ``echo`` tool makes no hostcall and whose ``stat`` tool makes one
``fs`` hostcall (policy + durable ledger entry):

1. ``Session.call_tool`` in process (the floor every host pays);
2. the same calls from the official MCP SDK client to ``pi-sandbox mcp`` over stdio, 2026-07-28 protocol
   (the SDK's default) and the handshake era, and over streamable HTTP on 127.0.0.1;
3. a call that raises a permission prompt answered by elicitation (2026-07-28: ``input_required``, then the
   client's retry with the answer; handshake era: a request during the call);
4. server start: process spawn until ``tools/list`` answers.

Medians of ``--calls`` calls each; ratios against (1). Runs in a throw-away HOME; touches nothing else.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio
import mcp.types as types
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client

from mcp import Client, StdioServerParameters

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _util import print_table  # noqa: E402

EXTENSION = """
import { Type } from "@sinclair/typebox";
import * as fs from "node:fs";
export default function (pi: any) {
  pi.registerTool({ name: "echo", parameters: Type.Object({ text: Type.String() }),
    execute: async (_id: string, p: any) => ({ content: [{ type: "text", text: p.text }] }) });
  pi.registerTool({ name: "stat", execute: async (_id: string, _p: any, _s: any, _u: any, ctx: any) =>
    ({ content: [{ type: "text", text: String(fs.statSync(ctx.cwd).isDirectory()) }] }) });
  pi.registerTool({ name: "probe",
    execute: async () => ({ content: [{ type: "text", text: String(process.env.PROBE) }] }) });
}
"""


def _ms(samples: list[float]) -> str:
    return f"{statistics.median(samples) * 1000:.2f} ms"


async def _answer_once(_ctx: Any, _params: types.ElicitRequestParams) -> types.ElicitResult:
    return types.ElicitResult(action="accept", content={"answer": "once"})


async def _time_calls(client: Client, tool: str, args: dict[str, Any], n: int) -> list[float]:
    samples = []
    for _ in range(n):
        start = time.perf_counter()
        result = await client.call_tool(tool, args)
        samples.append(time.perf_counter() - start)
        assert not result.is_error, result
    return samples


async def _measure(client_factory: Callable[[], Client], n: int,
                   extra: Callable[[Client], Awaitable[None]] | None = None) -> dict[str, list[float]]:
    async with client_factory() as client:
        await client.list_tools()
        out = {"echo": await _time_calls(client, "echo", {"text": "x"}, n),
               "stat": await _time_calls(client, "stat", {}, n)}
        if extra is not None:
            out["probe"] = await _time_calls(client, "probe", {}, max(5, n // 5))
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=200, help="calls per measurement (median reported)")
    args = parser.parse_args()
    n = args.calls
    root = Path(tempfile.mkdtemp(prefix="bench-mcp-"))
    home, workspace = root / "home", root / "workspace"
    agent = home / ".pi" / "agent"
    (agent / "sandboxed-extensions").mkdir(parents=True)
    workspace.mkdir()
    (agent / "sandboxed-extensions" / "bench.ts").write_text(EXTENSION)
    # balanced + probation: every env read is a prompt (the elicitation measurement)
    (agent / "settings.json").write_text(json.dumps({"extensionPolicy": {
        "profile": "balanced", "allowDangerous": True, "perExtension": {"bench": {"allow": ["env"]}}}}))
    env = {**os.environ, "HOME": str(home), "PI_CODING_AGENT_DIR": str(agent), "PROBE": "v",
           "PI_SANDBOX_CACHE_DIR": os.environ.get("PI_SANDBOX_CACHE_DIR", str(Path.home() / ".cache" / "pi-sandbox"))}
    os.environ.update(env)
    os.chdir(workspace)

    from pi_sandbox import open_session

    with open_session(sandboxed_only=True) as session:
        direct: dict[str, list[float]] = {}
        for tool, targs in (("echo", {"text": "x"}), ("stat", {})):
            samples = []
            for _ in range(n):
                start = time.perf_counter()
                session.call_tool(tool, targs)
                samples.append(time.perf_counter() - start)
            direct[tool] = samples

    server = ["-m", "pi_sandbox", "mcp", "--sandboxed-only"]
    params = StdioServerParameters(command=sys.executable, args=server, env=env, cwd=str(workspace))
    starts = []
    for _ in range(3):
        start = time.perf_counter()

        async def ready() -> None:
            async with Client(params) as client:
                await client.list_tools()

        anyio.run(ready)
        starts.append(time.perf_counter() - start)  # includes the client's shutdown of the server

    modern = anyio.run(_measure, lambda: Client(params, elicitation_callback=_answer_once), n, lambda c: None)
    legacy = anyio.run(_measure, lambda: Client(params, mode="legacy", elicitation_callback=_answer_once), n,
                       lambda c: None)
    proc = subprocess.Popen([sys.executable, *server, "--http", "0"], env=env, cwd=workspace,
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stderr is not None
        found = re.search(r"(http://\S+/mcp) \(Authorization: Bearer (\S+)\)", proc.stderr.readline())
        assert found, "no URL"
        url, token = found.groups()
        http = anyio.run(_measure, lambda: Client(streamable_http_client(
            url, http_client=create_mcp_http_client(headers={"Authorization": f"Bearer {token}"}))), n)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)

    base = {k: statistics.median(v) for k, v in direct.items()}

    def ratio(samples: list[float], key: str) -> str:
        return f"{statistics.median(samples) / base[key]:.1f}x in-process"

    rows = [
        ("Session.call_tool echo (no hostcall), in process", _ms(direct["echo"]), ""),
        ("Session.call_tool stat (1 fs hostcall), in process", _ms(direct["stat"]), ""),
        ("MCP stdio 2026-07-28 echo", _ms(modern["echo"]), ratio(modern["echo"], "echo")),
        ("MCP stdio 2026-07-28 stat", _ms(modern["stat"]), ratio(modern["stat"], "stat")),
        ("MCP stdio handshake era echo", _ms(legacy["echo"]), ratio(legacy["echo"], "echo")),
        ("MCP stdio handshake era stat", _ms(legacy["stat"]), ratio(legacy["stat"], "stat")),
        ("MCP streamable HTTP echo", _ms(http["echo"]), ratio(http["echo"], "echo")),
        ("MCP streamable HTTP stat", _ms(http["stat"]), ratio(http["stat"], "stat")),
        ("prompt by elicitation, 2026-07-28 (input_required + retry)", _ms(modern["probe"]), ""),
        ("prompt by elicitation, handshake era (request during the call)", _ms(legacy["probe"]), ""),
        ("server start: spawn -> tools/list -> exit (median of 3)", f"{statistics.median(starts) * 1000:.0f} ms", ""),
    ]
    print_table(f"front door and MCP ({n} calls each, median)", rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
