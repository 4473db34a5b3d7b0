"""Host bounds benchmarks (issue 9): ``python benchmarks/bench_host_bounds.py``.

1. **Added cost of the deadline machinery per hostcall** (p50 / p99, target ≤ 20 µs). A hostcall is no
   longer carried out on the supervisor's request loop: the loop makes a ``Job`` with its deadline, hands it
   to the extension's ``HostcallLane`` thread, waits for the hand-back and checks the deadline. Measured
   in-process on the real classes: a trivial handler called directly (what the loop did before) vs the
   same handler through the lane, each call timed, in alternating batches; the added cost at p50 / p99 is
   the difference of the two distributions' percentiles. For context: a real worker's sync hostcall
   round trip (JS → host → JS, trivial handler).
2. **grep throughput, RE2 vs the previous engine** (Python ``re``, line by line) on a 50 MB tree of
   generated source files, through the same walk and path checks (``connectors/search.py`` vs the
   previous ``_search`` loop, reproduced below): MB/s median of 3 runs each, and the ratio.
3. **Catastrophic pattern** ``(a+)+$`` on one line of ``a``×N + ``b``: Python ``re`` doubles per extra
   character, RE2 stays linear.

Everything runs in a throw-away directory.
"""

from __future__ import annotations

import json
import os
import queue
import random
import re
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _util import percentile, print_table  # noqa: E402

from pi_sandbox.audit import AuditStore  # noqa: E402
from pi_sandbox.audit.port import StoreEvidence  # noqa: E402
from pi_sandbox.capabilities import Capability  # noqa: E402
from pi_sandbox.config import resolve_config  # noqa: E402
from pi_sandbox.connectors.base import ConnectorContext  # noqa: E402
from pi_sandbox.connectors.fs import confine, open_regular  # noqa: E402
from pi_sandbox.connectors.search import compile_pattern, search  # noqa: E402
from pi_sandbox.errors import ConnectorError  # noqa: E402
from pi_sandbox.mediation.paths import PathRules  # noqa: E402
from pi_sandbox.runtime.hostcalls import HostcallLane, Job, PlainService  # noqa: E402

TREE_MB = 50
BATCH = 500
BATCHES = 40


# --- 1. deadline machinery --------------------------------------------------------------------------


def _handler(_method: Any, _params: Any) -> dict[str, Any]:
    return {"ok": True, "result": {"size": 3}}


def machinery_cost() -> tuple[list[float], list[float]]:
    """Per-call seconds (direct, through the lane), ``BATCHES`` alternating batches of ``BATCH`` calls each."""
    service = PlainService(_handler)
    done: queue.SimpleQueue[Job] = queue.SimpleQueue()
    lane = HostcallLane("bench", service, 4, done.put)
    pending: dict[int, Job] = {}
    params = {"op": "stat", "path": "x"}
    clock = time.perf_counter
    direct: list[float] = []
    through: list[float] = []
    hid = 0
    try:
        for _ in range(BATCHES):
            for _ in range(BATCH):
                started = clock()
                service.serve("fs", params, service.new_call_id(), 10_000)
                direct.append(clock() - started)
            for _ in range(BATCH):
                started = clock()
                hid += 1
                now = time.monotonic()
                job = Job(hid, "fs", params, service.new_call_id(), True, now, now + service.deadline_s("fs"))
                pending[hid] = job
                lane.submit(job)
                finished = done.get(timeout=10)
                del pending[finished.hid]
                if finished.deadline <= time.monotonic():  # the loop's deadline check
                    raise RuntimeError("deadline passed in a benchmark")
                through.append(clock() - started)
    finally:
        lane.close()
    return direct, through


def worker_round_trip(n: int = 3000) -> list[float]:
    """Per-call seconds of sync hostcalls from JS through a real worker and the lane (trivial handler)."""
    from pi_sandbox.runtime.modules import load_module_table
    from pi_sandbox.runtime.supervisor import ExtensionWorker, WorkerLimits
    from pi_sandbox.runtime.toolchain import default_toolchain

    bundle = r"""
import * as host from "pi:host";
export default function (pi) {
  pi.registerTool({ name: "loop", execute: async (_id, p) => {
    const times = [];
    for (let i = 0; i < p.n; i++) {
      const t0 = performance.now();
      host.callSync("fs", { op: "stat", path: "x" });
      times.push(performance.now() - t0);
    }
    return { content: [{ type: "text", text: JSON.stringify(times) }] };
  } });
}
"""
    table = load_module_table(default_toolchain())
    worker = ExtensionWorker("bench", _handler, WorkerLimits(call_timeout_s=60))
    worker.spawn({"modules": table.sources, "bundle": bundle, "boot": list(table.boot), "info": {"cwd": "/"}})
    worker.wait_ready()
    try:
        assert worker.request("load", {})["ok"]
        reply = worker.request("tool", {"name": "loop", "input": {"n": n}})
        return [t / 1000 for t in json.loads(reply["result"]["content"][0]["text"])][n // 10:]  # after warm-up
    finally:
        worker.close()


# --- 2. grep throughput -------------------------------------------------------------------------------

_WORDS = ("value", "index", "result", "config", "handler", "buffer", "request", "stream", "token", "cache",
          "parse", "render", "update", "client", "server", "module", "record", "window", "option", "filter")


def make_tree(root: Path, megabytes: int) -> int:
    """Generated source-like files totalling ``megabytes`` MB; returns the byte count."""
    rng = random.Random(9)
    total = 0
    target = megabytes * 1024 * 1024
    index = 0
    while total < target:
        folder = root / f"pkg{index // 50}" / f"mod{index % 7}"
        folder.mkdir(parents=True, exist_ok=True)
        lines = []
        for n in range(1600):
            a, b, c = rng.choice(_WORDS), rng.choice(_WORDS), rng.choice(_WORDS)
            lines.append(f"    const {a}_{n} = {b}.{c}({n}, \"{a}-{b}\"); // {c} {a} {b} step {n}\n")
        if index % 40 == 0:
            lines[800] = "    // FIXME(security): unchecked_handler_4711 reads the request body\n"
        data = "".join(lines).encode()
        (folder / f"file{index}.ts").write_bytes(data)
        total += len(data)
        index += 1
    return total


def python_re_search(ctx: ConnectorContext, pattern: str) -> dict[str, Any]:
    """The previous engine: Python ``re``, each file decoded and matched line by line (as on main before)."""
    root = confine(ctx, ".", "list")
    regex = re.compile(pattern)
    matches: list[dict[str, Any]] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in (".git", "node_modules")
                             and ctx.paths.allows(os.path.join(dirpath, d)))
        for filename in sorted(filenames):
            path = os.path.join(dirpath, filename)
            if not ctx.paths.allows(path):
                continue
            rel = os.path.relpath(path, root)
            try:
                with os.fdopen(open_regular(path), encoding="utf-8", errors="strict") as handle:
                    for lineno, line in enumerate(handle, 1):
                        if regex.search(line):
                            matches.append({"path": rel, "line": lineno, "text": line.rstrip()[:500]})
            except (UnicodeDecodeError, OSError, ConnectorError):
                continue
            if len(matches) >= 1000:
                return {"matches": matches, "truncated": True}
    return {"matches": matches, "truncated": False}


