"""Hardening of the supervisor process itself."""

from __future__ import annotations

import ctypes

_PR_SET_DUMPABLE = 4
_PR_GET_DUMPABLE = 3


def make_undumpable() -> bool:
    """``prctl(PR_SET_DUMPABLE, 0)``: no same-user process may read this process's memory or
    ``/proc/<pid>/environ`` (the supervisor holds every secret the broker withholds), and no core
    dump is written. Children get the flag reset when they ``exec``. Returns whether it is set."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(_PR_SET_DUMPABLE, 0, 0, 0, 0) != 0:
            return False
        return int(libc.prctl(_PR_GET_DUMPABLE, 0, 0, 0, 0)) == 0
    except (OSError, AttributeError):
        return False


def is_dumpable() -> bool:
    """Whether other processes of this user may read this process (``PR_GET_DUMPABLE``)."""
    libc = ctypes.CDLL(None, use_errno=True)
    return int(libc.prctl(_PR_GET_DUMPABLE, 0, 0, 0, 0)) != 0
