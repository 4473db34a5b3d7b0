"""Wall time of the ``pi-sandbox`` command as an operator feels it: ``--help``, ``ext list``, a large scan.

Run: ``python benchmarks/bench_cli.py [--rounds 15] [--lines 200000] [--compare SRC]``

Every figure is the median of ``--rounds`` fresh processes (``python -m pi_sandbox``), next to the
floor of the same run (``python -c pass``), because the machine is shared and noisy. ``--compare SRC``
also times the ``src/`` folder of another checkout (e.g. the commit before a change) in the same run,
interleaved with this one, and prints the ratio. Target: ``--help`` under 100 ms.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_scanner import generate

HERE = Path(__file__).resolve().parent
SRC = HERE.parent / "src"

EXTENSION = """export default function (pi: any) {
  pi.registerTool({ name: "echo_%d", execute: async (_id: string, p: any) => ({ content: [{ type: "text",
    text: JSON.stringify(p) }] }) });
  pi.on("tool_call", async () => undefined);
}
"""


#: ``pi_sandbox.cli.main`` is the entry module in this checkout and in older ones (``--compare``).
ENTRY = [sys.executable, "-m", "pi_sandbox.cli.main"]


def _cpu_of_children() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _time(argv: list[str], env: dict[str, str], cwd: Path) -> tuple[float, float]:
    """Wall time and CPU time (user + system, the process and every descendant it waited for) of one run.

    CPU time barely moves when other work shares the machine, wall time does: both are reported.
    """
    cpu_before = _cpu_of_children()
    started = time.perf_counter()
    proc = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, timeout=600, check=False)
    elapsed = time.perf_counter() - started
    if proc.returncode not in (0, 1):
        raise SystemExit(f"{' '.join(argv)} failed ({proc.returncode}): {proc.stderr.decode()[-500:]}")
    return elapsed, _cpu_of_children() - cpu_before


def _environment(base: Path, src: Path) -> dict[str, str]:
    env = dict(os.environ)
    # An installed package has its bytecode compiled (pip does it at install time); without this, every
    # fresh process would compile each module it imports again and the figures would measure the compiler.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.update(PYTHONPATH=str(src), PI_CODING_AGENT_DIR=str(base / "agent"), PI_SECURITY_DIR=str(base / "state"),
               NO_COLOR="1")
    return env


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15, help="processes per measurement (median reported)")
    parser.add_argument("--lines", type=int, default=200_000, help="size of the scanned tree in lines")
    parser.add_argument("--extensions", type=int, default=5, help="extensions loaded by `ext list`")
    parser.add_argument("--compare", type=Path, help="another checkout's src/ folder to time in the same run")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="bench-cli-") as tmp:
        base = Path(tmp)
        ext_dir = base / "agent" / "extensions"
        ext_dir.mkdir(parents=True)
        for i in range(args.extensions):
            (ext_dir / f"echo{i}.ts").write_text(EXTENSION % i, encoding="utf-8")
        tree = base / "tree"
        files, lines = generate(tree, args.lines)

        sources = {"this": SRC, **({"compare": args.compare.resolve()} if args.compare else {})}
        cases = {
            "python -c pass (floor)": (["-c", "pass"], 1),
            "--help": (["--help"], 1),
            "ext --help": (["ext", "--help"], 1),
            "--version": (["--version"], 1),
            f"ext list ({args.extensions} extensions)": (["ext", "list"], 3),
            f"ext scan ({lines} lines, {files} files)": (["ext", "scan", str(tree)], 5),
        }
        for src in sources.values():  # one untimed run each: writes the bytecode and the bundle cache
            for cli_args, _divisor in cases.values():
                if cli_args[0] != "-c":
                    _time([*ENTRY, *cli_args], _environment(base, src), base)
        results: dict[tuple[str, str], list[tuple[float, float]]] = {}
        for name, (cli_args, divisor) in cases.items():
            rounds = max(3, args.rounds // divisor)
            for _ in range(rounds):
                for label, src in sources.items():  # interleaved: both see the same noise
                    env = _environment(base, src)
                    command = [sys.executable, *cli_args] if cli_args[0] == "-c" else [*ENTRY, *cli_args]
                    results.setdefault((name, label), []).append(_time(command, env, base))

    def median(name: str, label: str, which: int) -> float:
        return statistics.median(r[which] for r in results[(name, label)])

    for which, title in ((0, "wall time"), (1, "CPU time (user + system, with child processes)")):
        print(f"\n== pi-sandbox CLI {title}: median of fresh processes ==")
        print(f"{'case':44s} {'this':>10s}" + (f" {'compare':>10s} {'ratio':>7s}" if args.compare else ""))
        for name in cases:
            this = median(name, "this", which)
            line = f"{name:44s} {this * 1000:8.1f}ms"
            if args.compare:
                other = median(name, "compare", which)
                line += f" {other * 1000:8.1f}ms {this / other:6.2f}x"
            print(line)
    floor = median("python -c pass (floor)", "this", 0)
    help_time = median("--help", "this", 0)
    print(f"\n--help: {help_time * 1000:.1f} ms, {(help_time - floor) * 1000:.1f} ms above the interpreter's "
          f"start (target < 100 ms: {'met' if help_time < 0.1 else 'NOT met'}; load average now "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
