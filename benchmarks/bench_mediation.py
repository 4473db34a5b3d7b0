"""Exec mediation and secret redaction speed.

Run: ``python benchmarks/bench_mediation.py`` (from the repository root).

1. Classification + decision latency (``ExecMediator.evaluate``) for a realistic command mix: mostly
   everyday agent commands, one in ten dangerous, as argv and as shell text; cold (cache bypassed) and
   with the decision cache. p50 / p99 are the median over 5 runs. Target p99 <= 200 us.
2. The classifier on big inputs (cold, median of 5 runs): a 1 KB command line (a chain of everyday
   commands with pipes, substitutions and quoting), a 1 KB ``python3 -c`` program, and a 10 KB
   shell script run as ``sh build.sh`` (read through the real confined reader: never cached).
3. Redaction throughput on 1 MB of exec-like output holding 50 withheld secrets, a few of them
   present raw, base64 and hex encoded. Target >= 50 MB/s.
4. The whole mediation stage of the pipeline (paths, secret values, exec mediation with its record,
   sandbox check) on the ``exec`` calls the overhead workload's bash tool makes (``ls -la src | head
   -20``, ``wc -l src/*.py`` ...), in a real ``Sandbox`` over a temp workspace, for an extension with
   ~80 dependency folders among its roots like the workload's. Target p50 <= 300 us.
5. Path mediation (``python benchmarks/bench_mediation.py paths``): the mediation stage's ``decide`` for an
   allowed fs read / stat / list / write, and the fs connector's own confinement re-check
   (``PathRules.resolve`` at the moment of the effect), under a realistic rule set: a workspace, the
   extension's own folder, 80 dependency packages (roots and read-only), the state dir and settings files
   protected, the secret-file table on. Each is timed next to the checks as they were before the fast path
   (``tests/mediation/path_reference.py``) in the same run; medians of 5 runs. Target p50 <= 30 us.
   "cold" rows forget the remembered passes before each call: every check runs in full.
"""

from __future__ import annotations

import base64
import functools
import gc
import os
import random
import secrets
import statistics
import string
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.mediation.corpus import BENIGN, DANGEROUS  # noqa: E402
from tests.mediation.path_reference import reference_resolve  # noqa: E402

from pi_sandbox.audit import AuditStore  # noqa: E402
from pi_sandbox.config import resolve_config  # noqa: E402
from pi_sandbox.config.model import ExecMediationSettings, SecretBrokerSettings  # noqa: E402
from pi_sandbox.connectors.script_reader import ConfinedScriptReader  # noqa: E402
from pi_sandbox.dispatch import Sandbox  # noqa: E402
from pi_sandbox.dispatch.stages.mediation import MediationStage  # noqa: E402
from pi_sandbox.mediation.exec_mediation import ExecMediator  # noqa: E402
from pi_sandbox.mediation.paths import PathRules  # noqa: E402
from pi_sandbox.mediation.secret_broker import SecretBroker  # noqa: E402

ARGV_MIX: list[list[str]] = [
    ["git", "status"],
    ["git", "diff", "--stat"],
    ["npm", "test"],
    ["ls", "-la"],
    ["rg", "-n", "TODO", "src"],
    ["python3", "-m", "pytest", "-q"],
    ["cat", "package.json"],
    ["node", "scripts/build.js"],
    ["rm", "-rf", "./dist"],
    ["sh", "-c", "npm run lint && npm test"],
    ["bash", "-c", "ls | wc -l"],
]


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * pct / 100))]


def bench_classification(rounds: int = 4, runs: int = 5) -> None:
    mediator = ExecMediator(ExecMediationSettings(), "safe")
    rng = random.Random(7)
    dangerous = [c for c, _ in DANGEROUS]
    mix: list[tuple[str, list[str]] | str] = []
    for _ in range(900):
        pick = rng.random()
        if pick < 0.45:
            argv = rng.choice(ARGV_MIX)
            mix.append((argv[0], argv[1:]))
        elif pick < 0.9:
            mix.append(rng.choice(BENIGN))
        else:
            mix.append(rng.choice(dangerous))
    for cached in (False, True):
        for item in mix[:200]:  # warm-up
            _run(mediator, item, cached)
        p50s: list[float] = []
        p99s: list[float] = []
        worst = 0.0
        total = 0
        # Several independent runs; the median run is reported so one burst of load from another
        # process on a shared machine does not decide the result (each run's numbers are printed too).
        for _ in range(runs):
            samples: list[float] = []
            gc.disable()
            try:
                for _ in range(rounds):
                    for item in mix:
                        start = time.perf_counter_ns()
                        _run(mediator, item, cached)
                        samples.append((time.perf_counter_ns() - start) / 1000)
            finally:
                gc.enable()
            p50s.append(statistics.median(samples))
            p99s.append(percentile(samples, 99))
            worst = max(worst, max(samples))
            total += len(samples)
        label = "classification, decision cache" if cached else "classification, cold (no cache)"
        print(
            f"{label:<34} {total:>8} {statistics.median(p50s):>9.1f} {statistics.median(p99s):>9.1f} "
            f"{worst:>9.1f}   target p99 <= 200 us   (p99 per run: {', '.join(f'{p:.0f}' for p in p99s)})"
        )


