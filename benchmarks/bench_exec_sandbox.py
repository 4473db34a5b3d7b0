"""What the exec sandbox adds to one ``exec`` call.

Run: ``python benchmarks/bench_exec_sandbox.py`` (or ``python benchmarks/run.py exec_sandbox``);
``python benchmarks/bench_exec_sandbox.py --secret-scan 2000,20000`` times the set-up by workspace size
(finding the secret files at any depth: :func:`secret_scan`).

The same exec connector (secret broker environment, rlimits, output capture, redaction, process-group
kill) runs ``/bin/true`` two ways, interleaved in one run so machine noise hits both alike:

* ``bwrap``: the real path — ``ExecSandbox.prepare`` (mount view, protected-path binds, seccomp
  program), bubblewrap start (user/PID/net/IPC/UTS namespaces, mounts), rlimits set on the sandboxed
  child, then the command;
* ``bare``: the identical connector call with the sandbox swapped for one that starts the argv as it is.

The start cost is the per-pair difference (bwrap − bare), p50 / p99; target p50 <= 10 ms. The
``prepare`` share (Python-side argument building) is timed on its own. Writes nothing outside a temp dir.
"""

from __future__ import annotations

import json
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _util import percentile, print_table  # noqa: E402

from pi_sandbox.capabilities import Capability  # noqa: E402
from pi_sandbox.config import resolve_config  # noqa: E402
from pi_sandbox.connectors.base import ConnectorContext  # noqa: E402
from pi_sandbox.dispatch import Sandbox  # noqa: E402
from pi_sandbox.mediation.secret_files import SecretFiles  # noqa: E402
from pi_sandbox.sandbox.launch import ChildRequest, ExecSandbox, Launch, Rlimits  # noqa: E402

EXT = "bench.exec"
PAIRS = 300
WARMUP = 20


@dataclass
class _Bare:
    """A launch without the sandbox: the connector's other work stays the same."""

    argv: list[str]
    env: dict[str, str]
    limits: Rlimits
    pass_fds: tuple[int, ...] = ()
    _noop: list[int] = field(default_factory=list)
    bound: frozenset[str] = frozenset()
    child_pid: int | None = None

    def wait_gone(self, timeout_s: float = 0.0) -> None:
        """No namespace to wait for."""

    def spawned(self) -> None:
        """Nothing to close."""

    def attach(self, ready: Callable[[int], None] | None = None, deadline_s: float = 0.0) -> int:
        return 0

    def close(self) -> None:
        """Nothing to release."""


class _Switch:
    """Stands in for the connector's ``ExecSandbox``: real or bare per call, ``prepare`` timed."""

    def __init__(self, real: ExecSandbox) -> None:
        self.real = real
        self.bare = False
        self.prepare_ms: list[float] = []

    def watch_begin(self, workspace: Sequence[Path], *args: Any, **kw: Any) -> bool:
        """The workspace watch (``sandbox/watch.py``) is part of the sandbox's cost: bare calls skip it."""
        return False if self.bare else self.real.watch_begin(workspace, *args, **kw)

    def watch_bound(self, workspace: Sequence[Path], *args: Any) -> None:
        if not self.bare:
            self.real.watch_bound(workspace, *args)

    def watch_end(self, workspace: Sequence[Path], *args: Any) -> list[Any]:
        return [] if self.bare else self.real.watch_end(workspace, *args)

    def watch_abandon(self, workspace: Sequence[Path], *args: Any) -> None:
        if not self.bare:
            self.real.watch_abandon(workspace, *args)

    def prepare(self, request: ChildRequest, workspace: Sequence[Path]) -> Launch | _Bare:
        if self.bare:
            env = dict(request.env)
            return _Bare(list(request.argv), env, request.limits)
        start = time.perf_counter()
        launch = self.real.prepare(request, workspace)
        self.prepare_ms.append((time.perf_counter() - start) * 1000)
        return launch


def _context(box: Sandbox, n: int) -> ConnectorContext:
    return ConnectorContext(EXT, f"c{n}", "exec", Capability.EXEC, box.rules_for(EXT), box.public_config, box.evidence)


