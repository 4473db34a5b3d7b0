"""Extension runtime benchmarks (``python benchmarks/bench_runtime.py``).

1. Cold load of one extension (bundle + worker start + registration), without and with a cached
   bundle: p50.
2. Hostcall round trip JS → supervisor → JS for an ``fs`` stat through the full pipeline (policy,
   durable hash-chained ledger, connector), timed inside JS: p50 / p99.
3. RSS per loaded extension and start-up time for 20 extensions.
4. Security overhead on a realistic workload (tool calls doing file reads/writes, events, bus
   emits): full pipeline vs. the same runtime with a pass-through pipeline that calls the
   connectors directly (no policy, no ledger).

Everything runs in a throw-away directory; nothing touches the real home directory.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _baseline import ConstantSandbox, PassThroughSandbox  # noqa: E402
from _util import percentile, print_table  # noqa: E402

from pi_sandbox.config import resolve_config  # noqa: E402
from pi_sandbox.dispatch import Sandbox  # noqa: E402
from pi_sandbox.runtime.discovery import ExtensionSource  # noqa: E402
from pi_sandbox.runtime.host import ExtensionHost  # noqa: E402

EXTENSION = """
import { Type } from "@sinclair/typebox";
import * as fs from "node:fs";
import * as path from "node:path";
export default function (pi: any) {
  pi.registerTool({
    name: "stat_loop", parameters: Type.Object({ n: Type.Integer() }),
    async execute(_id: string, p: any, _s: any, _u: any, ctx: any) {
      const target = path.join(ctx.cwd, "data-0.txt");
      const times: number[] = [];
      for (let i = 0; i < p.n; i++) {
        const t0 = performance.now();
        fs.statSync(target);
        times.push(performance.now() - t0);
      }
      return { content: [{ type: "text", text: JSON.stringify(times) }] };
    },
  });
  pi.registerTool({
    name: "log_loop", parameters: Type.Object({ n: Type.Integer() }),
    async execute(_id: string, p: any, _s: any, _u: any, ctx: any) {
      const times: number[] = [];
      for (let i = 0; i < p.n; i++) {
        const t0 = performance.now();
        console.log("bench line", i);
        times.push(performance.now() - t0);
      }
      fs.statSync(path.join(ctx.cwd, "data-0.txt"));  // runs after every line above: the next batch starts clean
      return { content: [{ type: "text", text: JSON.stringify(times) }] };
    },
  });
  pi.registerTool({
    name: "work", parameters: Type.Object({ i: Type.Integer() }),
    async execute(_id: string, p: any, _s: any, _u: any, ctx: any) {
      let total = 0;
      for (let k = 0; k < 3; k++) {
        total += fs.readFileSync(path.join(ctx.cwd, `data-${(p.i + k) % 8}.txt`), "utf8").length;
      }
      fs.writeFileSync(path.join(ctx.cwd, `out-${p.i % 4}.txt`), String(total));
      let checksum = 0;
      for (let j = 0; j < 20000; j++) checksum = (checksum * 31 + j) % 1000003;
      pi.events.emit("bench:progress", { i: p.i });
      return { content: [{ type: "text", text: String(total + checksum) }] };
    },
  });
  pi.registerTool({
    name: "fetch_all", parameters: Type.Object({ url: Type.String(), n: Type.Integer() }),
    async execute(_id: string, p: any) {
      const bodies = await Promise.all(Array.from({ length: p.n }, () => fetch(p.url).then((r: any) => r.text())));
      return { content: [{ type: "text", text: String(bodies.length) }] };
    },
  });
  pi.on("tool_call", async (e: any) =>
    String(e.input?.command ?? "").includes("rm -rf /") ? { block: true, reason: "no" } : undefined);
  pi.on("tool_result", async (e: any) => ({ details: { seen: true } }));
}
"""


def environment(base: Path) -> tuple[Any, Path]:
    agent, workspace = base / "agent", base / "workspace"
    agent.mkdir(parents=True)
    workspace.mkdir(parents=True)
    for i in range(8):
        (workspace / f"data-{i}.txt").write_text("x" * (1000 + i * 100), encoding="utf-8")
    # The default quota (500 hostcalls/s, burst 1000) would refuse the tight timing loops; the stage still runs.
    (agent / "settings.json").write_text(json.dumps({"extensionPolicy": {"quota": {
        "maxHostcallsPerSecond": 1_000_000, "hostcallBurst": 1_000_000}}}), encoding="utf-8")
    env = {"HOME": str(base), "PI_CODING_AGENT_DIR": str(agent), "PI_SECURITY_DIR": str(agent / "security")}
    return resolve_config(cwd=workspace, env=env), workspace


def write_extensions(base: Path, count: int) -> list[ExtensionSource]:
    sources = []
    for i in range(count):
        root = base / "exts" / f"ext{i}"
        root.mkdir(parents=True, exist_ok=True)
        (root / "index.ts").write_text(EXTENSION.replace("bench:progress", f"bench:progress{i}"), encoding="utf-8")
        sources.append(ExtensionSource(f"ext{i}", root / "index.ts", root, "cli"))
    return sources


def bench_cold_load(config: Any, source: ExtensionSource, rounds: int = 12) -> tuple[float, float]:
    uncached, cached = [], []
    for i in range(rounds):
        sandbox = Sandbox.open(config)
        shutil.rmtree(config.state_dir / "bundle-cache", ignore_errors=True) if i % 2 == 0 else None
        host = ExtensionHost(sandbox)
        started = time.perf_counter()
        [ext] = host.load([source])
        elapsed = time.perf_counter() - started
        assert ext.status == "loaded", ext.error
        (cached if ext.bundle_cached else uncached).append(elapsed)
        host.shutdown(notify=False)
        sandbox.close()
    return statistics.median(uncached), statistics.median(cached)


def bench_round_trip(config: Any, source: ExtensionSource, cls: type[Sandbox] = Sandbox,
                     tool: str = "stat_loop", n: int = 200) -> list[float]:
    """Seconds per call as JS sees it: ``fs.statSync`` (``stat_loop``) or ``console.log`` (``log_loop``)."""
    sandbox = cls.open(config)
    host = ExtensionHost(sandbox)
    host.load([source])
    host.call_tool(source.extension_id, tool, {"n": n})  # warm up
    samples: list[float] = []
    for _ in range(10):
        text = host.call_tool(source.extension_id, tool, {"n": n})["content"][0]["text"]
        samples += json.loads(text)
    host.shutdown(notify=False)
    sandbox.close()
    return samples


def bench_many(config: Any, sources: list[ExtensionSource]) -> tuple[float, list[int]]:
    sandbox = Sandbox.open(config)
    host = ExtensionHost(sandbox)
    host.load(sources)  # warm the bundle cache
    host.shutdown(notify=False)
    host = ExtensionHost(sandbox)
    started = time.perf_counter()
    loaded = host.load(sources)
    elapsed = time.perf_counter() - started
    assert all(e.status == "loaded" for e in loaded)
    rss = list(host.worker_rss().values())
    host.shutdown(notify=False)
    sandbox.close()
    return elapsed, rss


class _SlowHandler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - http.server naming
        time.sleep(0.2)
        self.send_response(200)
        self.send_header("content-length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *_args: Any) -> None:
        pass


def bench_parallel_fetch(base: Path, source: ExtensionSource, rounds: int = 5) -> float:
    """4 fetches of a 200 ms local endpoint with Promise.all: served concurrently by the host."""
    agent = base / "agent-http"
    agent.mkdir()
    (agent / "settings.json").write_text(
        json.dumps({"extensionPolicy": {"http": {"allowLoopback": True}}}), encoding="utf-8"
    )
    env = {"HOME": str(base), "PI_CODING_AGENT_DIR": str(agent), "PI_SECURITY_DIR": str(agent / "security")}
    config = resolve_config(cwd=base / "workspace", env=env)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _SlowHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    sandbox = Sandbox.open(config)
    host = ExtensionHost(sandbox)
    try:
        host.load([source])
        url = f"http://127.0.0.1:{server.server_address[1]}/slow"
        samples = []
        for _ in range(rounds):
            started = time.perf_counter()
            host.call_tool(source.extension_id, "fetch_all", {"url": url, "n": 4})
            samples.append(time.perf_counter() - started)
        return statistics.median(samples)
    finally:
        host.shutdown(notify=False)
        sandbox.close()
        server.shutdown()
        server.server_close()


def workload(host: ExtensionHost, extension_id: str, iterations: int) -> float:
    started = time.perf_counter()
    for i in range(iterations):
        host.call_tool(extension_id, "work", {"i": i})
        host.emit("tool_call", {"toolName": "bash", "input": {"command": "ls"}})
        host.emit("tool_result", {"toolName": "bash", "content": []})
    return time.perf_counter() - started


def bench_overhead(config: Any, source: ExtensionSource, rounds: int = 7, iterations: int = 60) -> tuple[float, float]:
    hosts = {}
    for name, cls in (("full", Sandbox), ("pass", PassThroughSandbox)):
        sandbox = cls.open(config)
        host = ExtensionHost(sandbox)
        host.load([source])
        workload(host, source.extension_id, 10)  # warm up
        hosts[name] = host
    times: dict[str, list[float]] = {"full": [], "pass": []}
    for _ in range(rounds):  # interleaved, so machine noise hits both alike
        for name in ("full", "pass"):
            times[name].append(workload(hosts[name], source.extension_id, iterations))
    for host in hosts.values():
        host.shutdown(notify=False)
        host.sandbox.close()
    return statistics.median(times["full"]), statistics.median(times["pass"])


def main() -> int:
    base = Path(tempfile.mkdtemp(prefix="pi-bench-runtime-"))
    try:
        config, _workspace = environment(base)
        sources = write_extensions(base, 20)
        uncached, cached = bench_cold_load(config, sources[0])
        rtt = bench_round_trip(config, sources[0])
        rtt_pass = bench_round_trip(config, sources[0], PassThroughSandbox)
        rtt_ipc = bench_round_trip(config, sources[0], ConstantSandbox)
        startup, rss = bench_many(config, sources)
        parallel_fetch = bench_parallel_fetch(base, sources[0])
        full, passthrough = bench_overhead(config, sources[0])
    finally:
        shutil.rmtree(base, ignore_errors=True)
    overhead = (full - passthrough) / passthrough * 100
    print_table(
        "extension runtime",
        [
            ("cold load, no cached bundle (p50)", f"{uncached * 1000:.1f} ms", ""),
            ("cold load, cached bundle (p50)", f"{cached * 1000:.1f} ms", ""),
            ("fs stat round trip JS→supervisor→JS p50", f"{percentile(rtt, 50) * 1000:.0f} µs", ""),
            ("fs stat round trip JS→supervisor→JS p99", f"{percentile(rtt, 99) * 1000:.0f} µs", "≤ 1000 µs"),
            ("  pass-through pipeline (IPC + fs connector) p50", f"{percentile(rtt_pass, 50) * 1000:.0f} µs", ""),
            ("  pass-through pipeline (IPC + fs connector) p99", f"{percentile(rtt_pass, 99) * 1000:.0f} µs", ""),
            ("  IPC only (constant answer) p50", f"{percentile(rtt_ipc, 50) * 1000:.0f} µs", ""),
            ("  IPC only (constant answer) p99", f"{percentile(rtt_ipc, 99) * 1000:.0f} µs", ""),
            ("RSS per extension (median of 20)", f"{statistics.median(rss) / 2**20:.1f} MB", "≤ 40 MB"),
            ("RSS per extension (max of 20)", f"{max(rss) / 2**20:.1f} MB", "≤ 40 MB"),
            ("start-up, 20 extensions (cached bundles)", f"{startup * 1000:.0f} ms", ""),
            ("4 × 200 ms fetches with Promise.all (p50)", f"{parallel_fetch * 1000:.0f} ms", "≈ 200 ms (concurrent)"),
            ("workload, full pipeline (median)", f"{full * 1000:.0f} ms", ""),
            ("workload, pass-through pipeline (median)", f"{passthrough * 1000:.0f} ms", ""),
            ("security overhead", f"{overhead:.1f} %", "≤ 3 %"),
        ],
    )
    return 0


if __name__ == "__main__":
    os.environ.pop("PI_EXTENSION_POLICY", None)
    sys.exit(main())
