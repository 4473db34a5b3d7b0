"""The audit store: one SQLite file (``security.db``) holding the hash-chained ledger, its signed
checkpoints, security alerts and typed side records.

Durability comes in two classes (the auditd ``flush = incremental_async`` model; ``docs/ledger.md``):

* every entry is **written** (its transaction committed, its WAL frames in the file) before
  :meth:`AuditStore.append` returns, so an acknowledged entry survives ``kill -9`` — that needs no fsync;
* an entry appended with ``sync=True`` (the hostcall classes whose effect is visible outside the
  supervisor) is also **synced** (the WAL fdatasync'ed) before ``append`` returns, and one sync covers
  everything committed before it. Everything else is synced by the background group commit: a flusher
  thread syncs what is pending at most every ``flush_interval_s`` or after ``flush_max_commits``.

Who commits when is :mod:`.group_commit` (tickets, leader hand-off, sibling wait); what is committed and
synced is :mod:`.wal_sync`; alerts and side records are :mod:`.side_records`. This module writes the
chain: each group in one ``BEGIN IMMEDIATE`` transaction, checkpoints, the anchor hooks, open and close.

Several processes may write the same file (a CLI while a host runs): a store chains onto the head it
committed last, and ``ledger.seq`` is unique, so when another connection appended in between the first
insert fails inside the ``BEGIN IMMEDIATE`` transaction (which holds SQLite's write lock) and the
commit starts over on the head read there: two writers never chain onto the same head.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import weakref
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Final

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from pi_sandbox.audit import merkle, recovery, signing
from pi_sandbox.audit.anchor import AnchorKeeper
from pi_sandbox.audit.chain import checkpoint_payload, hash_from_parts
from pi_sandbox.audit.db import (
    DB_FILE,
    FORENSIC_COLUMN,
    WAL_SUFFIX,
    connect,
    corrupt_error,
    ensure_state_dir,
    meta_value,
    new_ledger_id,
    seq_is_unique,
)
from pi_sandbox.audit.group_commit import DEFAULT_COMMIT_DELAY_S, Committed, GroupCommit, Ticket
from pi_sandbox.audit.queries import LEDGER_COLUMNS, AuditQueries, entry_from_row, ledger_head, merkle_frontier
from pi_sandbox.audit.records import LedgerEntry, LedgerEntryDraft, now_ms, prepare_with_forensics
from pi_sandbox.audit.side_records import INSERT_RECORD, PendingRecord, SideRecords
from pi_sandbox.audit.wal_sync import (
    DEFAULT_FLUSH_INTERVAL_S,
    DEFAULT_FLUSH_MAX_COMMITS,
    WalCheckpointer,
    WalSync,
    flush_loop,
)
from pi_sandbox.errors import AuditStoreError

__all__ = ["DEFAULT_CHECKPOINT_INTERVAL", "DEFAULT_COMMIT_DELAY_S", "DEFAULT_FLUSH_INTERVAL_S",
           "DEFAULT_FLUSH_MAX_COMMITS", "AuditStore"]

DEFAULT_CHECKPOINT_INTERVAL: Final = 1000
#: The writer connection's own automatic checkpoint stays on as a bound on the WAL (pages of 1 KiB)
#: should the flusher fall behind (or a reader keep an old snapshot open).
_WRITER_AUTOCHECKPOINT_PAGES: Final = 20000

#: The entry's forensic record goes in its own row (schema 2; ``connect`` migrates every writable database).
_INSERT_ENTRY: Final = (f"INSERT INTO ledger({LEDGER_COLUMNS}, {FORENSIC_COLUMN}) "
                        "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)")


class AuditStore(SideRecords, AuditQueries):
    """Durable, thread-safe audit store in ``<state_dir>/security.db``. Open with :meth:`open`."""

    def __init__(
        self,
        state_dir: Path,
        conn: sqlite3.Connection,
        key: Ed25519PrivateKey | None,
        checkpoint_interval: int,
        commit_delay_s: float = DEFAULT_COMMIT_DELAY_S,
        flush_interval_s: float = DEFAULT_FLUSH_INTERVAL_S,
        flush_max_commits: int = DEFAULT_FLUSH_MAX_COMMITS,
    ) -> None:
        self.state_dir = state_dir
        self.db_path = state_dir / DB_FILE
        self.wal_path = state_dir / (DB_FILE + WAL_SUFFIX)
        self.checkpoint_interval = checkpoint_interval
        self._conn = conn
        #: The writer's own cursor (under ``_db_lock``): ``conn.execute`` makes a new one per statement.
        self._cursor = conn.cursor()
        self._key = key  # None for a read-only store
        self._public_key = signing.public_key_hex(key) if key is not None else ""
        self._db_lock = threading.RLock()
        self._group = GroupCommit(self, commit_delay_s)
        #: The head after this store's last commit, trusted by the next one (see :meth:`_insert_group`)
        #: while ``_seq_unique`` (the database's unique index on ``ledger.seq``) holds; None: read it.
        self._head_hint: tuple[int, str] | None = None
        self._seq_unique = False
        self._conn_open = True
        # The head anchor outside the database (audit/anchor.py) and the writers' lock; set by open().
        self._anchor: AnchorKeeper | None = None
        self._writers_lock: int | None = None
        self.ledger_id = ""
        self.flush_interval_s = flush_interval_s
        self.flush_max_commits = max(1, flush_max_commits)
        self._wal = WalSync(self.wal_path, self)
        self._flush_wake = threading.Event()
        self._flusher: threading.Thread | None = None
        self._checkpointer = WalCheckpointer(self.db_path)
        #: Side records queued by record_later(), written by the next commit (whichever thread leads it).
        self._pending_records: list[PendingRecord] = []
        self._records_lock = threading.Lock()
        #: Interval checkpoints waiting for the flusher to seal them (see seal_later; under ``_records_lock``),
        #: and the seq of the newest seal written.
        self._seals_due: list[tuple[int, str]] = []
        self._sealed_seq = 0

    @property
    def group_commits(self) -> int:
        """Number of group-commit transactions so far (entries per commit = batching efficiency)."""
        return self._group.group_commits

    @property
    def syncs(self) -> int:
        """Number of syncs (fdatasync of the WAL) so far."""
        return self._wal.syncs

    @property
    def commit_delay_s(self) -> float:
        """The most a group-commit leader waits for active siblings."""
        return self._group.commit_delay_s

    def _closing(self) -> bool:
        return self._group.closed

    @classmethod
    def open(
        cls,
        state_dir: Path,
        *,
        checkpoint_interval: int = DEFAULT_CHECKPOINT_INTERVAL,
        commit_delay_s: float = DEFAULT_COMMIT_DELAY_S,
        anchor_copy: Path | None = None,
        flush_interval_s: float = DEFAULT_FLUSH_INTERVAL_S,
        flush_max_commits: int = DEFAULT_FLUSH_MAX_COMMITS,
    ) -> AuditStore:
        """Open (creating if needed) the store in ``state_dir``.

        ``checkpoint_interval``: entries between signed checkpoints. ``commit_delay_s``: the most a
        group-commit leader of entries that need a sync waits for active sibling threads to join its
        transaction (0 disables). ``anchor_copy``: a file that every seal of the head anchor is also
        appended to. ``flush_interval_s`` / ``flush_max_commits``: the background group commit syncs
        what is pending at most this often / once this many commits are pending.

        Raises :class:`StateDirError` for an unusable state dir, :class:`SigningKeyError` for an
        unsafe or damaged key file, :class:`LedgerCorruptError` for a damaged database (which is
        never modified) and :class:`LedgerRollbackError` when the database is older than its anchor
        (see :mod:`.recovery`; an unsealed tail left by a crash is sealed here).
        """
        if checkpoint_interval < 1:
            raise AuditStoreError("checkpoint_interval must be at least 1")
        state_dir = Path(state_dir)
        ensure_state_dir(state_dir)
        key = signing.load_or_create_signing_key(state_dir)
        recovery.check_before_open(state_dir, anchor_copy, signing.public_key_hex(key))
        if flush_interval_s <= 0:
            raise AuditStoreError("flush_interval_s must be positive")
        store = cls(state_dir, connect(state_dir / DB_FILE), key, checkpoint_interval, max(0.0, commit_delay_s),
                    flush_interval_s, flush_max_commits)
        try:
            with store._db() as conn:
                conn.execute(f"PRAGMA wal_autocheckpoint={_WRITER_AUTOCHECKPOINT_PAGES}")
            with store._write_tx() as conn:
                conn.execute("INSERT OR IGNORE INTO meta(key, value) VALUES ('ledger_id', ?)", (new_ledger_id(),))
            store.ledger_id = store.meta("ledger_id") or ""
            with store._db() as conn:
                store._wal.start_at(ledger_head(conn))
                store._seq_unique = seq_is_unique(conn)
            store._writers_lock = recovery.attach(store, anchor_copy)
            store.sync()
        except BaseException:
            store._release()
            raise
        store._flusher = threading.Thread(target=flush_loop, args=(weakref.ref(store), store._flush_wake,
                                                                   store.flush_interval_s),
                                          name="pi-ledger-flusher", daemon=True)
        store._flusher.start()
        return store

    @classmethod
    def open_read_only(cls, state_dir: Path) -> AuditStore:
        """Open an existing store for queries only: creates nothing, needs no signing key, writes nothing.

        For operator commands (``pi-sandbox security ledger show``) that must not seal or alter the ledger.
        """
        state_dir = Path(state_dir)
        db_path = state_dir / DB_FILE
        if not db_path.is_file():
            if db_path.exists():
                raise AuditStoreError(f"audit database {db_path} is not a file; move it aside or fix PI_SECURITY_DIR")
            raise AuditStoreError(f"no audit database at {db_path}: nothing has been recorded yet")
        return cls(state_dir, connect(db_path, read_only=True), None, DEFAULT_CHECKPOINT_INTERVAL)

    def __enter__(self) -> AuditStore:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # --- plumbing -------------------------------------------------------------------------

    @contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        """The connection under the store lock, with SQLite failures mapped to typed errors."""
        with self._db_lock:
            if not self._conn_open:
                raise AuditStoreError("the audit store is closed")
            try:
                yield self._conn
            except sqlite3.OperationalError as exc:
                raise AuditStoreError(f"audit database {self.db_path}: {exc}") from None
            except sqlite3.DatabaseError as exc:
                raise corrupt_error(self.db_path, exc) from None

    @contextmanager
    def _write_tx(self) -> Iterator[sqlite3.Connection]:
        """``BEGIN IMMEDIATE`` ... ``COMMIT`` (the durable point), rolled back on any failure."""
        if self._key is None:
            raise AuditStoreError(f"the audit store {self.db_path} was opened read-only")
        with self._db() as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            self._wal.commit_count += 1

    # --- what the anchor (audit/anchor.py, audit/recovery.py) needs --------------------------

    @property
    def signing_key(self) -> Ed25519PrivateKey:
        """The ledger signing key (writable stores only)."""
        if self._key is None:
            raise AuditStoreError(f"the audit store {self.db_path} was opened read-only")
        return self._key

    def attach_anchor(self, keeper: AnchorKeeper) -> None:
        """From now on, every commit moves the head anchor and every checkpoint seals it."""
        self._anchor = keeper

    def _seal(self, seq: int, head: str, reason: str) -> None:
        if self._anchor is None:
            return
        try:
            self._anchor.seal(seq, head, reason)
            self._sealed_seq = max(self._sealed_seq, seq)
        except OSError as exc:
            raise AuditStoreError(
                f"checkpoint {seq} was written but its anchor could not be ({exc.strerror or exc}); "
                f"check that {self.state_dir} and the anchor copy are writable"
            ) from None

    def meta(self, key: str) -> str | None:
        """A value of the database's ``meta`` table."""
        with self._db() as conn:
            return meta_value(conn, key)

    def set_meta(self, key: str, value: str) -> None:
        """Set a ``meta`` value durably (synced before this returns)."""
        with self._write_tx() as conn:
            conn.execute("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", (key, value))
        self.sync()

    def _insert_checkpoint(self, conn: sqlite3.Connection, seq: int, head: str, reason: str) -> None:
        if self._key is None:  # unreachable: _write_tx refuses read-only stores
            raise AuditStoreError("cannot sign a checkpoint without the signing key")
        ts = now_ms()
        frontier = merkle_frontier(conn, seq)
        root = merkle.frontier_root(frontier)
        signature = signing.sign(self._key, checkpoint_payload(seq, head, ts, root))
        conn.execute(
            "INSERT INTO ledger_checkpoints(seq, head_hash, ts_ms, reason, public_key, signature, merkle_root, "
            "merkle_frontier) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (seq, head, ts, reason, self._public_key, signature, root, merkle.frontier_to_json(frontier)),
        )

    # --- ledger ---------------------------------------------------------------------------

    def append(self, draft: LedgerEntryDraft, *, sync: bool = True) -> LedgerEntry:
        """Append one entry to the chain; returns once it is committed (survives ``kill -9``) and, with
        ``sync`` (the default), synced to disk (survives power loss) together with everything before it.

        ``sync=False`` is for entries no externally visible effect depends on (reads, denials, log/ui):
        the background group commit syncs them within ``flush_interval_s``."""
        prepared, record = prepare_with_forensics(draft)
        ticket = Ticket([prepared], [record], sync)
        self._group.submit(ticket)
        return self._result(ticket)[0]

    def append_seq(self, draft: LedgerEntryDraft, *, sync: bool = True) -> int:
        """:meth:`append`, returning only the entry's seq: the pipeline needs no :class:`LedgerEntry` object
        per hostcall (building one from the stored row is ~10 % of an append's CPU)."""
        prepared, record = prepare_with_forensics(draft)
        ticket = Ticket([prepared], [record], sync)
        self._group.submit(ticket)
        if ticket.error is not None:
            self._result(ticket)  # raises it
        return int(ticket.rows[0][0])

    def append_many(self, drafts: Sequence[LedgerEntryDraft], *, sync: bool = True) -> list[LedgerEntry]:
        """Append several entries (contiguous seqs, one transaction); returns once committed (and
        synced, with ``sync``)."""
        pairs = [prepare_with_forensics(d) for d in drafts]
        if not pairs:
            return []
        ticket = Ticket([p for p, _ in pairs], [f for _, f in pairs], sync)
        self._group.submit(ticket)
        return self._result(ticket)

    @staticmethod
    def _result(ticket: Ticket) -> list[LedgerEntry]:
        if ticket.error is not None:
            if isinstance(ticket.error, AuditStoreError):
                raise type(ticket.error)(str(ticket.error))
            raise AuditStoreError(f"ledger append failed: {ticket.error}")
        if not ticket.entries:
            ticket.entries = [entry_from_row(r) for r in ticket.rows]
        return ticket.entries

    def write_group(self, batch: list[Ticket]) -> Committed | None:
        """(Group commit.) Write every ticket of ``batch`` in one transaction and give each its rows (or
        its error); side records queued so far ride along.

        Returns the new head and the newest checkpoint written, or None when the transaction failed.
        (No context managers on this path: it runs once per commit with the GIL held.)"""
        rows: list[tuple[Any, ...]] = []
        records: list[PendingRecord] = []
        try:
            if self._key is None:
                raise AuditStoreError(f"the audit store {self.db_path} was opened read-only")
            with self._db_lock:
                if not self._conn_open:
                    raise AuditStoreError("the audit store is closed")
                cursor = self._cursor
                try:
                    written = self._insert_alone(cursor, batch, rows)
                    if written is None:
                        written = self._insert_in_transaction(cursor, batch, rows, records)
                except sqlite3.OperationalError as exc:
                    raise AuditStoreError(f"audit database {self.db_path}: {exc}") from None
                except sqlite3.DatabaseError as exc:
                    raise corrupt_error(self.db_path, exc) from None
                seq, prev, checkpoints = written
                self._wal.commit_count += 1
                self._wal.committed = (seq, prev)
        except BaseException as exc:
            for ticket in batch:
                ticket.error = exc
            if not isinstance(exc, Exception):
                raise
            return None
        if self._seq_unique:
            self._head_hint = (seq, prev)
        if len(batch) == 1:
            batch[0].rows = rows
        else:
            position = 0
            for ticket in batch:
                count = len(ticket.prepared)
                ticket.rows = rows[position:position + count]
                position += count
        return seq, prev, checkpoints[-1] if checkpoints else None

    def _insert_alone(self, cursor: sqlite3.Cursor, batch: list[Ticket],
                      rows: list[tuple[Any, ...]]) -> tuple[int, str, list[tuple[int, str]]] | None:
        """(Lock held.) The common commit — one entry, no checkpoint due, no side record queued, the head
        known — as one ``INSERT`` in autocommit mode: a single statement is its own transaction, so the
        ``BEGIN IMMEDIATE`` and ``COMMIT`` statements (~20 % of SQLite's instructions per append) are not
        needed. None when the commit needs the full transaction (then nothing was written)."""
        head = self._head_hint
        if head is None or len(batch) != 1 or self._pending_records:
            return None
        ticket = batch[0]
        if len(ticket.prepared) != 1:
            return None
        seq = head[0] + 1
        if seq % self.checkpoint_interval == 0:
            return None
        p = ticket.prepared[0]
        before, after = ticket.parts[0]
        digest = hash_from_parts(before, head[1], after, seq, p[0])
        row = (seq, *p, head[1], digest, ticket.forensics[0])
        try:
            cursor.execute(_INSERT_ENTRY, row)
        except sqlite3.IntegrityError as exc:
            if "ledger.seq" in str(exc):
                # Another connection appended since our last commit (the statement rolled itself back):
                # the full transaction reads the real head under the write lock.
                self._head_hint = None
                return None
            raise
        rows.append(row)
        return seq, digest, []

    def _insert_in_transaction(self, cursor: sqlite3.Cursor, batch: list[Ticket], rows: list[tuple[Any, ...]],
                               records: list[PendingRecord]) -> tuple[int, str, list[tuple[int, str]]]:
        """(Lock held.) The batch, its checkpoints and the queued side records in one ``BEGIN IMMEDIATE``
        transaction, chained onto the head hint or (when stale or unknown) the head read under the lock."""
        conn = self._conn
        cursor.execute("BEGIN IMMEDIATE")
        try:
            written = self._insert_group(conn, batch, rows, self._head_hint)
            if written is None:
                # Another connection appended since our last commit: start over on the real head.
                cursor.execute("ROLLBACK")
                cursor.execute("BEGIN IMMEDIATE")
                rows.clear()
                written = self._insert_group(conn, batch, rows, None)
            if written is None:  # unreachable: the head read under the write lock is current
                raise AuditStoreError(f"audit database {self.db_path}: the chain head moved "
                                      "under the write lock")
            if self._pending_records:  # side records ride along (see record_later)
                records.extend(self._take_records())
                cursor.executemany(INSERT_RECORD, records)
            cursor.execute("COMMIT")
        except BaseException:
            self._head_hint = None
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            if records:
                self._put_back_records(records)
            raise
        return written

    def _insert_group(self, conn: sqlite3.Connection, batch: list[Ticket], rows: list[tuple[Any, ...]],
                      head: tuple[int, str] | None) -> tuple[int, str, list[tuple[int, str]]] | None:
        """(In the write transaction.) Chain and insert the batch's entries into ``rows`` and the
        database; returns the new head and the checkpoints written, or None when ``head`` was stale.

        ``head``: the head this store committed last, or None to read it. Reading it costs a query per
        commit; trusting it is safe because ``seq`` is unique: had another connection appended since,
        our first row's seq is taken and the insert fails before anything counts (then: None)."""
        seq, prev = ledger_head(conn) if head is None else head
        checkpoints: list[tuple[int, str]] = []
        interval = self.checkpoint_interval
        for ticket in batch:
            for p, (before, after), record in zip(ticket.prepared, ticket.parts, ticket.forensics, strict=True):
                seq += 1
                digest = hash_from_parts(before, prev, after, seq, p[0])
                rows.append((seq, *p, prev, digest, record))
                if seq % interval == 0:
                    checkpoints.append((seq, digest))
                prev = digest
        try:
            if len(rows) == 1:  # the common case: execute() costs less than executemany()
                conn.execute(_INSERT_ENTRY, rows[0])
            else:
                conn.executemany(_INSERT_ENTRY, rows)
        except sqlite3.IntegrityError as exc:
            if head is not None and "ledger.seq" in str(exc):
                return None
            raise
        for cp_seq, cp_head in checkpoints:
            self._insert_checkpoint(conn, cp_seq, cp_head, "interval")
        return seq, prev, checkpoints

    def make_durable(self, checkpoint: tuple[int, str] | None) -> AuditStoreError | None:
        """(Group commit.) Sync everything committed so far; ``checkpoint`` is sealed by the flusher (see
        :meth:`seal_later`). Returns the error of a failed sync."""
        try:
            self._wal.sync()
        except AuditStoreError as exc:
            return exc
        if checkpoint is not None:
            self.seal_later(checkpoint)
        return None

    def seal_later(self, checkpoint: tuple[int, str]) -> None:
        """(Group commit.) Have the flusher seal ``checkpoint`` (an interval checkpoint just committed) once a
        sync covers it: the seal's signature and its three fsyncs (~1 ms, far more under load) are no
        appender's wait. A crash before the seal leaves what a failed seal always left: the checkpoint in
        the database, an older seal and the head hint, and the next open seals the tail."""
        with self._records_lock:
            self._seals_due.append(checkpoint)
        self._flush_wake.set()

    def _seal_due_checkpoints(self) -> None:
        """(Flusher or close, after a sync.) Seal the interval checkpoints handed over, in order, once on disk."""
        with self._records_lock:
            due, self._seals_due = self._seals_due, []
        if self._anchor is None:
            return
        synced = self._wal.synced[0]
        for seq, head in sorted(due):
            if seq > synced:  # the sync failed: no seal may witness what is not on disk
                with self._records_lock:
                    self._seals_due[:0] = [c for c in due if c[0] >= seq]
                return
            if seq <= self._sealed_seq:  # a newer seal (a manual checkpoint) came first
                continue
            try:
                self._anchor.seal(seq, head, "interval")
                self._sealed_seq = seq
            except OSError:
                pass  # the entries are committed; the next checkpoint or close() seals again

    def acknowledged_unsynced(self) -> None:
        """(Group commit.) Wake the flusher early once ``flush_max_commits`` commits are pending."""
        if self._wal.pending >= self.flush_max_commits:
            self._flush_wake.set()

    # --- sync (durability against power loss) ------------------------------------------------

    @property
    def durable_seq(self) -> int:
        """The newest ledger seq known to be synced to disk (everything up to it survives power loss)."""
        return self._wal.synced[0]

    def sync(self) -> None:
        """Sync everything committed so far (one fdatasync of the WAL; a no-op when nothing is pending).

        Raises :class:`AuditStoreError` when the sync fails — then, and from then on (the kernel may
        have dropped the unsynced pages), nothing that needs a sync may proceed."""
        self._wal.sync()

    def _head_synced(self, seq: int, head: str) -> None:
        """(After each sync.) The head hint moves only with what is on disk: after a power loss it never
        names a seq the database lost (which the next open would take for a rollback)."""
        if self._anchor is not None:
            self._anchor.head_moved(seq, head)

    def _fsync_wal(self) -> None:
        """fdatasync the WAL file (opened by name: SQLite may have restarted it since)."""
        try:
            fd = os.open(self.wal_path, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            return  # no WAL: everything is in the database file, which SQLite synced when it checkpointed
        try:
            os.fdatasync(fd)
        finally:
            os.close(fd)

    def _flush_pending(self) -> bool:
        """One round of the background group commit; False once the store is closed."""
        if self._group.closed:
            return False
        if self._pending_records:
            try:
                self.write_pending_records()
            except AuditStoreError:
                pass  # they stay queued for the next commit, round or close()
        if self._wal.pending > 0:
            try:
                self._wal.sync()
            except AuditStoreError:
                pass  # recorded: every later append that needs a sync is refused
        if self._seals_due:
            self._seal_due_checkpoints()
        self._checkpointer.maybe_checkpoint(self._wal.commit_count)
        return True

    def head(self) -> tuple[int, str]:
        """``(seq, entry_hash)`` of the last entry, or ``(0, GENESIS)`` for an empty ledger."""
        with self._db() as conn:
            return ledger_head(conn)

    def checkpoint(self, reason: str = "manual") -> tuple[int, str]:
        """Seal the current head with a signed checkpoint now; returns ``(seq, head_hash)``."""
        with self._write_tx() as conn:
            seq, head = ledger_head(conn)
            self._insert_checkpoint(conn, seq, head, reason)
        self.sync()
        self._seal(seq, head, reason)
        return seq, head

    # --- lifecycle ------------------------------------------------------------------------

    def close(self) -> None:
        """Wait for in-flight appends, seal the head with a signed checkpoint, close the file."""
        if not self._group.close():  # commits what a thread interrupted while waiting left queued
            return
        self._flush_wake.set()
        if self._flusher is not None:
            self._flusher.join()
        with self._db_lock:
            try:
                if self._key is None:
                    return
                self.write_pending_records()
                with self._write_tx() as conn:
                    seq, head = ledger_head(conn)
                    last = conn.execute(
                        "SELECT seq, head_hash FROM ledger_checkpoints ORDER BY id DESC LIMIT 1"
                    ).fetchone()
                    if last is None or (int(last[0]), str(last[1])) != (seq, head):
                        self._insert_checkpoint(conn, seq, head, "close")
                self._wal.committed = (seq, head)
                self.sync()
                self._seal_due_checkpoints()  # those the flusher had no round for
                self._seal(seq, head, "close")
            finally:
                self._release()

    def _release(self) -> None:
        """Close the database, the anchor's head file and the writers' lock."""
        self._checkpointer.close()
        self._conn.close()
        self._conn_open = False
        if self._anchor is not None:
            self._anchor.close()
        if self._writers_lock is not None:
            os.close(self._writers_lock)
            self._writers_lock = None
