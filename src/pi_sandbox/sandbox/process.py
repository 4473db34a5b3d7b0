"""Hardening of the supervisor process itself, and waiting for its exec children."""

from __future__ import annotations

import ctypes
import math
import os
import select
import subprocess
import time

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


def wait_exit(proc: subprocess.Popen[bytes], timeout_s: float) -> bool:
    """Wait until ``proc`` exits (and reap it); False when ``timeout_s`` passed first.

    ``Popen.wait(timeout)`` polls with sleeps that double up to 50 ms, so a command that took 16 ms
    was noticed at 31.5 ms; a pidfd becomes readable the moment the process exits. Where pidfds are
    missing (Linux < 5.3, or the child was reaped already) this falls back to ``Popen.wait``.
    """
    if proc.returncode is not None:
        return True  # reaped already: its pid may belong to another process by now
    try:
        fd = os.pidfd_open(proc.pid)
    except (AttributeError, OSError):
        try:
            proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            return False
        return True
    try:
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        deadline = time.monotonic() + timeout_s
        while not poller.poll(max(0, math.ceil((deadline - time.monotonic()) * 1000))):
            if time.monotonic() >= deadline:
                return proc.poll() is not None
    finally:
        os.close(fd)
    proc.wait()
    return True
