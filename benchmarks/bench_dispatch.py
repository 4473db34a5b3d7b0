"""Dispatch overhead of an fs stat hostcall: the decision stages alone, then the full pipeline + ledger write.

**Stages only** is the common allow path of issue 14's target (< 20 µs): capability derivation, trust,
policy, quota, risk and mediation (path resolution included) for an allowed ``fs stat``, every stage on,
no ledger entry and no connector; once in a tight loop, once with the CPU caches evicted before each call
(``EVICT_BYTES``), which is what a session's hostcalls meet. The same for a session's mix of calls
(``MIX``: log lines, status updates, session entries, file reads, a listing, the read tool).

The connector is replaced by one that returns a constant, so the figure is the pipeline's own cost
(validation, capability derivation, policy, gates, durable ledger append, redaction).
For comparison the same calls are also timed with the real fs connector, and two floors are shown:
a bare ``store.append`` and a bare 8 KiB overwrite + ``fdatasync`` on the state dir's disk (what one
durable commit cannot go below; a sequential caller pays it once per hostcall).
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
from _util import percentile, print_table  # noqa: E402

from pi_sandbox.audit import AuditStore, LedgerEntryDraft  # noqa: E402
from pi_sandbox.config import resolve_config  # noqa: E402
from pi_sandbox.connectors.base import ConnectorContext  # noqa: E402
from pi_sandbox.dispatch import Sandbox  # noqa: E402


class ConstantStat:
    def call(self, ctx: ConnectorContext, params: Mapping[str, Any]) -> Any:
        return {"type": "file", "size": 1, "mtime_ms": 0, "mode": 0o644}


def _measure(sandbox: Sandbox, n: int) -> list[float]:
    samples = []
    for i in range(n):
        request = {"call_id": f"c{i}", "method": "fs", "params": {"op": "stat", "path": "file.txt"}}
        t0 = time.perf_counter_ns()
        result = sandbox.hostcall("bench-ext", request)
        samples.append((time.perf_counter_ns() - t0) / 1000)
        assert result.ok, result
    return samples


#: Bytes written over before each call of the cold rows: more than this machine's per-core L2 cache, so the
#: stages' code and data come from L3 as in a session, where the JS engine, the IPC and the ledger run
#: between two hostcalls (the workload's per-stage figures are several times the tight loop's).
EVICT_BYTES = 4 << 20


def _stages_only(sandbox: Sandbox, n: int, per_stage: dict[str, list[float]] | None = None,
                 evict: bytearray | None = None) -> list[float]:
    """µs to derive the call and run every decision stage (the allow path; no ledger, no connector).

    ``per_stage``: also the µs of each step (capability derivation, then each stage), from the same calls.
    ``evict``: a buffer written over before each call (the cold rows)."""
    pipeline = sandbox.pipeline
    samples = []
    clock = time.perf_counter_ns
    lines = bytes(len(evict) // 64) if evict is not None else b""
    for i in range(n):
        request = {"call_id": f"s{i}", "method": "fs", "params": {"op": "stat", "path": "file.txt"}}
        if evict is not None:
            evict[::64] = lines  # one write per cache line
        t0 = clock()
        call = pipeline.capability.derive("bench-ext", request)
        marks = [clock()]
        for stage in pipeline.stages:
            verdict = stage.decide(call)
            marks.append(clock())
            assert not verdict.denied, verdict
        samples.append((marks[-1] - t0) / 1000)
        if per_stage is not None:
            steps = [t0, *marks]
            for name, start, end in zip(["capability", *(str(s.name) for s in pipeline.stages)], steps[:-1], steps[1:],
                                        strict=True):
                per_stage.setdefault(name, []).append((end - start) / 1000)
    return samples


#: One request of each kind a session's hostcalls are made of (``bench_overhead``'s workload: log lines, status
#: updates, session entries, file reads and stats, a listing, the file tools), in that workload's proportions.
MIX: list[tuple[int, dict[str, Any]]] = [
    (19, {"method": "log", "params": {"level": "info", "message": "tool_result read ok"}}),
    (17, {"method": "ui", "params": {"op": "set_status", "key": "status-line", "text": "turn 3 / 2 tools"}}),
    (8, {"method": "session", "params": {"op": "append_entry", "customType": "journal",
                                         "data": {"turn": 3, "tools": ["read", "bash"], "ok": True}}}),
    (8, {"method": "fs", "params": {"op": "read", "path": "src/mod_3.py"}}),
    (3, {"method": "fs", "params": {"op": "list", "path": "src"}}),
    (2, {"method": "fs", "params": {"op": "stat", "path": "file.txt"}}),
    (3, {"method": "tool", "params": {"name": "read", "input": {"path": "src/mod_5.py"}}}),
]


def _stages_mix(sandbox: Sandbox, rounds: int, evict: bytearray | None) -> dict[str, float]:
    """µs per call of each step over ``MIX`` (the median of each request kind, weighted by its share), caches
    evicted before each call when ``evict`` is given; the calls are settled as the pipeline does."""
    from pi_sandbox.dispatch.call import Outcome
    from pi_sandbox.vocabulary import Decision, StageName

    pipeline = sandbox.pipeline
    settlers = [s.settle for s in pipeline.stages if hasattr(s, "settle")]
    names = ["capability", *(str(s.name) for s in pipeline.stages)]
    per: dict[tuple[str, int], list[float]] = {}
    clock = time.perf_counter_ns
    lines = bytes(len(evict) // 64) if evict is not None else b""
    done = Outcome(Decision.ALLOW, StageName.POLICY, "bench", True)
    n = 0
    for _ in range(rounds):
        for kind, (count, request) in enumerate(MIX):
            for _ in range(count):
                n += 1
                if evict is not None:
                    evict[::64] = lines
                t0 = clock()
                call = pipeline.capability.derive("bench-ext", {**request, "call_id": f"m{n}"})
                marks = [t0, clock()]
                for stage in pipeline.stages:
                    verdict = stage.decide(call)
                    marks.append(clock())
                    assert not verdict.denied, (request, verdict)
                for settle in settlers:
                    settle(call, done)
                for name, start, end in zip(names, marks[:-1], marks[1:], strict=True):
                    per.setdefault((name, kind), []).append((end - start) / 1000)
    total = sum(count for count, _ in MIX)
    out = {name: sum(percentile(per[(name, k)], 50) * MIX[k][0] for k in range(len(MIX))) / total for name in names}
    out["all"] = sum(out.values())
    return out


def _fsync_floor(directory: Path, n: int = 1000) -> list[float]:
    """µs per 8 KiB overwrite + fdatasync of an already allocated file (no size change)."""
    path = directory / "fsync-probe"
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        block = b"\x00" * 8192
        os.write(fd, block * 64)
        os.fsync(fd)
        samples = []
        for i in range(n):
            os.lseek(fd, (i % 64) * 8192, os.SEEK_SET)
            t0 = time.perf_counter_ns()
            os.write(fd, block)
            os.fdatasync(fd)
            samples.append((time.perf_counter_ns() - t0) / 1000)
        return samples
    finally:
        os.close(fd)
        path.unlink()


def _append_only(store: AuditStore, n: int, sync: bool = True) -> list[float]:
    samples = []
    for i in range(n):
        draft = LedgerEntryDraft(kind="hostcall", extension_id="bench-ext", decision="allow", reason="bench",
                                 call_id=f"a{i}", capability="fs.read", method="fs", params_hash="0" * 64,
                                 layer=3, detail={"stage": "connector"})
        t0 = time.perf_counter_ns()
        if sync:
            store.append(draft)
        else:
            store.append(draft, sync=False)
        samples.append((time.perf_counter_ns() - t0) / 1000)
    return samples


def _stage_rows(stages: list[float], per_stage: dict[str, list[float]], cold: list[float],
                cold_per_stage: dict[str, list[float]], mix_warm: dict[str, float],
                mix_cold: dict[str, float]) -> list[tuple[str, str, str]]:
    return [
        ("stages only (allow path, every stage on) p50 (µs)", f"{percentile(stages, 50):.1f}", "< 20"),
        ("stages only (allow path, every stage on) p99 (µs)", f"{percentile(stages, 99):.1f}", ""),
        ("  of which, p50 (µs): " + ", ".join(f"{name} {percentile(v, 50):.1f}" for name, v in per_stage.items()),
         "", ""),
        ("stages only, CPU caches evicted before each call (as in a session) p50 / p99 (µs)",
         f"{percentile(cold, 50):.1f} / {percentile(cold, 99):.1f}", ""),
        ("  of which, p50 (µs): " + ", ".join(f"{name} {percentile(v, 50):.1f}" for name, v in cold_per_stage.items()),
         "", ""),
        ("stages only, a session's mix of calls (log, ui, session, fs, file tools), µs per call: tight loop / "
         "caches evicted", f"{mix_warm['all']:.1f} / {mix_cold['all']:.1f}", ""),
        ("  of which (tight loop / caches evicted): " + ", ".join(
            f"{name} {mix_warm[name]:.1f} / {mix_cold[name]:.1f}" for name in mix_warm if name != "all"), "", ""),
        ("load average (1 min) during the run", f"{os.getloadavg()[0]:.1f}", ""),
    ]


def main() -> None:
    tmp = Path(tempfile.mkdtemp())
    workspace = tmp / "ws"
    workspace.mkdir()
    (workspace / "file.txt").write_text("x")
    (workspace / "src").mkdir()
    for i in range(12):
        (workspace / "src" / f"mod_{i}.py").write_text(f"def helper_{i}():\n    return {i}\n")
    agent = tmp / "agent"
    agent.mkdir()
    # The default quota (500 hostcalls/s) would refuse a tight benchmark loop; the quota stage still runs.
    (agent / "settings.json").write_text(json.dumps({"extensionPolicy": {"quota": {
        "maxHostcallsPerSecond": 1_000_000, "hostcallBurst": 1_000_000}}}))
    env = dict(os.environ, PI_CODING_AGENT_DIR=str(agent), PI_SECURITY_DIR=str(tmp / "state"))
    config = resolve_config(cwd=workspace, env=env)
    store = AuditStore.open(config.state_dir)
    pipeline_only = Sandbox(config, store, connectors={"fs": ConstantStat()})
    _stages_only(pipeline_only, 500)  # warm-up
    per_stage: dict[str, list[float]] = {}
    stages = _stages_only(pipeline_only, 5000, per_stage)
    cold_per_stage: dict[str, list[float]] = {}
    cold = _stages_only(pipeline_only, 2000, cold_per_stage, bytearray(EVICT_BYTES))
    _stages_mix(pipeline_only, 3, None)  # warm-up
    mix_warm = _stages_mix(pipeline_only, 40, None)
    mix_cold = _stages_mix(pipeline_only, 40, bytearray(EVICT_BYTES))
    if "--stages" in sys.argv[1:]:  # the decision stages only (``python benchmarks/bench_dispatch.py --stages``)
        print_table("dispatch: decision stages", _stage_rows(stages, per_stage, cold, cold_per_stage, mix_warm,
                                                             mix_cold))
        return
    _measure(pipeline_only, 200)  # warm-up
    overhead = _measure(pipeline_only, 3000)
    real = Sandbox(config, store)
    with_connector = _measure(real, 3000)
    append_only = _append_only(store, 3000)
    try:
        append_group = _append_only(store, 3000, sync=False)
    except TypeError:  # a store without durability classes (measuring the code before them)
        append_group = [float("nan")]
    store.close()
    floor = _fsync_floor(config.state_dir)
    print_table("dispatch: fs stat hostcall", [
        *_stage_rows(stages, per_stage, cold, cold_per_stage, mix_warm, mix_cold),
        ("calls", "3000", ""),
        ("pipeline + ledger entry (group class) p50 (µs)", f"{percentile(overhead, 50):.0f}", ""),
        ("pipeline + ledger entry (group class) p99 (µs)", f"{percentile(overhead, 99):.0f}", "≤ 1000"),
        ("with real fs connector p50 (µs)", f"{percentile(with_connector, 50):.0f}", ""),
        ("with real fs connector p99 (µs)", f"{percentile(with_connector, 99):.0f}", ""),
        ("floor: store.append (written, group class) p50 / p99 (µs)",
         f"{percentile(append_group, 50):.0f} / {percentile(append_group, 99):.0f}", ""),
        ("floor: store.append (synced, effect class) p50 / p99 (µs)",
         f"{percentile(append_only, 50):.0f} / {percentile(append_only, 99):.0f}", ""),
        ("floor: 8 KiB overwrite + fdatasync p50 / p99 (µs)",
         f"{percentile(floor, 50):.0f} / {percentile(floor, 99):.0f}", ""),
    ])


if __name__ == "__main__":
    main()
