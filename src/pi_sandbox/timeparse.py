"""Parsing operator-supplied times and durations (``15m``, ``2h``, ISO 8601)."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime

from pi_sandbox.errors import TimeValueError as TimeValueError  # its home was here; kept importable

_DURATION = re.compile(r"^\s*(\d+)\s*(ms|s|m|h|d|w)\s*$")
_UNIT_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000}


#: Longest accepted duration (about 100 years): larger values overflow SQLite's integers and dates.
MAX_DURATION_MS = 100 * 365 * 86_400_000


def parse_duration_ms(text: str) -> int:
    """``15m`` → 900000. Units: ms, s, m, h, d, w."""
    match = _DURATION.match(text)
    if not match:
        raise TimeValueError(f"invalid duration '{text}': use a number and a unit, e.g. 90s, 15m, 2h, 7d")
    value = int(match.group(1)) * _UNIT_MS[match.group(2)]
    if value > MAX_DURATION_MS:
        raise TimeValueError(f"duration '{text.strip()}' is too large (at most about 100 years)")
    return value


def parse_since_ms(text: str, now_ms: int | None = None) -> int:
    """A point in time: a relative duration back from now (``2h``) or an ISO 8601 timestamp."""
    now = int(time.time() * 1000) if now_ms is None else now_ms
    if _DURATION.match(text):
        return now - parse_duration_ms(text)
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise TimeValueError(
            f"invalid time '{text}': use ISO 8601 (2026-11-25T10:00:00Z) or a duration back from now (15m, 2h)"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)
