"""Security overhead on a realistic agent session (``python benchmarks/run.py overhead [--json]``).

The workload is what one pi session asks of its extensions, in a real session's proportions:

* **extensions**: pi's official examples ``minimal-mode`` (the built-in tools read/bash/edit/write/find/grep/ls
  re-registered by an extension, so every tool runs through the sandbox), ``permission-gate`` and
  ``protected-paths`` (``tool_call`` guards), ``claude-rules`` (reads ``.claude/rules`` at ``session_start``,
  edits the prompt at ``before_agent_start``), ``status-line`` (UI status at every turn), plus
  ``workload/session-journal.ts`` (a console line per tool result and a session entry per turn, like the
  examples preset/plan-mode/model-status do);
* **one round = one session**: ``session_start``; three prompts (``before_agent_start``), each of a few turns
  (``turn_start`` / ``turn_end``); 19 tool calls — read 6, bash 5 (ordinary commands), grep 3, ls 2, edit 2,
  write 1 — each one ``tool_call`` event → the tool → ``tool_result`` event.

Baseline = the same runtime, workers and connectors with decisions and records bypassed
(``_baseline.PassThroughSandbox``). Both hosts are loaded once; rounds alternate between them (the order
swaps every round) in one process so machine noise hits both alike, and the medians of the rounds are
compared. A round ends when its side's background work is written too (telemetry rows, the group commit's
sync), so none of it is timed in the other side's round. Wall time on a shared machine moves with its load,
so the CPU time each round cost (this process and its exec children, plus the extensions' worker processes)
is reported beside it: ``cpu_overhead_pct``. The breakdown attributes the sandboxed side's extra time per
round to pipeline stages, ledger appends (and their syncs) and the rest (supervisor, IPC, telemetry).

The official examples come from ``--examples DIR`` or the pinned pi package the bridge tests install
(``tests/bridge/pi_agent``: ``npm ci`` into the user cache on first use).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(1, str(HERE.parent))
from _baseline import PassThroughSandbox  # noqa: E402

from pi_sandbox.config import resolve_config  # noqa: E402
from pi_sandbox.dispatch import Sandbox  # noqa: E402
from pi_sandbox.dispatch import pipeline as pipeline_module  # noqa: E402
from pi_sandbox.runtime.discovery import ExtensionSource  # noqa: E402
from pi_sandbox.runtime.host import ExtensionHost  # noqa: E402
from pi_sandbox.trust import Actor, TransitionReason, TrustState  # noqa: E402

OFFICIAL = ("minimal-mode", "permission-gate", "protected-paths", "claude-rules", "status-line")
TOOLS_EXT = "minimal-mode"

#: (prompt, [turns: [(tool, input)]]) — the tool calls of one session.
SESSION: list[tuple[str, list[list[tuple[str, dict[str, Any]]]]]] = [
    ("explain how the modules fit together", [
        [("ls", {"path": "."}), ("read", {"path": "README.md"})],
        [("grep", {"pattern": "def ", "path": "src"}), ("read", {"path": "src/mod_3.py"})],
        [("bash", {"command": "ls -la src | head -20"}), ("read", {"path": "src/mod_7.py"})],
    ]),
    ("rename the helper in mod_5 and check the call sites", [
        [("grep", {"pattern": "helper", "path": "src"}), ("read", {"path": "src/mod_5.py"})],
        [("edit", {"path": "src/mod_5.py", "oldText": "def helper_5(", "newText": "def helper_five("}),
         ("bash", {"command": "wc -l src/*.py"})],
        [("bash", {"command": "grep -c 'def ' src/mod_5.py"}), ("read", {"path": "src/mod_5.py"}),
         ("edit", {"path": "src/mod_5.py", "oldText": "def helper_five(", "newText": "def helper_5("})],
    ]),
    ("summarise what changed", [
        [("bash", {"command": "head -5 README.md"}), ("ls", {"path": "src"}), ("read", {"path": "src/mod_1.py"})],
        [("write", {"path": "notes/summary.md", "content": "# Summary\n\nmod_5: helper renamed and back.\n"}),
         ("bash", {"command": "echo done && date +%s"}), ("grep", {"pattern": "class ", "path": "src"})],
    ]),
]


def examples_dir(given: str | None) -> Path:
    """Where pi's official example extensions are."""
    if given:
        return Path(given)
    from tests.bridge.pi_agent import install_pi_agent

    return install_pi_agent().parents[1] / "examples" / "extensions"


