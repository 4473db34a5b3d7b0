"""Run every benchmark (``python benchmarks/run.py``), or the ones named: ``run.py policy dispatch``.

Options (arguments starting with ``-``) are passed to each benchmark run: ``run.py overhead --json`` prints
the realistic-workload overhead report as one JSON object.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).parent


def main(argv: list[str]) -> int:
    names = [a for a in argv if not a.startswith("-")]
    options = [a for a in argv if a.startswith("-")]
    scripts = sorted(HERE.glob("bench_*.py"))
    if names:
        known = {s.stem.removeprefix("bench_") for s in scripts}
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
