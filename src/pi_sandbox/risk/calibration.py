"""The threshold: split-conformal calibration on benign traffic, per window of ``windowSize`` calls.

**Method.** Benign traces (``benign.py``) are replayed through the controller; each trace is cut into
consecutive blocks of ``windowSize`` scored calls and the *largest* score of each block is kept:
``S_1 … S_n``. For a new block of benign calls with largest score ``s`` the conformal p-value is
``p = (1 + #{i : S_i ≥ s}) / (n + 1)``; if the new block is exchangeable with the calibration blocks,
``P(p ≤ α) ≤ α``. A call is refused when its score exceeds ``τ(α)``, the ``k``-th largest ``S_i`` with
``k = ⌊α(n + 1)⌋``, which is exactly ``p(score) ≤ α``. So the probability that a benign window of
``windowSize`` calls sees *any* false alarm is at most ``α`` — and the false-alarm rate per call is
at most ``α`` too (a window holds at most ``windowSize`` alarms out of ``windowSize`` calls).

With fewer than ``1/α − 1`` blocks no threshold can certify ``α``; then the largest benign maximum
is used and :meth:`Calibration.effective_alpha` says what is certified (``1/(n + 1)``).

The calibration for the default window size is shipped (``calibration.json``, rebuilt with
``python -m pi_sandbox.risk.calibrate``; a test checks it is what the code computes); another window
size is computed once per process, deterministically, the first time it is needed.
"""

from __future__ import annotations

import bisect
import functools
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from pi_sandbox import schemas
from pi_sandbox.errors import ConfigError

DATA_FILE: Final = Path(__file__).with_name("calibration.json")


@dataclass(frozen=True)
class Calibration:
    """Benign window maxima for one window size: distinct values ascending, with counts."""

    window_size: int
    values: tuple[float, ...]
    counts: tuple[int, ...]
    #: Where it came from (``shipped`` or ``computed``) and how it was generated.
    source: str = "shipped"
    generator: Mapping[str, Any] = field(default_factory=dict)
    _at_least: tuple[int, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if len(self.values) != len(self.counts) or not self.values or list(self.values) != sorted(set(self.values)):
            raise ConfigError("risk calibration data is malformed (values must be distinct, ascending, with counts)")
        at_least, total = [], 0
        for count in reversed(self.counts):
            total += count
            at_least.append(total)
        object.__setattr__(self, "_at_least", tuple(reversed(at_least)))

    @classmethod
    def from_maxima(cls, window_size: int, maxima: Sequence[float], source: str = "computed",
                    generator: Mapping[str, Any] | None = None) -> Calibration:
        """From the raw block maxima."""
        counts: dict[float, int] = {}
        for value in maxima:
            counts[value] = counts.get(value, 0) + 1
        values = tuple(sorted(counts))
        return cls(window_size, values, tuple(counts[v] for v in values), source, dict(generator or {}))

    @property
    def windows(self) -> int:
        """How many benign windows (``n``)."""
        return self._at_least[0]

    def p_value(self, score: float) -> float:
        """The conformal p-value of ``score``: ``(1 + #{S_i ≥ score}) / (n + 1)``."""
        i = bisect.bisect_left(self.values, score)
        at_least = self._at_least[i] if i < len(self.values) else 0
        return (1 + at_least) / (self.windows + 1)

    def threshold(self, alpha: float) -> float:
        """``τ(α)``: refuse a score above it (``p ≤ α``); the largest benign maximum when ``α`` is too small."""
        k = max(math.floor(alpha * (self.windows + 1) + 1e-9), 1)
        # the k-th largest maximum: the smallest value with at most k - 1 maxima above it
        for i in range(len(self.values) - 1, -1, -1):
            if self._at_least[i] >= k:
                return self.values[i]
        return self.values[0]

    def effective_alpha(self, alpha: float) -> float:
        """The false-alarm bound actually certified for ``alpha`` (larger only when ``alpha < 1/(n+1)``)."""
        return max(alpha, 1 / (self.windows + 1))

    def to_json(self) -> dict[str, Any]:
        """The shipped file's content."""
        return {"schema": schemas.RISK_CALIBRATION, "window_size": self.window_size, "windows": self.windows,
                "generator": dict(self.generator), "maxima": [[v, c] for v, c in zip(self.values, self.counts,
                                                                                  strict=True)]}

    @classmethod
    def from_json(cls, data: Mapping[str, Any], source: str = "shipped") -> Calibration:
        """Read the shipped file's content."""
        if data.get("schema") != schemas.RISK_CALIBRATION:
            raise ConfigError(f"risk calibration data has schema {data.get('schema')!r}, "
                              f"expected {schemas.RISK_CALIBRATION!r}")
        pairs = data["maxima"]
        return cls(int(data["window_size"]), tuple(float(v) for v, _ in pairs), tuple(int(c) for _, c in pairs),
                   source, dict(data.get("generator", {})))


@functools.lru_cache(maxsize=1)
def shipped() -> Calibration:
    """The calibration shipped with the package."""
    try:
        return Calibration.from_json(json.loads(DATA_FILE.read_text(encoding="utf-8")))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"cannot read the risk calibration {DATA_FILE}: {exc}; reinstall pi-sandbox or rebuild "
                          "it with `python -m pi_sandbox.risk.calibrate`") from exc
