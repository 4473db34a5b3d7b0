"""Time a person takes to answer does not count against a hostcall's deadline.

A hostcall's deadline (``extensionRuntime.hostcallDeadlineMs``) bounds host *work*: 2 s is plenty to
read an env var, but nobody answers a permission prompt or a confirm dialog that fast. The runtime's
lane marks the thread that carries out a call with hooks that stop and restart that call's clock; the
policy prompt and the UI dialogs wrap their wait in :func:`waiting_for_a_person`. The wait itself stays
bounded by the prompt's own timeout (``prompt_timeout_ms``; no answer = deny).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

_local = threading.local()


@contextmanager
def deadline_clock(pause: Callable[[], None], resume: Callable[[], None]) -> Iterator[None]:
    """Run a hostcall on this thread with ``pause``/``resume`` as its deadline clock's controls."""
    previous = getattr(_local, "clock", None)
    _local.clock = (pause, resume)
    try:
        yield
    finally:
        _local.clock = previous


@contextmanager
def waiting_for_a_person() -> Iterator[None]:
    """Stop the current hostcall's deadline clock while a person is being asked (no-op off a lane)."""
    clock = getattr(_local, "clock", None)
    if clock is None:
        yield
        return
    pause, resume = clock
    pause()
    try:
        yield
    finally:
        resume()