def main() -> None:
    tmp = Path(tempfile.mkdtemp(prefix="bench-exec-sandbox-"))
    try:
        workspace, home = tmp / "ws", tmp / "home"
        workspace.mkdir()
        home.mkdir()
        env = dict(os.environ, HOME=str(home), PI_CODING_AGENT_DIR=str(tmp / "agent"),
                   PI_SECURITY_DIR=str(tmp / "agent" / "security"))
        box = Sandbox.open(resolve_config(cwd=workspace, env=env))
        try:
            _run(box)
        finally:
            box.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _run(box: Sandbox) -> None:
    connector = box.exec
    switch = _Switch(connector.sandbox)
    connector.sandbox = switch  # type: ignore[assignment]
    calls = iter(range(10**9))

    def once(bare: bool) -> tuple[float, float]:
        """Wall ms and CPU ms (this process + the children it reaped: bwrap and the command)."""
        switch.bare = bare
        kids = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = time.process_time()
        start = time.perf_counter()
        out = connector.call(_context(box, next(calls)), {"cmd": "/bin/true"})
        elapsed = (time.perf_counter() - start) * 1000
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        used = (time.process_time() - cpu + after.ru_utime + after.ru_stime - kids.ru_utime - kids.ru_stime) * 1000
        assert out["exit_code"] == 0, out
        return elapsed, used

    for i in range(WARMUP):
        once(i % 2 == 0)
    switch.prepare_ms.clear()
    rng = random.Random(17)
    load_before = os.getloadavg()[0]
    sandboxed: list[float] = []
    bare: list[float] = []
    diffs: list[float] = []
    cpu_diffs: list[float] = []
    for _ in range(PAIRS):
        order = [True, False] if rng.random() < 0.5 else [False, True]
        got = {kind: once(kind) for kind in order}
        bare.append(got[True][0])
        sandboxed.append(got[False][0])
        diffs.append(got[False][0] - got[True][0])
        cpu_diffs.append(got[False][1] - got[True][1])
    load_after = os.getloadavg()[0]
    plain = []
    for _ in range(100):
        start = time.perf_counter()
        subprocess.run(["/bin/true"], check=True)
        plain.append((time.perf_counter() - start) * 1000)
    support = connector.sandbox.real.support() if isinstance(connector.sandbox, _Switch) else None
    print_table(f"exec sandbox start cost: /bin/true, {PAIRS} interleaved pairs"
                f" ({support.bwrap_path if support else '?'}; load average {load_before:.1f} -> {load_after:.1f}"
                f" on {os.cpu_count()} CPUs)", [
        ("exec with bwrap p50 / p99 (ms)", f"{percentile(sandboxed, 50):.2f} / {percentile(sandboxed, 99):.2f}", ""),
        ("exec bare p50 / p99 (ms)", f"{percentile(bare, 50):.2f} / {percentile(bare, 99):.2f}", ""),
        ("start cost (pair diff) p50 (ms)", f"{percentile(diffs, 50):.2f}", "<= 10"),
        ("start cost (pair diff) p99 (ms)", f"{percentile(diffs, 99):.2f}", ""),
        ("start cost in CPU time (pair diff) p50 / p99 (ms)",
         f"{percentile(cpu_diffs, 50):.2f} / {percentile(cpu_diffs, 99):.2f}", ""),
        ("  of which prepare() p50 / p99 (ms)",
         f"{percentile(switch.prepare_ms, 50):.2f} / {percentile(switch.prepare_ms, 99):.2f}", ""),
        ("floor: subprocess.run(['/bin/true']) p50 (ms)", f"{percentile(plain, 50):.2f}", ""),
    ])


def _tree(root: Path, folders: int) -> None:
    """A workspace of ``folders`` folders (ten per folder, three files each) with secret files at depth 3 (when the
    tree has that level: from 1,110 folders on) and in its deepest folder (~log10 of ``folders`` levels down: five
    at 20,000)."""
    frontier, made = [root], 0
    while made < folders:
        nxt = []
        for parent in frontier:
            for i in range(10):
                if made >= folders:
                    break
                sub = parent / f"d{i}"
                sub.mkdir(parents=True)
                for j in range(3):
                    (sub / f"f{j}.js").write_text("x\n")
                nxt.append(sub)
                made += 1
        frontier = nxt
    if (root / "d1/d2/d3").is_dir():
        (root / "d1/d2/d3/.env").write_text("KEY=bench\n")
    deepest = root
    while (deepest / "d0").is_dir():  # the first branch is filled first: the deepest one
        deepest = deepest / "d0"
    (deepest / "id_rsa").write_text("KEY=bench\n")


