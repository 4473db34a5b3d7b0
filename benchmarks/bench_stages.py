"""Cost of each decision stage and of the settle step on a realistic session's hostcalls (issue 14).

``python benchmarks/bench_stages.py`` replays the hostcalls of one round of ``bench_overhead``'s session (69
requests recorded from the real runtime, six extensions: ``workload/hostcalls.json``) through a real
:class:`~pi_sandbox.dispatch.Sandbox` with every stage on, the way ``Pipeline.run`` runs them: capability
derivation, trust, policy, quota, risk, mediation, then — for an allowed call — the real connector, and the
stages' ``settle`` (and ``observe`` after a refusal). The ledger entry, the forensic record and telemetry are
left out: they are the pipeline's own work, not the stages'.

The risk controller and the quota meter read a *virtual clock* that replays the recorded call times (one round
after another), so rates, bursts and the time-driven snapshots behave as in the recorded session whatever the
replay's own speed (under valgrind it is ~50 times slower).

Two measures, per call and per 69-call round:

* default: thread CPU time per step (``time.thread_time_ns`` at every boundary, the cost of a clock reading
  taken off), medians of ``--rounds`` rounds;
* ``--callgrind``: machine instructions per step, deterministic. The script runs itself under
  ``valgrind --tool=callgrind``; each step is run through a ctypes callback (``_CallPythonObject`` toggles
  collection), one step per pass over the workload, and a call of ``os.getppid`` between passes dumps the counts.
  The callback's own cost (an empty step) is taken off.

``--record`` records ``workload/hostcalls.json`` anew (needs the official examples: see ``bench_overhead``).
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from itertools import repeat
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(1, str(HERE.parent))

RECORDING = HERE / "workload" / "hostcalls.json"
#: The steps measured, in pipeline order, then each stage's ``settle`` after the call ("settle" is their sum).
DECIDE = ("capability", "trust", "policy", "quota", "risk", "mediation")
SETTLE = ("settle:trust", "settle:quota", "settle:risk")
STEPS = (*DECIDE, *SETTLE)


# --- recording ----------------------------------------------------------------------------------


def record(examples: str | None) -> None:
    """Run bench_overhead's session (one warm-up round, one recorded) and write its hostcalls."""
    import bench_overhead as bo

    from pi_sandbox.dispatch import Sandbox

    base = Path(tempfile.mkdtemp(prefix="pi-bench-stages-"))
    try:
        workspace = base / "workspace"
        bo.make_workspace(workspace)
        config = bo.make_config(base, "sandboxed", workspace)
        host = bo.open_host(config, Sandbox, bo.sources(bo.examples_dir(examples)))
        sandbox = host.sandbox
        got: list[dict[str, Any]] = []
        on = [False]
        inner = sandbox.hostcall
        start = [0.0]

        def recorder(extension_id: str, request: Any, *, dry_run: bool = False) -> Any:
            if on[0]:
                now = time.monotonic()
                if not got:
                    start[0] = now
                got.append({"t": round(now - start[0], 6), "extension": extension_id,
                            "request": json.loads(json.dumps(dict(request)))})
            return inner(extension_id, request, dry_run=dry_run)

        sandbox.hostcall = recorder  # type: ignore[method-assign]
        saved, sys.stderr = sys.stderr, open(os.devnull, "w")  # noqa: SIM115
        try:
            bo.session(host)
            on[0] = True
            began = time.monotonic()
            bo.session(host)
            span = time.monotonic() - began
            on[0] = False
        finally:
            sys.stderr.close()
            sys.stderr = saved
            host.shutdown(notify=False)
            sandbox.close()
    finally:
        shutil.rmtree(base, ignore_errors=True)
    # the workspace path of the recording is replaced by the replay's own
    text = json.dumps({"round_s": round(span, 6), "workspace": str(workspace), "calls": got}, indent=1)
    RECORDING.write_text(text.replace(str(workspace), "{WORKSPACE}") + "\n", encoding="utf-8")
    print(f"recorded {len(got)} hostcalls ({span * 1000:.0f} ms) into {RECORDING}")


