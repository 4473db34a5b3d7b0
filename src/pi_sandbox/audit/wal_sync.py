"""What the store has committed and what is synced to disk; the fdatasync of the WAL; the flusher.

Every committed write transaction is counted (:meth:`WalSync.committed`); a sync (one fdatasync of the
WAL file) covers everything committed before it started, and syncs in flight coalesce. A failed sync
fails closed: the kernel may already have dropped the unsynced pages (the PostgreSQL "fsyncgate"
lesson), so no later sync is trusted. The background flusher (:func:`start_flusher`) syncs what is
pending at most every ``flush_interval_s`` and runs the WAL checkpoints (:class:`WalCheckpointer`), so
that no appender pays for them (``docs/ledger.md``, *Durability*).
"""

from __future__ import annotations

import sqlite3
import threading
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import Final, Protocol

from pi_sandbox.audit.chain import GENESIS
from pi_sandbox.errors import AuditStoreError

#: Group commit of the entries that need no sync of their own: the flusher syncs what is pending at
#: most this often (the power-loss window of reads, denials, log/ui, alerts and telemetry) ...
DEFAULT_FLUSH_INTERVAL_S: Final = 0.05
#: ... or as soon as this many commits are pending, whichever comes first.
DEFAULT_FLUSH_MAX_COMMITS: Final = 1000
#: WAL checkpoints (copying the WAL into the database file, with two fsyncs) run on the flusher thread
#: once this many commits have accumulated since the last one, so that no appender pays for one: with
#: SQLite's automatic checkpoint, every ~200th append stalled for two fsyncs (mean commit 100 -> 46 µs).
WAL_CHECKPOINT_COMMITS: Final = 200


class SyncTarget(Protocol):
    """What :class:`WalSync` calls on its store (looked up on each sync: tests model a power loss by
    replacing ``_fsync_wal``)."""

    def _fsync_wal(self) -> None:
        """fdatasync the WAL file."""
        ...

    def _head_synced(self, seq: int, head: str) -> None:
        """The head a sync made durable, after it returned."""
        ...


class WalSync:
    """Commit and sync accounting of one store."""

    def __init__(self, wal_path: Path, target: SyncTarget) -> None:
        self.wal_path = wal_path
        #: Held weakly: the sync state must not keep a store nobody closed alive (see flush_loop).
        self._target = weakref.ref(target)
        #: Every committed write transaction of the store, and the ledger head after the newest one.
        self.commit_count = 0
        self.committed: tuple[int, str] = (0, GENESIS)
        self._lock = threading.Lock()
        self.synced_commits = 0
        self.synced: tuple[int, str] = (0, GENESIS)
        #: Set when an fdatasync failed: every later sync is refused (fail closed).
        self.error: str | None = None
        #: Number of syncs (fdatasync of the WAL) so far.
        self.syncs = 0

    def start_at(self, head: tuple[int, str]) -> None:
        """The head found on open: on disk already."""
        self.committed = self.synced = head

    @property
    def pending(self) -> int:
        """Commits not yet covered by a sync."""
        return self.commit_count - self.synced_commits

    def sync_to(self, commit_no: int) -> None:
        """Make commits 1..``commit_no`` durable; a sync that started after them covers them.

        Raises :class:`AuditStoreError` when the sync fails — then, and from then on, nothing that
        needs a sync may proceed."""
        with self._lock:
            if self.error is not None:
                raise AuditStoreError(self.error)
            if self.synced_commits >= commit_no:
                return  # a sync that started after our commit covered it
            # Read before the fdatasync starts: everything committed by now is in the WAL file.
            target_commits, target_head = self.commit_count, self.committed
            target = self._target()
            if target is None:
                raise AuditStoreError("the audit store is closed")
            try:
                target._fsync_wal()
            except OSError as exc:
                self.error = (
                    f"syncing the audit database {self.wal_path} failed ({exc.strerror or exc}); entries written "
                    "since the last sync may not survive a power loss, so calls with effects are refused. Check "
                    "the disk (dmesg), then restart pi-sandbox"
                )
                raise AuditStoreError(self.error) from None
            self.synced_commits, self.synced = target_commits, target_head
            self.syncs += 1
        target._head_synced(*target_head)

    def sync(self) -> None:
        """Sync everything committed so far (a no-op when nothing is pending)."""
        self.sync_to(self.commit_count)


class WalCheckpointer:
    """Copies the WAL into the database file (``PASSIVE``: never blocks an appender) on its own connection,
    every :data:`WAL_CHECKPOINT_COMMITS` commits. A failure only leaves the WAL longer: the writer
    connection's automatic checkpoint bounds it."""

    def __init__(self, db_path: Path) -> None:
        self._db_path = db_path
        self._conn: sqlite3.Connection | None = None
        self._at_commit = 0

    def maybe_checkpoint(self, commit_count: int) -> None:
        """Checkpoint when enough commits accumulated since the last time."""
        if commit_count - self._at_commit < WAL_CHECKPOINT_COMMITS:
            return
        self._at_commit = commit_count
        try:
            if self._conn is None:
                self._conn = sqlite3.connect(self._db_path, timeout=0, isolation_level=None,
                                             check_same_thread=False)
                self._conn.execute("PRAGMA synchronous=NORMAL")
            self._conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        except sqlite3.Error:
            pass

    def close(self) -> None:
        """Close its connection."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None


class Flushable(Protocol):
    """What the flusher calls each round."""

    def _flush_pending(self) -> bool:
        ...


def flush_loop(ref: Callable[[], Flushable | None], wake: threading.Event, interval_s: float) -> None:
    """The background group commit: a round every ``interval_s`` (or when woken) until the store is closed.

    ``ref`` is a weak reference: between rounds the store is held only weakly, so a store nobody closed is
    still collected (its connection closed), and the thread ends with it."""
    while True:
        wake.wait(interval_s)
        wake.clear()
        store = ref()
        if store is None or not store._flush_pending():
            return
        del store