def grep_throughput(ctx: ConnectorContext, size: int, pattern: str) -> tuple[float, float, int]:
    """(RE2 MB/s, Python re MB/s, matches) medians of 3 alternating runs; both must find the same lines."""
    re2_times: list[float] = []
    py_times: list[float] = []
    found = 0
    for _ in range(3):
        started = time.perf_counter()
        fast = search(ctx, "grep", {"pattern": pattern, "path": "."})
        re2_times.append(time.perf_counter() - started)
        started = time.perf_counter()
        slow = python_re_search(ctx, pattern)
        py_times.append(time.perf_counter() - started)
        if fast["matches"] != slow["matches"]:
            raise RuntimeError(f"engines disagree on {pattern!r}")
        found = len(fast["matches"])
    megabytes = size / (1024 * 1024)
    return megabytes / statistics.median(re2_times), megabytes / statistics.median(py_times), found


# --- 3. catastrophic pattern ----------------------------------------------------------------------------


def catastrophic(n: int) -> tuple[float, float]:
    """Seconds for ``(a+)+$`` on ``a``×n + ``b``: (Python re, RE2)."""
    line = "a" * n + "b"
    started = time.perf_counter()
    re.search(r"(a+)+$", line)
    python_s = time.perf_counter() - started
    regex = compile_pattern("(a+)+$", tool="grep")
    data = line.encode()
    started = time.perf_counter()
    regex.search(data)
    return python_s, time.perf_counter() - started


def main() -> None:
    direct, through = machinery_cost()
    round_trip = worker_round_trip()
    tmp = Path(tempfile.mkdtemp(prefix="pi-bench-bounds-"))
    try:
        workspace = tmp / "workspace"
        workspace.mkdir()
        size = make_tree(workspace, TREE_MB)
        config = resolve_config(cwd=workspace, env={"HOME": str(tmp), "PI_CODING_AGENT_DIR": str(tmp / "agent"),
                                                            "PI_SECURITY_DIR": str(tmp / "state")})
        store = AuditStore.open(tmp / "state")
        ctx = ConnectorContext("bench", "c1", "tool", Capability.READ, PathRules((workspace.resolve(),)), config,
                               StoreEvidence(store))
        patterns = {"literal word": "unchecked_handler_4711", "regex": r"FIXME\(\w+\): \w+_\d+",
                    "alternation": r"step (1599|0000)\b"}
        grep_rows = []
        for label, pattern in patterns.items():
            fast, slow, found = grep_throughput(ctx, size, pattern)
            grep_rows.append((f"grep {label} ({found} matches): RE2 / Python re",
                              f"{fast:.0f} / {slow:.0f} MB/s", f"ratio {fast / slow:.2f}x"))
        store.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    bomb = [(n, *catastrophic(n)) for n in (18, 20, 22)]
    rows = [
        *[(f"deadline machinery, added per hostcall p{q}",
           f"{(percentile(through, q) - percentile(direct, q)) * 1e6:.1f} us", "<= 20 us") for q in (50, 99)],
        *[(f"  direct call p{q} / through the lane p{q}",
           f"{percentile(direct, q) * 1e6:.2f} / {percentile(through, q) * 1e6:.2f} us", "") for q in (50, 99)],
        ("worker sync hostcall round trip p50", f"{percentile(round_trip, 50) * 1e6:.0f} us", "context"),
        ("worker sync hostcall round trip p99", f"{percentile(round_trip, 99) * 1e6:.0f} us", "context"),
        (f"tree size ({TREE_MB} MB target)", f"{size / 1024 / 1024:.1f} MB", ""),
        *grep_rows,
        *[(f"(a+)+$ on a*{n}+b: Python re / RE2", f"{py * 1000:.1f} / {r2 * 1000:.3f} ms", "RE2 linear")
          for n, py, r2 in bomb],
    ]
    print_table("host bounds (issue 9)", rows)


if __name__ == "__main__":
    main()