def make_workspace(root: Path) -> None:
    """A small project: 12 Python modules, a README, two Claude rules."""
    (root / "src").mkdir(parents=True)
    (root / "notes").mkdir()
    (root / ".claude" / "rules").mkdir(parents=True)
    for i in range(12):
        body = "".join(f"    x{j} = {j} * factor  # TODO tune\n" for j in range(30))
        (root / "src" / f"mod_{i}.py").write_text(
            f'"""Module {i}."""\n\n\nclass Thing{i}:\n    pass\n\n\ndef helper_{i}(factor):\n{body}    return factor\n',
            encoding="utf-8")
    (root / "README.md").write_text("# demo\n\nA project for the overhead benchmark.\n" + "text\n" * 80,
                                    encoding="utf-8")
    (root / ".claude" / "rules" / "style.md").write_text("Use type hints.\n", encoding="utf-8")
    (root / ".claude" / "rules" / "tests.md").write_text("Every change has a test.\n", encoding="utf-8")


def make_config(base: Path, side: str, workspace: Path) -> Any:
    agent = base / f"agent-{side}"
    agent.mkdir()
    settings = {"extensionPolicy": {"allowDangerous": True, "perExtension": {TOOLS_EXT: {"allow": ["exec"]}}}}
    (agent / "settings.json").write_text(json.dumps(settings), encoding="utf-8")
    env = {"HOME": str(base), "PI_CODING_AGENT_DIR": str(agent), "PI_SECURITY_DIR": str(agent / "security"),
           "PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    return resolve_config(cwd=workspace, env=env)


def sources(examples: Path) -> list[ExtensionSource]:
    found = [ExtensionSource(name, examples / f"{name}.ts", examples, "cli") for name in OFFICIAL]
    journal = HERE / "workload" / "session-journal.ts"
    return [*found, ExtensionSource("session-journal", journal, journal.parent, "cli")]


def open_host(config: Any, cls: type[Sandbox], srcs: list[ExtensionSource]) -> ExtensionHost:
    sandbox = cls.open(config)
    host = ExtensionHost(sandbox)
    loaded = host.load(srcs)
    bad = [(e.extension_id, e.error) for e in loaded if e.status != "loaded"]
    if bad:
        raise SystemExit(f"extensions failed to load: {bad}")
    # What an operator does after reviewing the tool extension: bash no longer needs a prompt.
    sandbox.controls.registry.transition(TOOLS_EXT, TrustState.TRUSTED, actor=Actor.OPERATOR,
                                         reason=TransitionReason.OPERATOR_PROMOTION, note="benchmark")
    return host


def session(host: ExtensionHost) -> int:
    """One session of the workload; returns the number of tool calls that failed (must stay 0)."""
    failures = 0
    host.emit("session_start", {"reason": "startup"})
    call = 0
    turn_index = 0
    for prompt, turns in SESSION:
        host.emit("before_agent_start", {"prompt": prompt, "systemPrompt": "You are a coding agent."})
        for turn in turns:
            host.emit("turn_start", {"turnIndex": turn_index})
            for tool, args in turn:
                call += 1
                call_id = f"tc-{call}"
                gate = host.emit("tool_call", {"toolCallId": call_id, "toolName": tool, "input": args})
                if gate.get("block"):
                    failures += 1
                    continue
                result = host.call_tool(TOOLS_EXT, tool, args, tool_call_id=call_id)
                failures += bool(result.get("isError"))
                host.emit("tool_result", {"toolCallId": call_id, "toolName": tool, "input": args,
                                          "content": result.get("content", []), "isError": False})
            host.emit("turn_end", {"turnIndex": turn_index, "message": {
                "role": "assistant", "content": [{"type": "text", "text": "ok"}], "timestamp": 0}})
            turn_index += 1
    return failures


class Meter:
    """Time spent in the sandboxed side's pipeline pieces (wrapping the instances, not the classes)."""

    def __init__(self) -> None:
        self.us: dict[str, float] = defaultdict(float)
        self.count: dict[str, int] = defaultdict(int)
        self.on = False

    def wrap(self, obj: Any, attr: str, name: str) -> None:
        inner: Callable[..., Any] = getattr(obj, attr)

        def timed(*args: Any, **kwargs: Any) -> Any:
            if not self.on:
                return inner(*args, **kwargs)
            t0 = time.perf_counter_ns()
            try:
                return inner(*args, **kwargs)
            finally:
                self.us[name] += (time.perf_counter_ns() - t0) / 1000
                self.count[name] += 1

        setattr(obj, attr, timed)

    def install(self, sandbox: Sandbox) -> None:
        self.wrap(sandbox, "hostcall", "hostcall")
        self.wrap(sandbox.pipeline.capability, "derive", "stage:capability")
        for stage in sandbox.pipeline.stages:
            self.wrap(stage, "decide", f"stage:{stage.name}")
        self.wrap(sandbox.evidence, "append_decision", "ledger_append")
        for name, connector in sandbox.connectors.items():
            self.wrap(connector, "call", f"connector:{name}")
        # parts of "other_in_pipeline": the call's forensic record (redacted copy of its parameters, context
        # hashes) and the stages' accounting after it (quota usage, trust, risk window, the telemetry record)
        self.wrap(pipeline_module, "forensic_fields", "forensic_record")
        self.wrap(sandbox.pipeline, "_settle", "settle")


def finish_background(host: ExtensionHost) -> None:
    """Write what the round left to the sandbox's background threads (telemetry rows, the group commit's sync of
    the round's entries): both sides share this process, so work deferred past a sandboxed round would
    otherwise be done, and timed, during the baseline's round."""
    host.sandbox.telemetry.flush()
    host.sandbox.store.sync()


def cpu_seconds(host: ExtensionHost) -> float:
    """CPU used so far by this process, its reaped children (exec sandboxes) and ``host``'s worker processes.

    This process serves both sides, so a round also counts the other side's idle background threads (a few
    wake-ups). Nanosecond clocks throughout (``times()`` and /proc ``stat`` count 10 ms ticks)."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    total = time.process_time() + children.ru_utime + children.ru_stime
    for ext in host.extensions():
        pid = ext.worker.pid if ext.worker is not None else None
        if pid is None:
            continue
        for task in Path(f"/proc/{pid}/task").glob("*/schedstat"):
            try:
                total += int(task.read_text().split()[0]) / 1e9
            except (OSError, ValueError, IndexError):
                pass  # a thread that ended between listing and reading
    return total


def run(examples: Path, rounds: int) -> dict[str, Any]:
    base = Path(tempfile.mkdtemp(prefix="pi-bench-overhead-"))
    hosts: dict[str, ExtensionHost] = {}
    try:
        workspace = base / "workspace"
        make_workspace(workspace)
        srcs = sources(examples)
        hosts["sandboxed"] = open_host(make_config(base, "sandboxed", workspace), Sandbox, srcs)
        hosts["baseline"] = open_host(make_config(base, "baseline", workspace), PassThroughSandbox, srcs)
        meter = Meter()
        meter.install(hosts["sandboxed"].sandbox)
        for host in hosts.values():  # warm up: caches, lanes, first-use imports
            if session(host):
                raise SystemExit("the workload's tool calls failed during warm-up")
        store = hosts["sandboxed"].sandbox.store
        syncs_before = getattr(store, "syncs", None)
        head_before = store.head()[0]
        times: dict[str, list[float]] = {"sandboxed": [], "baseline": []}
        cpu: dict[str, list[float]] = {"sandboxed": [], "baseline": []}
        failures = 0
        for i in range(rounds):
            order = ("sandboxed", "baseline") if i % 2 == 0 else ("baseline", "sandboxed")
            for side in order:
                meter.on = side == "sandboxed"
                cpu_before = cpu_seconds(hosts[side])
                started = time.perf_counter()
                failures += session(hosts[side])
                finish_background(hosts[side])
                times[side].append(time.perf_counter() - started)
                cpu[side].append(cpu_seconds(hosts[side]) - cpu_before)
                meter.on = False
        entries = store.head()[0] - head_before
        syncs_after = getattr(store, "syncs", None)
    finally:
        for host in hosts.values():
            host.shutdown(notify=False)
            host.sandbox.close()
        shutil.rmtree(base, ignore_errors=True)
    sandboxed, baseline = statistics.median(times["sandboxed"]), statistics.median(times["baseline"])
    sandboxed_cpu, baseline_cpu = statistics.median(cpu["sandboxed"]), statistics.median(cpu["baseline"])
    paired = [(s - b) / b * 100 for s, b in zip(times["sandboxed"], times["baseline"], strict=True)]
    per_round = {k: round(v / rounds / 1e6, 6) for k, v in sorted(meter.us.items())}
    stages_s = sum(v for k, v in per_round.items() if k.startswith("stage:"))
    hostcall_s = per_round.get("hostcall", 0.0)
    connectors_s = sum(v for k, v in per_round.items() if k.startswith("connector:"))
    ledger_s = per_round.get("ledger_append", 0.0)
    extra_s = sandboxed - baseline
    return {
        "overhead_pct": round((sandboxed - baseline) / baseline * 100, 2),
        "baseline_s": round(baseline, 5),
        "sandboxed_s": round(sandboxed, 5),
        "rounds": rounds,
        "paired_overhead_pct_median": round(statistics.median(paired), 2),
        "cpu_overhead_pct": round((sandboxed_cpu - baseline_cpu) / baseline_cpu * 100, 2),
        "baseline_cpu_s": round(baseline_cpu, 5),
        "sandboxed_cpu_s": round(sandboxed_cpu, 5),
        "round_times_s": {k: [round(t, 5) for t in v] for k, v in times.items()},
        "tool_failures": failures,
        "workload": {
            "extensions": [s.extension_id for s in srcs],
            "tool_calls_per_round": sum(len(t) for _, turns in SESSION for t in turns),
            "hostcalls_per_round": round(meter.count.get("hostcall", 0) / rounds, 1),
            "ledger_entries_per_round": round(entries / rounds, 1),
            "ledger_syncs_per_round": None if syncs_before is None or syncs_after is None
            else round((syncs_after - syncs_before) / rounds, 1),
            "hostcalls_by_method_per_round": {k.removeprefix("connector:"): round(v / rounds, 1)
                                              for k, v in sorted(meter.count.items()) if k.startswith("connector:")},
        },
        "breakdown": {
            "extra_per_round_s": round(extra_s, 6),
            "pipeline_stages_s": round(stages_s, 6),
            "ledger_append_s": round(ledger_s, 6),
            "connectors_s": round(connectors_s, 6),
            "other_in_pipeline_s": round(hostcall_s - stages_s - ledger_s - connectors_s, 6),
            "of_which_forensic_record_s": per_round.get("forensic_record", 0.0),
            "of_which_settle_s": per_round.get("settle", 0.0),
            "supervisor_ipc_and_noise_s": round(extra_s - (hostcall_s - connectors_s), 6),
            "per_component_s": per_round,
        },
    }


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--examples", help="folder of pi's official example extensions")
    args = parser.parse_args(argv)
    examples = examples_dir(args.examples)
    # Extension console/UI lines go to stderr on both sides alike; keep them off the terminal.
    saved, sys.stderr = sys.stderr, open(os.devnull, "w")  # noqa: SIM115
    try:
        report = run(examples, max(1, args.rounds))
    finally:
        sys.stderr.close()
        sys.stderr = saved
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    b = report["breakdown"]
    print("\n== security overhead, realistic session ==")
    print(f"rounds {report['rounds']}, {report['workload']['hostcalls_per_round']} hostcalls and "
          f"{report['workload']['tool_calls_per_round']} tool calls per round")
    print(f"baseline  {report['baseline_s'] * 1000:8.1f} ms (median)")
    print(f"sandboxed {report['sandboxed_s'] * 1000:8.1f} ms (median)")
    print(f"overhead  {report['overhead_pct']:8.2f} %  (target <= 3 %; paired median "
          f"{report['paired_overhead_pct_median']:.2f} %)")
    print(f"CPU time  {report['baseline_cpu_s'] * 1000:8.1f} ms baseline, {report['sandboxed_cpu_s'] * 1000:.1f} ms "
          f"sandboxed (medians): {report['cpu_overhead_pct']:.2f} % more")
    for key in ("pipeline_stages_s", "ledger_append_s", "other_in_pipeline_s", "of_which_forensic_record_s",
                "of_which_settle_s", "supervisor_ipc_and_noise_s"):
        print(f"  {key:<28} {b[key] * 1000:8.2f} ms/round")
    return 0


if __name__ == "__main__":
    os.environ.pop("PI_EXTENSION_POLICY", None)
    sys.exit(main(sys.argv[1:]))
