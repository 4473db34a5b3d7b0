"""How a running session learns, within 100 ms, that an operator changed trust or a kill switch.

The operator's command runs in another process. It appends its ledger entry, then bumps the control
signal (a small file in the state dir, replaced atomically). Every session polls that file's identity
(inode, size, mtime) every ``POLL_S`` seconds on a background thread and, when it changed, reloads
trust and kill switches from the ledger and tells its listeners (which kill workers and children).
The trust stage also looks before deciding each hostcall (one ``stat``), so a call decided after the
operator's command returned is refused even when the poller has not run yet.
"""

from __future__ import annotations

import os
import secrets
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Final

SIGNAL_FILE: Final = "control.signal"
#: How often a session looks at the signal file (bounds the time-to-effect of a kill switch).
POLL_S: Final = 0.02


def bump(state_dir: Path) -> None:
    """Tell every session on ``state_dir`` that trust or a kill switch changed."""
    path = state_dir / SIGNAL_FILE
    tmp = state_dir / f".{SIGNAL_FILE}.{secrets.token_hex(4)}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, secrets.token_hex(8).encode())
        # Sessions compare (inode, size, mtime): the replaced file's inode number is often reused and
        # file-system clocks are coarse (one tick: several ms), so only a strictly newer mtime guarantees
        # that no signal looks like one a session has already seen (which would never be applied).
        try:
            before = os.stat(path).st_mtime_ns
        except OSError:
            before = -1
        stamp = max(time.time_ns(), before + 1)
        os.utime(fd, ns=(stamp, stamp))
    finally:
        os.close(fd)
    os.replace(tmp, path)


#: ``os.access`` can check with the effective ids, as ``os.stat`` resolves the path.
_EFFECTIVE_IDS: Final = os.access in os.supports_effective_ids


def _fingerprint(path: str, missing: bool = False) -> tuple[int, int, int] | None:
    """(inode, size, mtime) of the signal file, None when there is none. ``missing``: there was none at the
    last look — most sessions never see a signal, and a failed ``stat`` raises (an exception per hostcall),
    where ``access`` answers no without one."""
    if missing and not os.access(path, os.F_OK, effective_ids=_EFFECTIVE_IDS):
        return None
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_ino, st.st_size, st.st_mtime_ns


class ControlWatcher:
    """A daemon thread that calls ``on_change`` when the signal file changes."""

    def __init__(self, state_dir: Path, on_change: Callable[[], None], interval_s: float = POLL_S) -> None:
        self.path = state_dir / SIGNAL_FILE
        #: The same path as text: ``check`` runs before every decision, and a str needs no ``os.fspath``.
        self._path = os.fspath(self.path)
        self.on_change = on_change
        self.interval_s = interval_s
        self._seen = _fingerprint(self._path)
        self._check_lock = threading.RLock()
        self._reloading = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="pi-control-watcher", daemon=True)
        self._thread.start()

    def check(self) -> None:
        """Apply a change of the signal file now, if there is one (once, whichever thread sees it first).

        A thread that arrives while another one reloads waits for it, so no call is decided on the old
        state; the lock is reentrant so that a decision reached from a listener cannot deadlock. A reload
        that raises leaves the change unseen (it is applied at the next look) and the error propagates.
        """
        seen = self._seen
        if _fingerprint(self._path, seen is None) == seen and not self._reloading:
            return
        with self._check_lock:
            now = _fingerprint(self._path)
            if now == self._seen:
                return
            self._reloading = True
            previous, self._seen = self._seen, now
            try:
                self.on_change()
            except BaseException:
                # Not applied: the next look (the poller, or the trust stage before the next decision) tries
                # again, so no call goes on being decided under the state the operator changed.
                self._seen = previous
                raise
            finally:
                self._reloading = False

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self.check()
            except Exception:  # a listener bug must not stop containment of the next change
                continue

    def stop(self) -> None:
        """Stop polling (the thread ends within one interval)."""
        self._stop.set()
        self._thread.join(timeout=1)
