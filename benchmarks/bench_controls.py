"""Runtime controls: the risk controller's decision time (target p99 ≤ 50 µs), whole-pipeline decision
time with every stage on for the mix's allow path — the risk controller included, enforcing (connector and
durable write excluded; target p99 ≤ 60 µs) — and kill-switch time to effect in a running session (p50 / p99)."""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _util import percentile, print_table  # noqa: E402

from pi_sandbox.config import resolve_config  # noqa: E402
from pi_sandbox.dispatch import Sandbox  # noqa: E402
from pi_sandbox.risk import CallState  # noqa: E402
from pi_sandbox.trust import Actor, TransitionReason, TrustState, set_kill_switch  # noqa: E402

#: A mix like an agent session's: file reads and stats, searches, events, session entries, log, a command.
CALLS = [
    ("fs", {"op": "stat", "path": "README.md"}), ("fs", {"op": "read", "path": "README.md"}),
    ("tool", {"name": "grep", "input": {"pattern": "x", "path": "."}}), ("tool", {"name": "ls", "input": {}}),
    ("events", {"op": "emit", "event": "tick"}), ("session", {"op": "append_entry", "data": {}}),
    ("log", {"message": "hello"}), ("exec", {"cmd": "git", "args": ["status"]}),
]


def _decision_times(box: Sandbox, rounds: int, per_stage: dict[str, list[float]] | None = None) -> list[float]:
    """µs per pipeline decision of the mix; ``per_stage``: also each step's µs (capability, then each stage)."""
    pipeline = box.pipeline
    samples: list[float] = []
    clock = time.perf_counter_ns
    for i in range(rounds):
        method, params = CALLS[i % len(CALLS)]
        t0 = clock()
        call = pipeline.capability.derive("bench.ext", {"call_id": f"c{i}", "method": method, "params": params})
        t1 = clock()
        steps = [("capability", t0, t1)]
        for stage in pipeline.stages:
            denied = stage.decide(call).denied
            t2 = clock()
            steps.append((str(stage.name), t1, t2))
            t1 = t2
            if denied:
                break
        samples.append((t1 - t0) / 1000)
        _REFUSED[0] += denied
        if per_stage is not None:
            for name, start, end in steps:
                per_stage.setdefault(name, []).append((end - start) / 1000)
    return samples


def _risk_times(box: Sandbox, rounds: int) -> list[float]:
    """One risk decision (score against the window, threshold) and its settle, per call of the mix."""
    controller = box.risk_stage.controller
    assert controller is not None, "the risk controller is on by default"
    calls = [box.pipeline.capability.derive("bench.risk", {"call_id": f"r{i}", "method": m, "params": p})
             for i, (m, p) in enumerate(CALLS)]
    samples: list[float] = []
    cpu: list[float] = []
    for i in range(rounds):
        call = calls[i % len(calls)]
        c0, t0 = time.thread_time_ns(), time.perf_counter_ns()
        decision = controller.decide(call)
        samples.append((time.perf_counter_ns() - t0) / 1000)
        cpu.append((time.thread_time_ns() - c0) / 1000)
        controller.settle(call, CallState.DONE)
        assert not decision.refused, decision
    _RISK_CPU[:] = cpu
    return samples


#: Calls of the pipeline-decision loops a stage refused (the figure is meant for the allow path).
_REFUSED = [0]
#: The last run's risk decision times in this thread's CPU time (what preemption on a loaded machine
#: does not inflate).
_RISK_CPU: list[float] = []


def _kill_switch_latency(box: Sandbox, state_dir: Path, trials: int) -> list[float]:
    samples: list[float] = []
    for i in range(trials):
        started = time.perf_counter()
        set_kill_switch(state_dir, i % 2 == 0, "bench.ext", f"trial {i}")
        want_blocked = i % 2 == 0
        while (box.controls.blocked("bench.ext") is not None) != want_blocked:
            time.sleep(0.0005)
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def main() -> None:
    base = Path(tempfile.mkdtemp())
    (base / "ws").mkdir()
    (base / "ws" / "README.md").write_text("hello\n" * 50)
    (base / "agent").mkdir()
    # The default hostcall rate (500/s) would refuse most of a tight benchmark loop, the loop never settles its
    # commands (running and total subprocess limits), and a dangerous capability of an extension in probation
    # needs a prompt: the decisions measured are the mix's allow path (every stage still runs; quota counts).
    (base / "agent" / "settings.json").write_text(json.dumps({"extensionPolicy": {"quota": {
        "maxHostcallsPerSecond": 1_000_000, "hostcallBurst": 1_000_000, "maxSubprocesses": 1_000_000,
        "maxSubprocessesTotal": 1_000_000}}}))
    os.environ.update(PI_CODING_AGENT_DIR=str(base / "agent"), PI_SECURITY_DIR=str(base / "state"),
                      PI_EXTENSION_POLICY="permissive", PI_EXTENSION_ALLOW_DANGEROUS="1")
    os.chdir(base / "ws")
    box = Sandbox.open(resolve_config())
    try:
        box.controls.registry.observe_load("bench.ext", "cli", "h")
        box.controls.registry.transition("bench.ext", TrustState.TRUSTED, actor=Actor.OPERATOR,
                                         reason=TransitionReason.OPERATOR_PROMOTION, note="benchmark")
        _risk_times(box, 2000)  # warm caches
        risk = _risk_times(box, 20000)
        _decision_times(box, 2000)
        per_stage: dict[str, list[float]] = {}
        _REFUSED[0] = 0
        decide = _decision_times(box, 20000, per_stage)
        kill = _kill_switch_latency(box, base / "state", 60)
    finally:
        box.close()
    print_table("runtime controls", [
        ("risk controller decision (features, score, threshold), p50 (µs)", f"{percentile(risk, 50):.1f}", ""),
        ("risk controller decision, p99 (µs)", f"{percentile(risk, 99):.1f}", "≤ 50"),
        ("risk controller decision, CPU time p50 / p99 (µs)",
         f"{percentile(_RISK_CPU, 50):.1f} / {percentile(_RISK_CPU, 99):.1f}", ""),
        ("load average (1 min) during the run", f"{os.getloadavg()[0]:.1f}", ""),
        ("pipeline decision, all stages on (no connector, no ledger write), p50 (µs)", f"{percentile(decide, 50):.1f}",
         ""),
        ("pipeline decision, all stages on, p99 (µs)", f"{percentile(decide, 99):.1f}", "≤ 60"),
        ("  of which, p50 (µs): " + ", ".join(f"{name} {percentile(v, 50):.1f}" for name, v in per_stage.items()),
         "", ""),
        ("  calls of the 20000 that a stage refused", str(_REFUSED[0]), "0"),
        ("kill switch: command → running session refuses, p50 (ms)", f"{percentile(kill, 50):.1f}", ""),
        ("kill switch: command → running session refuses, p99 (ms)", f"{percentile(kill, 99):.1f}", "≤ 100"),
    ])


if __name__ == "__main__":
    main()