def _set_up(sandbox: ExecSandbox, workspace: Path, request: ChildRequest, i: int) -> tuple[float, int]:
    """One call's sandbox set-up as the connector runs it (ms, and how many files it hides); nothing is started."""
    start = time.perf_counter()
    sandbox.watch_begin([workspace], EXT, f"s{i}")
    launch = sandbox.prepare(request, [workspace])
    took = (time.perf_counter() - start) * 1000
    hidden = sum(1 for arg in launch.argv if arg == "/dev/null")
    launch.close()
    sandbox.watch_abandon([workspace], EXT, f"s{i}")
    return took, hidden


def _one_process(workspace: Path, calls: int) -> dict[str, float]:
    """In a fresh process (nothing known of the tree yet): the first call's set-up (cold), then ``calls`` unchanged
    (warm) and ``calls`` after one new file each."""
    tmp = Path(tempfile.mkdtemp(prefix="bench-secret-scan-", dir=workspace.parent))
    try:
        home = tmp / "home"
        home.mkdir()
        env = dict(os.environ, HOME=str(home), PI_CODING_AGENT_DIR=str(tmp / "agent"),
                   PI_SECURITY_DIR=str(tmp / "agent" / "security"))
        box = Sandbox.open(resolve_config(cwd=workspace, env=env))
        try:
            sandbox = box.exec_sandbox
            request = ChildRequest(EXT, ("/bin/true",), workspace, {}, Rlimits(None, None, None, None, None),
                                   secret_files=SecretFiles())
            cold, hidden = _set_up(sandbox, workspace, request, 0)
            warm = [_set_up(sandbox, workspace, request, i)[0] for i in range(1, calls + 1)]
            changed = []
            for i in range(calls):
                new = workspace / "d1" / "d2" / "d3" / f"new-{os.getpid()}-{i}.txt"
                new.write_text("x\n")
                changed.append(_set_up(sandbox, workspace, request, 100 + i)[0])
                new.unlink()
        finally:
            box.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return {"cold": cold, "warm": percentile(warm, 50), "changed": percentile(changed, 50), "hidden": hidden}


def secret_scan(sizes: Sequence[int] = (2000, 20000), processes: int = 5, calls: int = 15) -> None:
    """What finding the secret files costs one exec call's set-up (``watch_begin`` + ``prepare``, as the connector
    runs them) on a workspace of each size (ten folders per folder, three files each, a ``.env`` three levels
    down): the first call of a process (cold: the watch and the index are made; the tree is in the kernel's
    cache), later calls unchanged (warm) and after one new file; medians over ``processes`` fresh processes."""
    base = Path(tempfile.mkdtemp(prefix="bench-secret-trees-", dir=os.environ.get("BENCH_TMP")))
    rows: list[tuple[str, str, str]] = []
    try:
        for size in sizes:
            workspace = base / f"ws{size}"
            _tree(workspace, size)
            got = []
            for _ in range(processes):
                out = subprocess.run([sys.executable, __file__, "--secret-scan-one", str(workspace), str(calls)],
                                     capture_output=True, text=True, check=True)
                got.append(json.loads(out.stdout.strip().splitlines()[-1]))
            for key, what in (("cold", "first call (cold)"), ("warm", "later call, unchanged (warm)"),
                              ("changed", "later call after a new file")):
                rows.append((f"{size:,} folders: {what} median (ms)", f"{percentile([g[key] for g in got], 50):.2f}",
                             ""))
            rows.append((f"{size:,} folders: secret files hidden", str(int(got[0]["hidden"])), ""))
    finally:
        shutil.rmtree(base, ignore_errors=True)
    print_table(f"exec set-up (watch_begin + prepare) by workspace size, {processes} processes x {calls} calls "
                f"(load average {os.getloadavg()[0]:.1f})", rows)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--secret-scan"]:
        secret_scan(tuple(int(x) for x in sys.argv[2].split(",")) if len(sys.argv) > 2 else (2000, 20000))
    elif sys.argv[1:2] == ["--secret-scan-one"]:
        print(json.dumps(_one_process(Path(sys.argv[2]), int(sys.argv[3]))))
    else:
        main()
