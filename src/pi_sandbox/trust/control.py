"""How a running session learns, within 100 ms, that an operator changed trust or a kill switch.

The operator's command runs in another process. It appends its ledger entry, then bumps the control
signal: a small file in the state dir whose 16-byte token it overwrites in place (never replaced, so every
session keeps the same file) with a fresh random value and a strictly newer mtime. Every session maps that
file into memory when it starts and compares the token before deciding each hostcall (the trust stage): a
memory read, no system call, so a call decided after the operator's command returned is refused. A
background thread also looks at the file's identity (inode, size, mtime) every ``POLL_S`` seconds; on any
change — the token, or a file that was replaced or deleted and recreated, which the mapping cannot see — it
maps the file again, reloads trust and kill switches from the ledger and tells its listeners (which kill
workers and children). Where the file cannot be mapped, the per-call look is one ``stat`` instead.
"""

from __future__ import annotations

import mmap
import os
import secrets
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Final

SIGNAL_FILE: Final = "control.signal"
#: Bytes of the token at the start of the signal file (16 hex digits).
TOKEN_BYTES: Final = 16
#: How often a session looks at the signal file (bounds the time-to-effect of a kill switch).
POLL_S: Final = 0.02


def bump(state_dir: Path) -> None:
    """Tell every session on ``state_dir`` that trust or a kill switch changed.

    The token is written in place: sessions have the file mapped, and a replaced file would only reach them
    through the poller. It is never truncated (a mapped file that shrinks under its readers faults them)."""
    path = state_dir / SIGNAL_FILE
    try:
        fd = _open_signal(path)
    except OSError:  # not a plain file (a link, a folder): replaced; sessions' pollers see the new one
        fd = os.open(tmp := state_dir / f".{SIGNAL_FILE}.{secrets.token_hex(4)}",
                     os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        os.replace(tmp, path)
    try:
        # Sessions' pollers compare (inode, size, mtime): file-system clocks are coarse (one tick: several
        # ms), so only a strictly newer mtime guarantees that no signal looks like one already seen.
        before = os.fstat(fd).st_mtime_ns
        os.pwrite(fd, secrets.token_hex(TOKEN_BYTES // 2).encode(), 0)
        stamp = max(time.time_ns(), before + 1)
        os.utime(fd, ns=(stamp, stamp))
    finally:
        os.close(fd)


def _open_signal(path: Path) -> int:
    """The signal file opened for reading and writing, created (zeros) if missing and at least a token long."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    try:
        if os.fstat(fd).st_size < TOKEN_BYTES:
            os.ftruncate(fd, TOKEN_BYTES)  # only ever grows it (an empty file from an interrupted first bump)
    except BaseException:
        os.close(fd)
        raise
    return fd


def _map_signal(path: Path) -> tuple[mmap.mmap, int] | None:
    """The signal file's token mapped read-only and the file's inode, or None when the file cannot be made or
    mapped (a read-only state dir, a file system without shared mappings): the look before each decision is
    a ``stat`` then."""
    try:
        fd = _open_signal(path)
    except OSError:
        return None
    try:
        return mmap.mmap(fd, TOKEN_BYTES, flags=mmap.MAP_SHARED, prot=mmap.PROT_READ), os.fstat(fd).st_ino
    except (OSError, ValueError):
        return None
    finally:
        os.close(fd)  # the mapping keeps the file


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
    """A daemon thread that calls ``on_change`` when the signal file changes; ``check`` looks at once."""

    def __init__(self, state_dir: Path, on_change: Callable[[], None], interval_s: float = POLL_S) -> None:
        self.path = state_dir / SIGNAL_FILE
        #: The same path as text: a str needs no ``os.fspath`` per look.
        self._path = os.fspath(self.path)
        self.on_change = on_change
        self.interval_s = interval_s
        #: The mapped token (None: the per-call look is a ``stat``), and the inode it maps.
        mapped = _map_signal(self.path)
        self._map: mmap.mmap | None = None
        self._mapped_ino: int | None = None
        if mapped is not None:
            self._map, self._mapped_ino = mapped
        self._seen = _fingerprint(self._path)
        self._token = self._map[:TOKEN_BYTES] if self._map is not None else None
        self._check_lock = threading.RLock()
        self._reloading = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="pi-control-watcher", daemon=True)
        self._thread.start()

    def check(self) -> None:
        """Apply a signalled change now, if there is one (once, whichever thread sees it first): the look the
        trust stage takes before every decision. With the file mapped it compares the token (a memory read);
        a file replaced under the mapping is the poller's to find (``poll``).

        A thread that arrives while another one reloads waits for it, so no call is decided on the old
        state; the lock is reentrant so that a decision reached from a listener cannot deadlock. A reload
        that raises leaves the change unseen (it is applied at the next look) and the error propagates.
        """
        mapped = self._map
        if mapped is not None:
            if mapped[:TOKEN_BYTES] == self._token and not self._reloading:
                return
        elif _fingerprint(self._path, self._seen is None) == self._seen and not self._reloading:
            return
        self._apply()

    def poll(self) -> None:
        """``check``, and also the file's identity: a replaced or recreated file is mapped again."""
        mapped = self._map
        if _fingerprint(self._path, self._seen is None) == self._seen and not self._reloading and (
                mapped is None or mapped[:TOKEN_BYTES] == self._token):
            return
        self._apply()

    def _apply(self) -> None:
        with self._check_lock:
            now = _fingerprint(self._path)
            mapped, mapped_ino = self._map, self._mapped_ino
            if now is not None and now[0] != mapped_ino:  # first seen, or replaced: map the file there now
                remapped = _map_signal(self.path)
                if remapped is not None:
                    mapped, mapped_ino = remapped
            token = mapped[:TOKEN_BYTES] if mapped is not None else None
            if now == self._seen and token == self._token and mapped is self._map:
                return
            self._reloading = True
            previous = self._seen, self._token, self._map, self._mapped_ino
            self._seen, self._token, self._map, self._mapped_ino = now, token, mapped, mapped_ino
            try:
                self.on_change()
            except BaseException:
                # Not applied: the next look (the poller, or the trust stage before the next decision) tries
                # again, so no call goes on being decided under the state the operator changed.
                self._seen, self._token, self._map, self._mapped_ino = previous
                raise
            finally:
                self._reloading = False

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self.poll()
            except Exception:  # a listener bug must not stop containment of the next change
                continue

    def stop(self) -> None:
        """Stop polling (the thread ends within one interval)."""
        self._stop.set()
        self._thread.join(timeout=1)
