"""Where a hostcall round trip JS → supervisor → JS spends its time (``python benchmarks/run.py roundtrip``).

Each part of the path is timed on its own, then the whole:

1. **JS bridge**: JS calls a bound Python function that returns a fixed reply (jsbox argument copying,
   ``JSON.stringify``/``JSON.parse`` of the params and reply) — no process, no thread;
2. **serialisation**: the Python work on both sides of one call — the worker's hostcall frame, the
   supervisor's parse of it, the result frame, and the worker's parse of that;
3. **pipe wake-ups**: one small frame there and back between two processes (two blocking reads);
4. **thread hand-off**: a job handed to another thread and the answer handed back (the lane);
5. **IPC only**: the real round trip (``fs.statSync`` timed inside JS) with a constant answer instead of
   the pipeline; **pass-through**: the real fs connector, no decision or record; **full**: everything.
6. **console.log** timed inside JS: a post (the host decides and records it while the extension runs on).

p50 / p99 in µs. Targets (issue 14): full round trip p50 ≤ 100 µs, p99 ≤ 300 µs on the 2-core machine.
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _baseline import ConstantSandbox, PassThroughSandbox  # noqa: E402
from _util import percentile, print_table  # noqa: E402
from bench_runtime import bench_round_trip, environment, write_extensions  # noqa: E402

from pi_sandbox.dispatch import Sandbox  # noqa: E402
from pi_sandbox.runtime.engine import Engine  # noqa: E402
from pi_sandbox.runtime.protocol import FdChannel, decode_body, encode_frame  # noqa: E402
from pi_sandbox.runtime.worker import Worker  # noqa: E402

N = 3000
_STAT = {"ok": True, "result": {"type": "file", "size": 1, "mtime_ms": 0, "mode": 420, "is_file": True,
                                "is_dir": False}}


def _timed(n: int, fn: Callable[[], object]) -> list[float]:
    samples = []
    for _ in range(n):
        t0 = time.perf_counter_ns()
        fn()
        samples.append((time.perf_counter_ns() - t0) / 1000)
    return samples


def js_bridge() -> list[float]:
    """JS → bound Python → JS with the shapes of an fs stat call, timed inside JS."""
    engine = Engine(memory_limit_bytes=64 << 20, max_stack_bytes=1 << 20)
    reply = json.dumps({"type": "hc_result", "hid": -1, **_STAT})
    engine.bind("__hc", lambda method, params: reply)
    text = engine.eval(f"""
      const times = [];
      for (let i = 0; i < {N}; i++) {{
        const t0 = performance.now();
        const r = JSON.parse(__hc("fs", JSON.stringify({{op: "stat", path: "/w/data-0.txt"}})));
        if (!r.ok) throw new Error("bad");
        times.push(performance.now() - t0);
      }}
      JSON.stringify(times)""")
    return [t * 1000 for t in json.loads(str(text))]


def serialisation() -> list[float]:
    """Python-side encoding and decoding of one call and its answer (both processes' share)."""
    worker = Worker.__new__(Worker)  # only the frame helper is used
    params = json.dumps({"op": "stat", "path": "/w/data-0.txt"})

    def once() -> None:
        frame = Worker._hostcall_frame(worker, 1, "fs", params, True)
        message = decode_body(frame[4:])
        answer = encode_frame({"type": "hc_result", "hid": message["hid"], **_STAT})
        decode_body(answer[4:])

    return _timed(N, once)


_ECHO = r"""
import os, sys
sys.path[:0] = [sys.argv[1]]
from pi_sandbox.runtime.protocol import FdChannel
ch = FdChannel(0, 1)
while True:
    body = ch.read_raw()
    ch.write_bytes(len(body).to_bytes(4, "big") + body)
"""


def pipe_wakeups() -> list[float]:
    """A small frame to a child process and back (two pipe wake-ups, two context switches)."""
    src = str(Path(__file__).resolve().parents[1] / "src")
    child = subprocess.Popen([sys.executable, "-c", _ECHO, src], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert child.stdin is not None and child.stdout is not None
    channel = FdChannel(child.stdout.fileno(), child.stdin.fileno())
    frame = encode_frame({"type": "x", "hid": 1})
    try:
        def once() -> None:
            channel.write_bytes(frame)
            channel.read_raw()

        _timed(200, once)
        return _timed(N, once)
    finally:
        child.kill()
        child.wait()


def thread_handoff() -> list[float]:
    """A job to another thread and its answer back (SimpleQueue both ways, as the lane does)."""
    jobs: queue.SimpleQueue[int | None] = queue.SimpleQueue()
    done: queue.SimpleQueue[int] = queue.SimpleQueue()

    def lane() -> None:
        while (job := jobs.get()) is not None:
            done.put(job)

    thread = threading.Thread(target=lane, daemon=True)
    thread.start()

    def once() -> None:
        jobs.put(1)
        done.get()

    _timed(200, once)
    samples = _timed(N, once)
    jobs.put(None)
    return samples


def main() -> int:
    rows: list[tuple[str, str, str]] = []

    def row(name: str, samples: list[float], target: str = "") -> None:
        rows.append((name, f"{percentile(samples, 50):.0f} / {percentile(samples, 99):.0f}", target))

    row("1. JS bridge (bound function, JSON both ways)", js_bridge())
    row("2. serialisation, both processes", serialisation())
    row("3. pipe wake-ups (frame there and back)", pipe_wakeups())
    row("4. thread hand-off (there and back)", thread_handoff())
    base = Path(tempfile.mkdtemp(prefix="pi-bench-rt-"))
    try:
        config, _ = environment(base)
        [source] = write_extensions(base, 1)
        def rt(cls: type[Sandbox], tool: str = "stat_loop", n: int = 200) -> list[float]:  # JS times in ms
            return [t * 1000 for t in bench_round_trip(config, source, cls, tool, n)]

        row("5. IPC only (constant answer)", rt(ConstantSandbox))
        row("   pass-through (fs connector, no decision/record)", rt(PassThroughSandbox))
        row("   full (pipeline + ledger + fs connector)", rt(Sandbox), "p50 ≤ 100 / p99 ≤ 300")
        # A console line is a post: the extension does not wait for the host (40 lines, then a sync call).
        row("6. console.log as JS sees it: pass-through", rt(PassThroughSandbox, "log_loop", 40))
        row("   full (decided and recorded while JS runs on)", rt(Sandbox, "log_loop", 40))
    finally:
        shutil.rmtree(base, ignore_errors=True)
    print_table("hostcall round trip: where the time goes (p50 / p99 µs)", rows)
    return 0


if __name__ == "__main__":
    os.environ.pop("PI_EXTENSION_POLICY", None)
    sys.exit(main())
