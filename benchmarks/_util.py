"""Small shared helpers for the benchmark scripts: percentiles and table printing."""

from __future__ import annotations

import statistics
from collections.abc import Sequence


def percentile(samples: Sequence[float], q: float) -> float:
    """The q-th percentile (0–100) by nearest rank."""
    ordered = sorted(samples)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def median(samples: Sequence[float]) -> float:
    return statistics.median(samples)


def print_table(title: str, rows: list[tuple[str, str, str]]) -> None:
    """Print ``(metric, value, target)`` rows under a title."""
    width = max(len(r[0]) for r in rows)
    vwidth = max(len(r[1]) for r in rows)
    print(f"\n== {title} ==")
    print(f"{'metric'.ljust(width)}  {'value'.rjust(vwidth)}  target")
    for metric, value, target in rows:
        print(f"{metric.ljust(width)}  {value.rjust(vwidth)}  {target}")
