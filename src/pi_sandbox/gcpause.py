"""How long the interpreter's garbage collector has paused this process, so time budgets can leave it out.

A full collection of a large heap takes tens of milliseconds of CPU on whichever thread triggered it, with
every other thread waiting for the GIL. A budget that fails closed (the risk controller's
``decisionTimeoutMs``) must not refuse a call because the collector happened to run during it: that is
neither the controller being slow nor anything an extension can be blamed for. The total is kept by a
``gc.callbacks`` hook installed on first use (two clock reads per collection).
"""

from __future__ import annotations

import gc
import threading
import time
from typing import Any

_lock = threading.Lock()
_installed = False
_total_s = 0.0
_started = 0.0


def _on_gc(phase: str, _info: dict[str, Any]) -> None:
    global _total_s, _started
    if phase == "start":
        _started = time.perf_counter()
    elif _started:
        _total_s += time.perf_counter() - _started
        _started = 0.0


def paused_s() -> float:
    """Seconds the garbage collector has paused this process since the hook was installed (monotonic)."""
    global _installed
    if not _installed:
        with _lock:
            if not _installed:
                gc.callbacks.append(_on_gc)
                _installed = True
    return _total_s