# --- replay -------------------------------------------------------------------------------------


class VirtualClock:
    """``time.monotonic`` as the recorded session saw it: ``at(i)`` moves it to the ``i``-th call of the round.

    What reads it gets a C callable (``repeat(t).__next__``), as cheap as ``time.monotonic``: a Python
    ``__call__`` would add a frame to every reading of the stages measured."""

    def __init__(self, times: list[float], round_s: float, targets: list[tuple[Any, str]]) -> None:
        self.times, self.round_s, self.targets = times, round_s, targets
        self.rounds = 0
        self.at(0)

    def at(self, index: int) -> None:
        """Set every target's clock to the time of the ``index``-th call of the current round."""
        now = repeat(1000.0 + self.rounds * self.round_s + self.times[index]).__next__
        for obj, attr in self.targets:
            setattr(obj, attr, now)


class Replay:
    """The recorded round, its sandbox, and one step function per pipeline step."""

    def __init__(self, base: Path) -> None:
        import bench_overhead as bo

        from pi_sandbox.dispatch import Sandbox
        from pi_sandbox.trust import Actor, TransitionReason, TrustState

        data = json.loads(RECORDING.read_text(encoding="utf-8"))
        workspace = base / "workspace"
        bo.make_workspace(workspace)
        text = json.dumps(data["calls"]).replace("{WORKSPACE}", str(workspace))
        self.calls: list[tuple[str, dict[str, Any]]] = [(c["extension"], c["request"]) for c in json.loads(text)]
        self.sandbox = sandbox = Sandbox.open(bo.make_config(base, "sandboxed", workspace))
        registry = sandbox.controls.registry
        for extension_id in sorted({e for e, _ in self.calls}):
            # as the host loads them: first seen, so in probation (its clean record counted at every settle)
            (base / "extensions" / extension_id).mkdir(parents=True)
            registry.observe_load(extension_id, "cli", "0" * 64)
            sandbox.register_extension(extension_id, base / "extensions" / extension_id)
        sandbox.controls.registry.transition(bo.TOOLS_EXT, TrustState.TRUSTED, actor=Actor.OPERATOR,
                                             reason=TransitionReason.OPERATOR_PROMOTION, note="benchmark")
        controller = sandbox.risk_stage.controller
        targets = [(sandbox.quota, "clock"), *([(controller, "clock")] if controller is not None else [])]
        self.clock = VirtualClock([c["t"] for c in data["calls"]], float(data["round_s"]) + 0.5, targets)
        self.pipeline = sandbox.pipeline
        stages = self.pipeline.stages
        self.settlers = [(i, str(s.name), s.settle) for i, s in enumerate(stages) if hasattr(s, "settle")]
        self.observers = [(i, str(s.name), s.observe) for i, s in enumerate(stages) if hasattr(s, "observe")]
        self.serial = 0

    def round(self, measured: str | None, step: Callable[[Callable[[], Any]], Any] | None,
              cpu: dict[str, int] | None = None) -> int:
        """Replay the round once; ``step`` runs the ``measured`` step (or, with ``cpu``, every step is timed).
        Returns the number of calls refused (0 for this workload)."""
        refused = 0
        for index, (extension_id, request) in enumerate(self.calls):
            self.serial += 1
            self.clock.at(index)
            refused += self._one(extension_id, {**request, "call_id": f"r{self.serial}"}, measured, step, cpu)
        self.clock.rounds += 1
        return refused

    def _one(self, extension_id: str, req: dict[str, Any], measured: str | None,
             step: Callable[[Callable[[], Any]], Any] | None, cpu: dict[str, int] | None) -> int:
        """One call, as ``Pipeline.run`` runs its stages and settles them (no ledger entry); 1 if refused."""
        from pi_sandbox.dispatch.call import Outcome
        from pi_sandbox.vocabulary import Decision, StageName

        pipeline = self.pipeline
        stages = pipeline.stages
        clock = time.thread_time_ns
        box: list[Any] = []

        def run(name: str, fn: Callable[[], Any]) -> Any:
            if cpu is not None:
                t0 = clock()
                out = fn()
                cpu[name] = cpu.get(name, 0) + clock() - t0
                return out
            if step is not None:
                if name == measured:
                    box.clear()
                    step(lambda: box.append(fn()))
                    return box[0]
                if measured == "empty" and name == "capability":  # the marker's own cost, same frames
                    step(lambda: box.append(_NOOP()))
            return fn()

        call = run("capability", lambda: pipeline.capability.derive(extension_id, req))
        outcome = None
        ran = 0
        granted = None
        for stage in stages:
            verdict = run(str(stage.name), partial(stage.decide, call))
            ran += 1
            if verdict.outcome is Decision.DENY:
                outcome = Outcome(Decision.DENY, stage.name, str(verdict.reason), False, verdict.code)
                break
            if verdict.outcome is Decision.ALLOW:
                granted = verdict
        if outcome is None:
            assert granted is not None
            t0 = time.perf_counter_ns()
            result = pipeline._carry_out(call, 0)
            outcome = Outcome(Decision.ALLOW, StageName.POLICY, str(granted.reason), result.ok, result.error_code,
                              result.result if result.ok else None, (time.perf_counter_ns() - t0) / 1e6)
        done = outcome

        for i, name, fn in self.settlers:
            if i < ran:
                run(f"settle:{name}", partial(fn, call, done))
        if ran < len(stages):
            for i, name, fn in self.observers:
                if i >= ran:
                    run(f"settle:{name}", partial(fn, call, done))  # (no call of the workload is refused)
        return int(done.decision is Decision.DENY)

    def close(self) -> None:
        self.sandbox.close()