def _run(mediator: ExecMediator, item: tuple[str, list[str]] | str, cached: bool) -> None:
    if isinstance(item, str):
        mediator.evaluate_script(item, cached=cached)
    else:
        mediator.evaluate(item[0], item[1], cached=cached)


_LINE_PARTS = [
    "git status --short", "npm run lint -- --fix", "rg -n 'TODO|FIXME' src | head -n 20",
    "python3 -m pytest -q tests/unit -k 'not slow'", "echo \"build $(date +%s) on $(uname -m)\" >> build.log",
    "find . -name '*.pyc' -delete", "tar czf dist/app.tgz build", "curl -fsS http://localhost:3000/health | jq .",
    "for f in src/*.ts; do wc -l \"$f\"; done", "cp -r assets dist/", "sed -i 's/0.1.0/0.1.1/' package.json",
]
_SCRIPT_BLOCK = """
# build step {i}
if [ -f package.json ]; then
  npm ci --no-audit && npm run build -- --mode=production
fi
for target in linux darwin; do
  GOOS="$target" go build -o "dist/app-$target-{i}" ./cmd/app || exit 1
done
python3 -c 'import json,sys; print(json.load(open("package.json"))["version"])' > VERSION
rm -rf ./tmp/cache-{i} && mkdir -p ./tmp/cache-{i}
git log --oneline -n 5 | sed 's/^/  /'
"""
_PY_PROGRAM = "; ".join(
    ["import json, os, subprocess, sys", "data = json.load(open('package.json'))",
     "print(data.get('name'), data.get('version'))",
     "out = subprocess.run(['git', 'rev-parse', 'HEAD'], capture_output=True, text=True).stdout.strip()",
     "files = [f for f in os.listdir('.') if f.endswith('.py')]", "print(len(files), out)"] * 4
)


def bench_big_inputs(rounds: int = 40, runs: int = 5) -> None:
    mediator = ExecMediator(ExecMediationSettings(), "permissive")
    line = ""
    while len(line) < 1000:
        line += (" && " if line else "") + _LINE_PARTS[len(line) % len(_LINE_PARTS)]
    script = ""
    while len(script) < 10_000:
        script += _SCRIPT_BLOCK.format(i=len(script))
    with tempfile.TemporaryDirectory() as tmp:
        Path(tmp, "build.sh").write_text(script, encoding="utf-8")
        reader = ConfinedScriptReader([Path(tmp)])
        cases = [
            (f"1 KB command line ({len(line)} B)", lambda: mediator.evaluate_script(line, cached=False)),
            (f"python3 -c program ({len(_PY_PROGRAM)} B)",
             lambda: mediator.evaluate("python3", ["-c", _PY_PROGRAM], cached=False)),
            (f"sh build.sh, 10 KB script ({len(script)} B)",
             lambda: mediator.evaluate("sh", ["build.sh"], scripts=reader, cwd=tmp)),
        ]
        for label, fn in cases:
            decision = fn()
            assert not decision.denied, (label, decision)
            p50s: list[float] = []
            p99s: list[float] = []
            cpu: list[float] = []
            for _ in range(runs):
                samples: list[float] = []
                for _ in range(rounds):
                    start, start_cpu = time.perf_counter_ns(), time.thread_time_ns()
                    fn()
                    samples.append((time.perf_counter_ns() - start) / 1000)
                    cpu.append((time.thread_time_ns() - start_cpu) / 1000)
                p50s.append(statistics.median(samples))
                p99s.append(percentile(samples, 99))
            # CPU time of the classifying thread: what the classifier costs when the machine is busy
            print(f"{label:<34} {rounds * runs:>8} {statistics.median(p50s):>9.1f} {statistics.median(p99s):>9.1f} "
                  f"{max(p99s):>9.1f}   (p99 per run: {', '.join(f'{p:.0f}' for p in p99s)}; "
                  f"CPU p50 {statistics.median(cpu):.0f} / p99 {percentile(cpu, 99):.0f} us)")


