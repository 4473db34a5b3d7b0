"""What finding planted protected names costs an exec call (``sandbox/watch.py``, ``sandbox/planted.py``).

Run: ``python benchmarks/bench_exec_watch.py [folders]`` (default 5,000 folders, 4 files each: a project with a
modest ``node_modules``). Measured in one run, on a tree in a temp dir under the current folder:

* set-up: the first call's watch of every folder (once per workspace and process);
* per call with nothing changed: ``begin`` + ``end`` + judging (what every later exec call pays);
* per call after the child made a repository in a new folder (``git init``'s ~20 entries);
* the walk the watch replaces (what every call would pay without it, and pays when the account is incomplete).
"""

from __future__ import annotations

import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _util import print_table  # noqa: E402

from pi_sandbox.sandbox.planted import judge, walk_recent  # noqa: E402
from pi_sandbox.sandbox.protected import ProtectedNames  # noqa: E402
from pi_sandbox.sandbox.watch import Watcher  # noqa: E402


def _tree(root: Path, folders: int) -> None:
    for i in range(folders):
        folder = root / "node_modules" / f"p{i // 100}" / f"m{i % 100}"
        folder.mkdir(parents=True, exist_ok=True)
        for j in range(4):
            (folder / f"f{j}.js").write_text("x\n")


def main() -> None:
    folders = int(sys.argv[1]) if len(sys.argv) > 1 else 5000
    base = Path(tempfile.mkdtemp(prefix="bench-watch-", dir="."))
    try:
        ws = base / "ws"
        _tree(ws, folders)
        root, names = str(ws.resolve()), ProtectedNames()
        watcher = Watcher()
        start = time.perf_counter()
        watcher.begin(root)
        setup_ms = (time.perf_counter() - start) * 1000
        watcher.end(root)
        idle = []
        for _ in range(200):
            start = time.perf_counter()
            watcher.begin(root)
            touched, _walk = watcher.end(root)
            judge(root, touched, names)
            idle.append((time.perf_counter() - start) * 1e6)
        made = []
        for n in range(20):
            watcher.begin(root)
            subprocess.run(["git", "init", "-q", str(ws / f"new{n}")], check=True)
            start = time.perf_counter()
            touched, _walk = watcher.end(root)
            judge(root, touched, names)
            made.append((time.perf_counter() - start) * 1000)
        walks = []
        for _ in range(5):
            start = time.perf_counter()
            walk_recent(root, time.time_ns(), names)
            walks.append((time.perf_counter() - start) * 1000)
        print_table(f"planted-name watch: {folders:,} folders, {folders * 4:,} files", [
            ("set-up: watch every folder, once (ms)", f"{setup_ms:.1f}", ""),
            ("per call, nothing changed: median (us)", f"{statistics.median(idle):.1f}", ""),
            ("per call after `git init` in a new folder: median (ms)", f"{statistics.median(made):.2f}", ""),
            ("the walk it replaces, per call: median (ms)", f"{statistics.median(walks):.1f}", ""),
        ])
    finally:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