def _noop(_: Any) -> int:
    return 0


#: What an empty step runs (called as the stages' ``decide`` are: through a ``partial``).
_NOOP = partial(_noop, None)


def _clock_cost() -> int:
    """ns of thread CPU one ``thread_time_ns`` pair adds to a timed step (taken off every step)."""
    clock = time.thread_time_ns
    samples = []
    for _ in range(20):
        t0 = clock()
        for _ in range(200):
            a = clock()
            b = clock()
            del a, b
        samples.append((clock() - t0) / 200)
    return int(statistics.median(samples) // 2)


def cpu_report(rounds: int) -> dict[str, Any]:
    """Thread CPU µs per call and per round of each step (medians over ``rounds`` rounds)."""
    base = Path(tempfile.mkdtemp(prefix="pi-bench-stages-"))
    saved, sys.stderr = sys.stderr, open(os.devnull, "w")  # noqa: SIM115
    try:
        replay = Replay(base)
        for _ in range(3):
            replay.round(None, None)
        overhead = _clock_cost()
        per_round: dict[str, list[float]] = {name: [] for name in STEPS}
        for _ in range(rounds):
            cpu: dict[str, int] = {}
            replay.round(None, None, cpu)
            for name in STEPS:
                per_round[name].append((cpu.get(name, 0) - overhead * len(replay.calls)) / 1000)
        calls = len(replay.calls)
        replay.close()
    finally:
        sys.stderr.close()
        sys.stderr = saved
        shutil.rmtree(base, ignore_errors=True)
    med = _summed({name: statistics.median(v) for name, v in per_round.items()})
    return {"calls_per_round": calls, "rounds": rounds,
            "us_per_round": {k: round(v, 1) for k, v in med.items()},
            "us_per_call": {k: round(v / calls, 2) for k, v in med.items()},
            "load_average": round(os.getloadavg()[0], 1)}


def _summed(steps: dict[str, float]) -> dict[str, float]:
    """``steps`` with the sums: ``stages`` (every decision step), ``settle`` (every settle), ``all``."""
    stages, settle = sum(steps[k] for k in DECIDE), sum(steps[k] for k in SETTLE)
    return {**steps, "stages": stages, "settle": settle, "all": stages + settle}


# --- instruction counts -------------------------------------------------------------------------

#: The marker functions (``valgrind --toggle-collect``, ``--dump-before``).
_TOGGLE = "_CallPythonObject"
_DUMP = "os_getppid"


def callgrind_child(rounds: int) -> None:
    """Under callgrind: one pass of ``rounds`` rounds per step, each followed by a dump."""
    base = Path(tempfile.mkdtemp(prefix="pi-bench-stages-"))
    dump = os.getppid  # its C function (``os_getppid``) dumps the counts: nothing else here calls it
    marker = ctypes.PYFUNCTYPE(None, ctypes.py_object)

    @marker
    def step(fn: Any) -> None:
        fn()

    def through(fn: Callable[[], Any]) -> None:
        step(fn)

    sys.stderr = open(os.devnull, "w")  # noqa: SIM115
    try:
        replay = Replay(base)
        for _ in range(2):
            replay.round(None, None)
        dump()  # whatever was collected before (nothing: the marker did not run)
        for name in ("empty", *STEPS):
            for _ in range(rounds):
                replay.round(name, through)
            dump()
        print(json.dumps({"calls": len(replay.calls), "order": ["before", "empty", *STEPS]}), file=sys.__stdout__)
        replay.close()
    finally:
        shutil.rmtree(base, ignore_errors=True)


def _totals(path: Path) -> int:
    text = path.read_text(encoding="utf-8", errors="replace")
    found = re.search(r"^(?:totals|summary): (\d+)", text, re.M)
    return int(found.group(1)) if found else 0


def callgrind_report(rounds: int) -> dict[str, Any]:
    """Instructions per call and per round of each step (deterministic: ``PYTHONHASHSEED=0``)."""
    out = Path(tempfile.mkdtemp(prefix="pi-bench-stages-cg-"))
    try:
        env = dict(os.environ, PYTHONHASHSEED="0")
        done = subprocess.run(
            ["valgrind", "--tool=callgrind", "--collect-atstart=no", f"--toggle-collect={_TOGGLE}",
             f"--dump-before={_DUMP}", f"--callgrind-out-file={out}/cg.out", sys.executable, __file__,
             "--callgrind-child", "--rounds", str(rounds)],
            env=env, capture_output=True, text=True, check=True)
        meta = json.loads(done.stdout.strip().splitlines()[-1])
        parts = sorted(out.glob("cg.out.*"), key=lambda p: int(p.name.rsplit(".", 1)[1]))
        counts = [_totals(p) for p in parts]
    finally:
        shutil.rmtree(out, ignore_errors=True)
    order = meta["order"]
    by = dict(zip(order, counts, strict=False))
    n = meta["calls"] * rounds
    empty = by["empty"] / n
    per_call = _summed({name: by[name] / n - empty for name in STEPS})
    return {"calls_per_round": meta["calls"], "rounds": rounds, "marker_per_call": round(empty),
            "instructions_per_call": {k: round(v) for k, v in per_call.items()},
            "instructions_per_round": {k: round(v * meta["calls"]) for k, v in per_call.items()}}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--rounds", type=int, default=0, help="rounds per measurement (default 30, callgrind 2)")
    parser.add_argument("--callgrind", action="store_true", help="instruction counts (valgrind) instead of CPU time")
    parser.add_argument("--record", action="store_true", help="record workload/hostcalls.json anew")
    parser.add_argument("--examples", help="folder of pi's official example extensions (--record)")
    parser.add_argument("--callgrind-child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.record:
        record(args.examples)
        return 0
    if args.callgrind_child:
        callgrind_child(args.rounds)
        return 0
    if args.callgrind:
        report = callgrind_report(args.rounds or 2)
        unit, key = "instructions", "instructions_per_call"
    else:
        report = cpu_report(args.rounds or 30)
        unit, key = "thread CPU µs", "us_per_call"
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    print(f"\n== decision stages and settle, realistic session ({report['calls_per_round']} hostcalls per round), "
          f"{unit} ==")
    per_round = report.get("us_per_round") or report["instructions_per_round"]
    for name in (*STEPS, "stages", "settle", "all"):
        print(f"  {name:<13} {report[key][name]:>10} per call   {per_round[name]:>12} per round")
    return 0


if __name__ == "__main__":
    os.environ.pop("PI_EXTENSION_POLICY", None)
    sys.exit(main(sys.argv[1:]))