def bench_redaction(rounds: int = 10) -> None:
    values = [secrets.token_urlsafe(rng_len) for rng_len in range(18, 68)]
    environ = {f"SERVICE_{i}_TOKEN": v for i, v in enumerate(values)}
    environ.update({"PATH": "/usr/bin:/bin", "HOME": "/home/dev"})
    broker = SecretBroker(SecretBrokerSettings(), environ)
    rng = random.Random(3)
    alphabet = string.ascii_letters + string.digits + "     ./_-:=\n"
    text = "".join(rng.choices(alphabet, k=1_000_000))
    # plant a few secrets, raw and encoded, so the redactor has real work to do
    pieces = [values[0], base64.b64encode(values[1].encode()).decode(), values[2].encode().hex()]
    for i, piece in enumerate(pieces * 5):
        at = 50_000 * (i + 1)
        text = text[:at] + piece + text[at + len(piece) :]
    data = text.encode()
    times_text: list[float] = []
    times_bytes: list[float] = []
    for _ in range(rounds):
        start = time.perf_counter()
        out = broker.redact(text)
        times_text.append(time.perf_counter() - start)
        start = time.perf_counter()
        broker.redact(data)
        times_bytes.append(time.perf_counter() - start)
    assert values[0] not in out
    size_mb = len(data) / 1e6
    for label, times in (
        ("redaction str (1 MB, 50 secrets)", times_text),
        ("redaction bytes (1 MB, 50 secrets)", times_bytes),
    ):
        print(
            f"{label:<34} {rounds:>8} {statistics.median(times) * 1000:>8.2f}ms "
            f"{size_mb / statistics.median(times):>8.1f} MB/s (median)   target >= 50 MB/s"
        )


#: The bash tool's commands in ``bench_overhead.SESSION`` (as the tool sends them: ``bash -c``, the workspace as cwd).
WORKLOAD_COMMANDS = ("ls -la src | head -20", "wc -l src/*.py", "grep -c 'def ' src/mod_5.py", "head -5 README.md",
                     "echo done && date +%s")


def bench_stage(rounds: int = 200) -> None:
    import json
    import os
    import shutil

    from pi_sandbox.config import resolve_config
    from pi_sandbox.dispatch import Sandbox
    from pi_sandbox.vocabulary import StageName

    base = Path(tempfile.mkdtemp(prefix="bench-mediation-stage-"))
    try:
        workspace = base / "workspace"
        (workspace / "src").mkdir(parents=True)
        for i in range(12):
            (workspace / "src" / f"mod_{i}.py").write_text(f"def helper_{i}():\n    return {i}\n", encoding="utf-8")
        (workspace / "README.md").write_text("# demo\n", encoding="utf-8")
        agent = base / "agent"
        agent.mkdir()
        (agent / "settings.json").write_text(json.dumps({"extensionPolicy": {"allowDangerous": True}}))
        env = {"HOME": str(base), "PI_CODING_AGENT_DIR": str(agent), "PI_SECURITY_DIR": str(agent / "security"),
               "PATH": os.environ.get("PATH", "/usr/bin:/bin")}
        box = Sandbox.open(resolve_config(cwd=workspace, env=env))
        try:
            # Like the workload's tool extension: its own folder plus ~80 dependency packages as roots.
            ext = base / "extensions" / "tools"
            deps = tuple(base / "node_modules" / f"pkg-{i}" for i in range(80))
            for folder in (ext, *deps):
                folder.mkdir(parents=True)
            box.register_extension("bench", ext, read_only=deps)
            stage = box.pipeline.stage(StageName.MEDIATION)
            calls = [box.pipeline.capability.derive("bench", {
                "call_id": f"c{i}", "method": "exec",
                "params": {"cmd": "bash", "args": ["-c", text], "cwd": str(workspace)}})
                for i, text in enumerate(WORKLOAD_COMMANDS)]
            for call in calls:  # first sight: classified, then the decision cache answers
                assert not stage.decide(call).denied, call.params
            samples: list[float] = []
            cpu: list[float] = []
            for _ in range(rounds):
                for call in calls:
                    start, start_cpu = time.perf_counter_ns(), time.thread_time_ns()
                    stage.decide(call)
                    samples.append((time.perf_counter_ns() - start) / 1000)
                    cpu.append((time.thread_time_ns() - start_cpu) / 1000)
        finally:
            box.close()
    finally:
        shutil.rmtree(base, ignore_errors=True)
    print(f"{'mediation stage, workload bash':<34} {len(samples):>8} {statistics.median(samples):>9.1f} "
          f"{percentile(samples, 99):>9.1f} {max(samples):>9.1f}   target p50 <= 300 us   "
          f"(CPU p50 {statistics.median(cpu):.0f} us)")


#: (op, path) of the path scenario: what the file tools of an agent session ask for.
PATH_CALLS: list[tuple[str, str]] = [
    ("read", "src/pkg/mod_3.py"), ("stat", "src/pkg/mod_3.py"), ("list", "src/pkg"), ("write", "notes/summary.md"),
]


