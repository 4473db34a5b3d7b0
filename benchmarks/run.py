"""Run every benchmark (``python benchmarks/run.py``), or the ones named: ``run.py policy dispatch``.

Options (arguments starting with ``-``, with their values: ``--rounds 15`` or ``--rounds=15``) are passed to
each benchmark run: ``run.py overhead --json`` prints the realistic-workload overhead report as one JSON object.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).parent


def split_arguments(argv: list[str], known: set[str]) -> tuple[list[str], list[str]]:
    """(benchmark names, options): an argument after an option without ``=`` is that option's value
    unless it names a benchmark."""
    names: list[str] = []
    options: list[str] = []
    for arg in argv:
        takes_value = bool(options) and options[-1].startswith("-") and "=" not in options[-1] \
            and options[-1] not in FLAGS
        if arg.startswith("-") or (takes_value and arg not in known):
            options.append(arg)
        else:
            names.append(arg)
    return names, options


#: Options of the benchmarks that take no value.
FLAGS = frozenset({"--json"})


def main(argv: list[str]) -> int:
    scripts = sorted(HERE.glob("bench_*.py"))
    known = {s.stem.removeprefix("bench_") for s in scripts}
    names, options = split_arguments(argv, known)
    if names:
        unknown = sorted(set(names) - known)
        if unknown:
            print(f"unknown benchmark(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}", file=sys.stderr)
            return 2
        scripts = [s for s in scripts if s.stem.removeprefix("bench_") in names]
    failed = 0
    for script in scripts:
        code = subprocess.call([sys.executable, str(script), *options])
        if code != 0:
            print(f"!! {script.name} exited with {code}", file=sys.stderr)
            failed += 1
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
