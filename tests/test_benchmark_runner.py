"""The benchmark runner passes options with their values to every benchmark (``run.py overhead --rounds 15``)."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType

RUNNER = Path(__file__).resolve().parents[1] / "benchmarks" / "run.py"


def _runner() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_runner", RUNNER)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_option_values_are_not_taken_for_benchmark_names() -> None:
    split = _runner().split_arguments
    known = {"overhead", "ledger"}
    assert split(["overhead", "--json", "--rounds", "15"], known) == (["overhead"], ["--json", "--rounds", "15"])
    assert split(["--rounds=3", "ledger"], known) == (["ledger"], ["--rounds=3"])
    assert split(["--rounds", "3", "ledger", "overhead"], known) == (["ledger", "overhead"], ["--rounds", "3"])
    assert split(["overhead", "--json", "ledger"], known) == (["overhead", "ledger"], ["--json"])


def test_unknown_benchmark_is_a_clear_error() -> None:
    done = subprocess.run([sys.executable, str(RUNNER), "no-such-bench"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "unknown benchmark(s) no-such-bench" in done.stderr and "overhead" in done.stderr