class _ReferenceRules:
    """The stage's view of the rules, resolving with the checks as they were (same-run comparison)."""

    def __init__(self, rules: PathRules) -> None:
        self.rules = rules

    def resolve(self, raw: object, op: str = "read") -> object:
        return reference_resolve(self.rules, raw, op)

    resolve_text = resolve


def _path_sandbox(tmp: Path) -> tuple[Sandbox, AuditStore]:
    workspace = tmp / "ws"
    (workspace / "src" / "pkg").mkdir(parents=True)
    (workspace / "notes").mkdir()
    (workspace / "src" / "pkg" / "mod_3.py").write_text("x = 1\n")
    agent = tmp / "agent"
    own = agent / "sandboxed-extensions" / "bench-ext"
    deps = tuple(own / "node_modules" / f"dep-{i}" for i in range(80))
    for dep in deps:
        dep.mkdir(parents=True)
    (agent / "settings.json").write_text("{}")
    env = dict(os.environ, PI_CODING_AGENT_DIR=str(agent), PI_SECURITY_DIR=str(tmp / "state"))
    config = resolve_config(cwd=workspace, env=env)
    store = AuditStore.open(config.state_dir)
    sandbox = Sandbox(config, store)
    sandbox.register_extension("bench-ext", own, read_only=deps, writable=(config.state_dir / "ext-data",))
    return sandbox, store


def _paired_runs(old: Callable[[], object], new: Callable[[], object], rounds: int,
                 runs: int) -> tuple[tuple[float, float], tuple[float, float]]:
    """(median p50, median p99) in µs of ``old`` and of ``new``: runs of ``rounds`` calls, the two
    interleaved run by run so that load from other processes hits both alike."""
    for _ in range(50):
        old()
        new()
    stats: dict[bool, tuple[list[float], list[float]]] = {False: ([], []), True: ([], [])}
    for run in range(runs * 2):
        is_new = bool(run % 2)
        fn = new if is_new else old
        samples = []
        gc.disable()
        try:
            for _ in range(rounds):
                start = time.perf_counter_ns()
                fn()
                samples.append((time.perf_counter_ns() - start) / 1000)
        finally:
            gc.enable()
        stats[is_new][0].append(statistics.median(samples))
        stats[is_new][1].append(percentile(samples, 99))
    (o50, o99), (n50, n99) = stats[False], stats[True]
    return ((statistics.median(o50), statistics.median(o99)), (statistics.median(n50), statistics.median(n99)))


def _cold(rules: PathRules, raw: str, op: str) -> str:
    rules._passed.clear()
    return rules.resolve_text(raw, op)


def bench_paths(rounds: int = 2000, runs: int = 5) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        sandbox, store = _path_sandbox(Path(tmp))
        try:
            rules = sandbox.rules_for("bench-ext")
            stage = next(s for s in sandbox.pipeline.stages if isinstance(s, MediationStage))
            before = MediationStage(stage.mediator, stage.broker, stage.evidence,
                                    lambda _ext: _ReferenceRules(rules),  # type: ignore[arg-type, return-value]
                                    stage.sandbox_support)
            for op, raw in PATH_CALLS:
                request = {"call_id": "p", "method": "fs", "params": {"op": op, "path": raw, "data": "x"}}
                call = sandbox.pipeline.capability.derive("bench-ext", request)
                assert not stage.decide(call).denied and not before.decide(call).denied
                rows = [
                    ("stage", functools.partial(before.decide, call), functools.partial(stage.decide, call)),
                    ("confine", functools.partial(reference_resolve, rules, raw, op),
                     functools.partial(rules.resolve_text, raw, op)),
                    # Every check run in full: what a path's first check costs (no pass remembered yet).
                    ("confine cold", functools.partial(reference_resolve, rules, raw, op),
                     functools.partial(_cold, rules, raw, op)),
                ]
                for what, old, new in rows:
                    (old50, old99), (new50, new99) = _paired_runs(old, new, rounds, runs)
                    print(f"{f'path {what} fs {op}':<34} {rounds * runs:>8} {new50:>9.1f} {new99:>9.1f} {'':>9}   "
                          f"before p50 {old50:.1f} / p99 {old99:.1f} us (x{old50 / new50:.1f}); target p50 <= 30 us")
        finally:
            sandbox.close()
            store.close()


def main() -> None:
    only = sys.argv[1:]
    print(f"{'benchmark':<34} {'samples':>8} {'p50 us':>9} {'p99 us':>9} {'max us':>9}")
    if not only or "exec" in only:
        bench_classification()
        bench_big_inputs()
    if not only or "redaction" in only:
        bench_redaction()
    if not only or "stage" in only:
        bench_stage()
    if not only or "paths" in only:
        bench_paths()


if __name__ == "__main__":
    main()
