"""The audit store: one SQLite file (``security.db``) holding the hash-chained ledger, its signed
checkpoints, security alerts and typed side records.

Durability comes in two classes (the auditd ``flush = incremental_async`` model; ``docs/ledger.md``):

* every entry is **written** (its transaction committed, its WAL frames in the file) before
  :meth:`AuditStore.append` returns, so an acknowledged entry survives ``kill -9`` — that needs no fsync;
* an entry appended with ``sync=True`` (the hostcall classes whose effect is visible outside the
  supervisor) is also **synced** (the WAL fdatasync'ed) before ``append`` returns, and one sync covers
  everything committed before it. Everything else is synced by the background group commit: a flusher
  thread syncs what is pending at most every ``flush_interval_s`` or after ``flush_max_entries``.

Throughput: concurrent appenders queue their prepared entries; whichever thread finds no commit in
flight becomes the leader, takes the whole queue, writes it in one ``BEGIN IMMEDIATE`` transaction
(and, when one of them needs it, one sync), wakes the threads it acknowledged and makes the next
queued thread the leader. Nobody is acknowledged before the commit that holds their entry, nor before
the sync when they asked for one.

Several processes may write the same file (a CLI while a host runs): a store chains onto the head it
committed last, and ``ledger.seq`` is unique, so when another connection appended in between the first
insert fails inside the ``BEGIN IMMEDIATE`` transaction (which holds SQLite's write lock) and the
commit starts over on the head read there: two writers never chain onto the same head.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
import weakref
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Final

import orjson
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from pi_sandbox.audit import merkle, recovery, signing
from pi_sandbox.audit.anchor import AnchorKeeper
from pi_sandbox.audit.chain import GENESIS, checkpoint_payload, hash_from_parts, preimage_parts
from pi_sandbox.audit.db import (
    DB_FILE,
    FORENSIC_COLUMN,
    WAL_SUFFIX,
    connect,
    corrupt_error,
    ensure_state_dir,
    meta_value,
    new_ledger_id,
)
from pi_sandbox.audit.queries import LEDGER_COLUMNS, AuditQueries, entry_from_row
from pi_sandbox.audit.records import (
    SEVERITY_RANK,
    Alert,
    AlertDraft,
    LedgerEntry,
    LedgerEntryDraft,
    PreparedEntry,
    canonical_mapping,
    normalize_category,
    now_ms,
    prepare_with_forensics,
)
from pi_sandbox.errors import AuditRecordError, AuditStoreError

DEFAULT_CHECKPOINT_INTERVAL: Final = 1000
#: How long a new group-commit leader may wait for siblings that are about to append (see
#: :meth:`AuditStore._sibling_wait`). Small next to one fsync'ed commit (~250 µs here).
DEFAULT_COMMIT_DELAY_S: Final = 0.0004
#: A thread that appended within this window counts as an active sibling.
_SIBLING_WINDOW_S: Final = 0.002
#: Group commit of the entries that need no sync of their own: the flusher syncs what is pending at
#: most this often (the power-loss window of reads, denials, log/ui, alerts and telemetry) ...
DEFAULT_FLUSH_INTERVAL_S: Final = 0.05
#: ... or as soon as this many commits are pending, whichever comes first.
DEFAULT_FLUSH_MAX_COMMITS: Final = 1000
#: WAL checkpoints (copying the WAL into the database file, with two fsyncs) run on the flusher thread
#: once this many commits have accumulated since the last one, so that no appender pays for one: with
#: SQLite's automatic checkpoint, every ~200th append stalled for two fsyncs (mean commit 100 -> 46 µs).
_WAL_CHECKPOINT_COMMITS: Final = 200
#: The writer connection's own automatic checkpoint stays on as a bound on the WAL (pages of 1 KiB)
#: should the flusher fall behind (or a reader keep an old snapshot open).
_WRITER_AUTOCHECKPOINT_PAGES: Final = 20000


def _plain_json(payload: Mapping[str, Any]) -> str:
    """A record payload as compact JSON (``AuditRecordError`` for anything JSON cannot carry)."""
    try:
        if type(payload) is dict:
            try:  # text keys (telemetry: every record): the same bytes, twice as fast as with OPT_NON_STR_KEYS
                return orjson.dumps(payload).decode("utf-8")
            except TypeError:
                pass
        return orjson.dumps(dict(payload), option=orjson.OPT_NON_STR_KEYS).decode("utf-8")
    except (TypeError, orjson.JSONEncodeError) as exc:
        raise AuditRecordError(f"record payload is not JSON serialisable: {exc}") from None


_INSERT_RECORD: Final = "INSERT INTO records(ts_ms, kind, extension_id, payload) VALUES (?, ?, ?, ?)"
#: A side record queued by :meth:`AuditStore.record_later`: (ts_ms, kind, extension_id, canonical payload).
_PendingRecord = tuple[int, str, str | None, str]

#: The entry's forensic record goes in its own row (schema 2; ``connect`` migrates every writable database).
_INSERT_ENTRY: Final = (f"INSERT INTO ledger({LEDGER_COLUMNS}, {FORENSIC_COLUMN}) "
                        "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)")


def _seq_is_unique(conn: sqlite3.Connection) -> bool:
    """Whether the database enforces unique ``ledger.seq`` on every row (the index every schema creates)."""
    for index in conn.execute("PRAGMA index_list(ledger)").fetchall():
        name, unique, partial = str(index[1]), bool(index[2]), bool(index[4])
        if unique and not partial and [str(c[2]) for c in conn.execute(
                f"PRAGMA index_info({_quote_ident(name)})")] == ["seq"]:
            return True
    return False


def _quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _flush_loop(ref: weakref.ref[AuditStore], wake: threading.Event, interval_s: float) -> None:
    """The background group commit: sync what is pending every ``interval_s`` (or when woken).

    It holds the store only weakly between rounds: a store nobody closed is still collected (its
    connection closed), and the thread ends with it."""
    while True:
        wake.wait(interval_s)
        wake.clear()
        store = ref()
        if store is None or not store._flush_pending():
            return
        del store


class _Ticket:
    """One caller's entries waiting for group commit.

    Its thread sleeps on ``wake`` (a lock acquired at creation and released once per event: done, or
    made the next group's leader), so a commit wakes only the threads it concerns instead of every
    waiter (a ``notify_all`` to eight threads costs eight GIL hand-offs per commit)."""

    __slots__ = ("prepared", "forensics", "parts", "rows", "entries", "error", "done", "sync", "lead",
                 "abandoned", "wake", "thread")

    def __init__(self, prepared: list[PreparedEntry], forensics: list[str | None] | None = None,
                 sync: bool = True) -> None:
        self.prepared = prepared
        #: The sealed forensic record (canonical JSON) of each prepared entry, or None.
        self.forensics = forensics or [None] * len(prepared)
        #: Each entry's pre-image around prev_hash/seq, built here in the caller's thread (not in the commit).
        self.parts = [preimage_parts(*p) for p in prepared]
        #: The stored rows once committed (the caller builds its LedgerEntry objects from them).
        self.rows: list[tuple[Any, ...]] = []
        self.entries: list[LedgerEntry] = []
        self.error: BaseException | None = None
        self.done = False
        #: Acknowledge only once synced (an effect follows), not merely committed.
        self.sync = sync
        #: Made the leader of the next group (its thread commits the queue).
        self.lead = False
        #: Its thread stopped waiting (interrupted): never make it a leader; it is still committed.
        self.abandoned = False
        self.wake = threading.Lock()
        self.wake.acquire()
        self.thread = threading.get_ident()


class AuditStore(AuditQueries):
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
        self._key = key  # None for a read-only store
        self._public_key = signing.public_key_hex(key) if key is not None else ""
        self._db_lock = threading.RLock()
        self._cond = threading.Condition(threading.Lock())
        self._queue: list[_Ticket] = []
        self._committing = False
        #: The head after this store's last commit, trusted by the next one (see :meth:`_insert_group`)
        #: while ``_seq_unique`` (the database's unique index on ``ledger.seq``) holds; None: read it.
        self._head_hint: tuple[int, str] | None = None
        self._seq_unique = False
        #: The ticket of a leader waiting for siblings to join its group (an arrival that completes the
        #: group commits it instead).
        self._gatherer: _Ticket | None = None
        self._closed = False
        self.commit_delay_s = commit_delay_s
        self._recent_appenders: dict[int, float] = {}
        self._queue_since = 0.0
        # Adaptive gathering: did past waits pay off (a sibling joined)? See _sibling_wait.
        self._wait_payoff = 1.0
        self._waited_at_size = 0  # queue size when the current group started waiting; 0 = not waiting
        self._declined_waits = 0
        self._conn_open = True
        # The head anchor outside the database (audit/anchor.py) and the writers' lock; set by open().
        self._anchor: AnchorKeeper | None = None
        self._writers_lock: int | None = None
        self.ledger_id = ""
        #: Number of group-commit transactions so far (entries per commit = batching efficiency).
        self.group_commits = 0
        # Sync state. ``_commit_count`` counts every committed write transaction of this store and
        # ``_committed`` is the ledger head after the newest one; a sync covers everything committed
        # before it started (one fdatasync of the WAL file).
        self.flush_interval_s = flush_interval_s
        self.flush_max_commits = max(1, flush_max_commits)
        self._commit_count = 0
        self._committed: tuple[int, str] = (0, GENESIS)
        self._sync_lock = threading.Lock()
        self._synced_commits = 0
        self._synced: tuple[int, str] = (0, GENESIS)
        #: Set when an fdatasync failed: the kernel may have dropped the dirty pages, so no later
        #: sync can be trusted and every append that needs one is refused (fail closed).
        self._sync_error: str | None = None
        #: Number of syncs (fdatasync of the WAL) so far.
        self.syncs = 0
        self._flush_wake = threading.Event()
        self._flusher: threading.Thread | None = None
        #: The flusher's own connection for WAL checkpoints (opened on first use) and the commit count
        #: at the last one.
        self._checkpoint_conn: sqlite3.Connection | None = None
        self._checkpointed_commits = 0
        #: Side records queued by record_later(), written by the next commit (whichever thread leads it).
        self._pending_records: list[_PendingRecord] = []
        self._records_lock = threading.Lock()

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
                store._committed = store._synced = store._head(conn)
                store._seq_unique = _seq_is_unique(conn)
            store._writers_lock = recovery.attach(store, anchor_copy)
            store.sync()
        except BaseException:
            store._release()
            raise
        store._flusher = threading.Thread(target=_flush_loop, args=(weakref.ref(store), store._flush_wake,
                                                                    store.flush_interval_s),
                                          name="pi-ledger-flusher", daemon=True)
        store._flusher.start()
        return store

    @classmethod
    def open_read_only(cls, state_dir: Path) -> AuditStore:
        """Open an existing store for queries only: creates nothing, needs no signing key, writes nothing.

        For operator commands (``pi security ledger show``) that must not seal or alter the ledger.
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
            self._commit_count += 1

    @staticmethod
    def _head(conn: sqlite3.Connection) -> tuple[int, str]:
        row = conn.execute("SELECT seq, entry_hash FROM ledger ORDER BY seq DESC LIMIT 1").fetchone()
        return (0, GENESIS) if row is None else (int(row[0]), str(row[1]))

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

    def stored_hash(self, seq: int) -> str | None:
        """The stored ``entry_hash`` at ``seq`` (None when there is no such entry)."""
        with self._db() as conn:
            row = conn.execute("SELECT entry_hash FROM ledger WHERE seq = ? ORDER BY id LIMIT 1", (seq,)).fetchone()
        return None if row is None else str(row[0])

    def last_checkpoint(self) -> tuple[int, str] | None:
        """``(seq, head_hash)`` of the newest checkpoint row."""
        with self._db() as conn:
            row = conn.execute("SELECT seq, head_hash FROM ledger_checkpoints ORDER BY id DESC LIMIT 1").fetchone()
        return None if row is None else (int(row[0]), str(row[1]))

    def tail_summary(self, after_seq: int) -> dict[str, Any]:
        """Counts of the entries after ``after_seq`` by kind and decision, and the extensions they name."""
        with self._db() as conn:
            rows = conn.execute(
                "SELECT kind, decision, count(*) FROM ledger WHERE seq > ? GROUP BY kind, decision", (after_seq,)
            ).fetchall()
            extensions = [str(r[0]) for r in conn.execute(
                "SELECT DISTINCT extension_id FROM ledger WHERE seq > ? AND extension_id IS NOT NULL "
                "ORDER BY extension_id LIMIT 100", (after_seq,))]
        return {"by_kind_decision": {f"{k}:{d}": int(n) for k, d, n in rows}, "extensions": extensions}

    def _insert_checkpoint(self, conn: sqlite3.Connection, seq: int, head: str, reason: str) -> None:
        if self._key is None:  # unreachable: _write_tx refuses read-only stores
            raise AuditStoreError("cannot sign a checkpoint without the signing key")
        ts = now_ms()
        frontier = self._merkle_frontier(conn, seq)
        root = merkle.frontier_root(frontier)
        signature = signing.sign(self._key, checkpoint_payload(seq, head, ts, root))
        conn.execute(
            "INSERT INTO ledger_checkpoints(seq, head_hash, ts_ms, reason, public_key, signature, merkle_root, "
            "merkle_frontier) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (seq, head, ts, reason, self._public_key, signature, root, merkle.frontier_to_json(frontier)),
        )

    @staticmethod
    def _merkle_frontier(conn: sqlite3.Connection, seq: int) -> merkle.Frontier:
        """The Merkle frontier over entries 1..seq: the newest earlier checkpoint's, plus the entries since."""
        start, frontier = 0, []
        row = conn.execute(
            "SELECT seq, merkle_frontier FROM ledger_checkpoints WHERE merkle_frontier IS NOT NULL AND seq <= ? "
            "ORDER BY seq DESC, id DESC LIMIT 1", (seq,)).fetchone()
        if row is not None:
            try:
                start, frontier = int(row[0]), merkle.frontier_from_json(str(row[1]))
            except ValueError:
                start, frontier = 0, []  # a damaged row: rebuild from the first entry
        hashes = (str(r[0]) for r in conn.execute(
            "SELECT entry_hash FROM ledger WHERE seq > ? AND seq <= ? ORDER BY seq", (start, seq)))
        return merkle.extend(frontier, hashes)

    # --- ledger ---------------------------------------------------------------------------

    def append(self, draft: LedgerEntryDraft, *, sync: bool = True) -> LedgerEntry:
        """Append one entry to the chain; returns once it is committed (survives ``kill -9``) and, with
        ``sync`` (the default), synced to disk (survives power loss) together with everything before it.

        ``sync=False`` is for entries no externally visible effect depends on (reads, denials, log/ui):
        the background group commit syncs them within ``flush_interval_s``."""
        return self.append_many((draft,), sync=sync)[0]

    def append_many(self, drafts: Sequence[LedgerEntryDraft], *, sync: bool = True) -> list[LedgerEntry]:
        """Append several entries (contiguous seqs, one transaction); returns once committed (and
        synced, with ``sync``)."""
        pairs = [prepare_with_forensics(d) for d in drafts]
        if not pairs:
            return []
        ticket = _Ticket([p for p, _ in pairs], [f for _, f in pairs], sync)
        cond = self._cond
        with cond:
            if self._closed:
                raise AuditStoreError("the audit store is closed")
            now = time.monotonic()
            # Only a thread that has been seen appending *alongside* another is a sibling worth
            # waiting for. Sequential appends from several threads (a worker's fetch served on an
            # executor thread, then its next sync call on the supervisor thread) never overlap, and
            # waiting for the idle thread would only add latency.
            ident = threading.get_ident()
            if self._queue or self._committing or now - self._recent_appenders.get(ident, -1.0) < _SIBLING_WINDOW_S:
                self._recent_appenders[ident] = now
            if not self._queue:
                self._queue_since = now
            self._queue.append(ticket)
            lead = not self._committing
            if lead:
                self._committing = True
            elif self._gatherer is not None and self._sibling_wait() <= 0:
                # This arrival completes the group a leader is gathering: commit it from here. The old
                # leader then wakes once, when its entry is acknowledged, instead of once to commit and
                # this thread once for its acknowledgement.
                self._gatherer = None
                lead = True
        while True:
            if lead:
                ticket.lead = False  # leading now: an interrupted wait must not pass the lead on
                self._lead(ticket)
            if ticket.done:
                return self._result(ticket)
            self._await(ticket)
            lead = ticket.lead and not ticket.done

    def _await(self, ticket: _Ticket) -> None:
        """Sleep until ``ticket`` is done or its thread is made the next leader."""
        try:
            ticket.wake.acquire()
        except BaseException:  # interrupted: the entries are still committed (by a leader or close())
            with self._cond:
                ticket.abandoned = True
                if ticket.lead and not ticket.done:
                    successor = self._pass_lead()
                    if successor is not None:
                        successor.wake.release()
            raise

    def _pass_lead(self) -> _Ticket | None:
        """(Lock held.) Make the first waiting ticket's thread the next leader, or end the commit run."""
        successor = next((t for t in self._queue if not t.abandoned), None)
        if successor is None:
            self._committing = False
            if self._closed:
                self._cond.notify_all()  # close() waits for the last commit in flight
            return None
        successor.lead = True
        return successor

    def _lead(self, ticket: _Ticket) -> None:
        """Commit the queued group (this thread holds ``_committing``), after gathering siblings; returns
        early, its ticket not yet done, when an arriving sibling completed the group and took it over."""
        cond = self._cond
        with cond:
            # Also groups needing no sync: without the wait, the thread that just committed wins the GIL
            # back from the siblings it woke and commits alone again and again (measured: 1.1 entries per
            # commit with 8 threads), while the siblings starve for up to the 5 ms switch interval.
            while True:
                wait_s = self._sibling_wait()
                if wait_s <= 0:
                    break
                self._gatherer = ticket
                cond.release()
                try:  # on its own wake lock: a sibling that takes the group over acknowledges it there
                    ticket.wake.acquire(timeout=wait_s)
                except BaseException:
                    cond.acquire()
                    ticket.abandoned = True
                    if self._gatherer is ticket:  # still the leader: hand the group on
                        self._gatherer = None
                        successor = self._pass_lead()
                        if successor is not None:
                            successor.wake.release()
                    raise
                cond.acquire()
                if self._gatherer is not ticket:
                    return  # taken over (done already, or the wait below sees it done)
                self._gatherer = None
            batch, self._queue = self._queue, []
            if self._waited_at_size:
                joined = 1.0 if len(batch) > self._waited_at_size else 0.0
                self._wait_payoff = 0.75 * self._wait_payoff + 0.25 * joined
                self._waited_at_size = 0
        self._commit_and_release(batch)

    def _sibling_wait(self) -> float:
        """Seconds the queued group should still wait for active siblings before committing (lock held).

        Without this, two threads appending in a loop alternate: each commit carries one entry and
        throughput is capped at one fsync per entry. A thread that appended within the last few
        milliseconds, overlapping another appender, is about to append again, so the group waits
        (at most ``commit_delay_s`` from its first ticket) until every such thread has queued
        (PostgreSQL's commit_delay / commit_siblings idea). A lone appender never waits, nor do
        threads that only take turns (one worker's calls served on different threads), and when
        waits stop paying off (siblings arrive independently) the store stops waiting apart from
        occasional probes.
        """
        recent = self._recent_appenders
        if self.commit_delay_s <= 0 or not recent:
            return 0.0
        now = time.monotonic()
        if len(recent) > 64:  # forget threads that stopped appending
            for ident in [i for i, t in recent.items() if now - t >= _SIBLING_WINDOW_S]:
                del recent[ident]
        active = sum(1 for t in recent.values() if now - t < _SIBLING_WINDOW_S)
        if len(self._queue) >= active:
            return 0.0
        if not self._waited_at_size:
            # Waiting only pays when siblings append in lock-step. When recent waits went unjoined
            # (independent arrivals), skip waiting and only probe now and then.
            if self._wait_payoff < 0.5:
                self._declined_waits += 1
                if self._declined_waits % 16:
                    return 0.0
            self._waited_at_size = len(self._queue)
        return self._queue_since + self.commit_delay_s - now

    @staticmethod
    def _result(ticket: _Ticket) -> list[LedgerEntry]:
        if ticket.error is not None:
            if isinstance(ticket.error, AuditStoreError):
                raise type(ticket.error)(str(ticket.error))
            raise AuditStoreError(f"ledger append failed: {ticket.error}")
        if not ticket.entries:
            ticket.entries = [entry_from_row(r) for r in ticket.rows]
        return ticket.entries

    def _commit_and_release(self, batch: list[_Ticket]) -> None:
        """Commit ``batch`` (this thread holds ``_committing``), hand the lead to the next group, then sync
        if a ticket asked for it (or a checkpoint must be sealed) and acknowledge the rest.

        The next group may commit while this one syncs: entries that need no sync never wait for
        someone else's fdatasync."""
        committed: tuple[int, str, tuple[int, str] | None] | None = None
        try:
            committed = self._commit_group(batch)
        finally:
            with self._cond:
                successor = self._pass_lead()
                acknowledged = [t for t in batch if committed is None or t.error is not None or not t.sync]
                self._acknowledge(acknowledged)
            # Wake the next leader first: its commit releases the GIL while the others return.
            if successor is not None:
                successor.wake.release()
            for ticket in acknowledged:
                if not ticket.abandoned:
                    ticket.wake.release()
        if committed is None:
            return
        seq, head, checkpoint = committed
        if checkpoint is None and len(acknowledged) == len(batch):
            # Every ticket was acknowledged above; the group commit syncs them.
            if self._commit_count - self._synced_commits >= self.flush_max_commits:
                self._flush_wake.set()
            return
        error: AuditStoreError | None = None
        try:
            self._sync_to(self._commit_count)
        except AuditStoreError as exc:
            error = exc
        if checkpoint is not None and error is None and self._anchor is not None:
            try:  # the seal never runs ahead of what is on disk
                self._anchor.seal(*checkpoint, "interval")
            except OSError:
                pass  # the entries are committed; the next checkpoint or close() seals again
        with self._cond:
            synced = [t for t in batch if not t.done]
            for ticket in synced:
                ticket.error = error
            self._acknowledge(synced)
        for ticket in synced:
            if not ticket.abandoned:
                ticket.wake.release()

    def _acknowledge(self, tickets: list[_Ticket]) -> None:
        """(Lock held.) Mark ``tickets`` done. A sibling's thread stays active from here on: it has not
        appended for a while only because it waited for this commit, and it is about to append again
        (it still has to win the GIL from the thread that committed, which may take milliseconds)."""
        now = time.monotonic()
        recent = self._recent_appenders
        for ticket in tickets:
            ticket.done = True
            if ticket.thread in recent:
                recent[ticket.thread] = now

    def _commit_group(self, batch: list[_Ticket]) -> tuple[int, str, tuple[int, str] | None] | None:
        """Write every ticket of ``batch`` in one transaction and give each its rows (or its error).

        Returns the new head and the newest checkpoint written, or None when the transaction failed.
        (No context managers on this path: it runs once per commit with the GIL held.)"""
        rows: list[tuple[Any, ...]] = []
        records: list[_PendingRecord] = []
        try:
            if self._key is None:
                raise AuditStoreError(f"the audit store {self.db_path} was opened read-only")
            with self._db_lock:
                if not self._conn_open:
                    raise AuditStoreError("the audit store is closed")
                conn = self._conn
                try:
                    conn.execute("BEGIN IMMEDIATE")
                    try:
                        written = self._insert_group(conn, batch, rows, self._head_hint)
                        if written is None:
                            # Another connection appended since our last commit: start over on the real head.
                            conn.execute("ROLLBACK")
                            conn.execute("BEGIN IMMEDIATE")
                            rows.clear()
                            written = self._insert_group(conn, batch, rows, None)
                        if written is None:  # unreachable: the head read under the write lock is current
                            raise AuditStoreError(f"audit database {self.db_path}: the chain head moved "
                                                  "under the write lock")
                        seq, prev, checkpoints = written
                        if self._pending_records:  # side records ride along (see record_later)
                            records = self._take_records()
                            conn.executemany(_INSERT_RECORD, records)
                        conn.execute("COMMIT")
                    except BaseException:
                        self._head_hint = None
                        if conn.in_transaction:
                            conn.execute("ROLLBACK")
                        if records:
                            self._put_back_records(records)
                        raise
                except sqlite3.OperationalError as exc:
                    raise AuditStoreError(f"audit database {self.db_path}: {exc}") from None
                except sqlite3.DatabaseError as exc:
                    raise corrupt_error(self.db_path, exc) from None
                self._commit_count += 1
        except BaseException as exc:
            for ticket in batch:
                ticket.error = exc
            if not isinstance(exc, Exception):
                raise
            return None
        self.group_commits += 1
        self._committed = (seq, prev)
        if self._seq_unique:
            self._head_hint = (seq, prev)
        position = 0
        for ticket in batch:
            count = len(ticket.prepared)
            ticket.rows = rows[position:position + count]
            position += count
        return seq, prev, checkpoints[-1] if checkpoints else None

    def _insert_group(self, conn: sqlite3.Connection, batch: list[_Ticket], rows: list[tuple[Any, ...]],
                      head: tuple[int, str] | None) -> tuple[int, str, list[tuple[int, str]]] | None:
        """(In the write transaction.) Chain and insert the batch's entries into ``rows`` and the
        database; returns the new head and the checkpoints written, or None when ``head`` was stale.

        ``head``: the head this store committed last, or None to read it. Reading it costs a query per
        commit; trusting it is safe because ``seq`` is unique: had another connection appended since,
        our first row's seq is taken and the insert fails before anything counts (then: None)."""
        seq, prev = self._head(conn) if head is None else head
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

    # --- sync (durability against power loss) ------------------------------------------------

    @property
    def durable_seq(self) -> int:
        """The newest ledger seq known to be synced to disk (everything up to it survives power loss)."""
        return self._synced[0]

    def sync(self) -> None:
        """Sync everything committed so far (one fdatasync of the WAL; a no-op when nothing is pending).

        Raises :class:`AuditStoreError` when the sync fails — then, and from then on (the kernel may
        have dropped the unsynced pages), nothing that needs a sync may proceed."""
        self._sync_to(self._commit_count)

    def _sync_to(self, commit_no: int) -> None:
        """Make commits 1..``commit_no`` durable; syncs in flight coalesce (one covers every waiter)."""
        with self._sync_lock:
            if self._sync_error is not None:
                raise AuditStoreError(self._sync_error)
            if self._synced_commits >= commit_no:
                return  # a sync that started after our commit covered it
            # Read before the fdatasync starts: everything committed by now is in the WAL file.
            target_commits, target_head = self._commit_count, self._committed
            try:
                self._fsync_wal()
            except OSError as exc:
                self._sync_error = (
                    f"syncing the audit database {self.wal_path} failed ({exc.strerror or exc}); entries written "
                    "since the last sync may not survive a power loss, so calls with effects are refused. Check "
                    "the disk (dmesg), then restart pi-sandbox"
                )
                raise AuditStoreError(self._sync_error) from None
            self._synced_commits, self._synced = target_commits, target_head
            self.syncs += 1
        if self._anchor is not None:
            # The head hint moves only with what is on disk: after a power loss it never names a seq
            # the database lost (which the next open would take for a rollback).
            self._anchor.head_moved(*target_head)

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
        if self._closed:
            return False
        if self._pending_records:
            try:
                self.write_pending_records()
            except AuditStoreError:
                pass  # they stay queued for the next commit, round or close()
        if self._commit_count > self._synced_commits:
            try:
                self._sync_to(self._commit_count)
            except AuditStoreError:
                pass  # recorded: every later append that needs a sync is refused
        if self._commit_count - self._checkpointed_commits >= _WAL_CHECKPOINT_COMMITS:
            self._checkpointed_commits = self._commit_count
            self._checkpoint_wal()
        return True

    def _checkpoint_wal(self) -> None:
        """Copy the WAL into the database file (PASSIVE: never blocks an appender) on this thread's own
        connection. A failure only leaves the WAL longer: the writer's automatic checkpoint bounds it."""
        try:
            if self._checkpoint_conn is None:
                self._checkpoint_conn = sqlite3.connect(self.db_path, timeout=0, isolation_level=None,
                                                        check_same_thread=False)
                self._checkpoint_conn.execute("PRAGMA synchronous=NORMAL")
            self._checkpoint_conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        except sqlite3.Error:
            pass

    def head(self) -> tuple[int, str]:
        """``(seq, entry_hash)`` of the last entry, or ``(0, GENESIS)`` for an empty ledger."""
        with self._db() as conn:
            return self._head(conn)

    def checkpoint(self, reason: str = "manual") -> tuple[int, str]:
        """Seal the current head with a signed checkpoint now; returns ``(seq, head_hash)``."""
        with self._write_tx() as conn:
            seq, head = self._head(conn)
            self._insert_checkpoint(conn, seq, head, reason)
        self.sync()
        self._seal(seq, head, reason)
        return seq, head

    # --- alerts and side records ----------------------------------------------------------

    def record_alert(self, draft: AlertDraft) -> Alert:
        """Store a security alert (committed when this returns, synced by the group commit); returns it with
        its sequence id."""
        category = normalize_category(draft.category) if isinstance(draft.category, str) else None
        if category is None:
            raise AuditRecordError(f"unknown alert category {draft.category!r}")
        if draft.severity not in SEVERITY_RANK:
            raise AuditRecordError(
                f"unknown alert severity {draft.severity!r}; use one of {', '.join(SEVERITY_RANK)}"
            )
        reason_codes = tuple(draft.reason_codes)
        if not all(isinstance(c, str) for c in reason_codes):
            raise AuditRecordError("alert reason_codes must be strings")
        ts = now_ms()
        values = (
            ts, category, draft.severity, SEVERITY_RANK[draft.severity], draft.extension_id, draft.summary,
            json.dumps(list(reason_codes)), draft.capability, draft.method, draft.call_id, draft.action,
            draft.remediation, draft.context_hash,
        )
        with self._write_tx() as conn:
            cursor = conn.execute(
                "INSERT INTO alerts(ts_ms, category, severity, severity_rank, extension_id, summary, "
                "reason_codes, capability, method, call_id, action, remediation, context_hash) "
                "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                values,
            )
            sequence_id = int(cursor.lastrowid or 0)
        return Alert(
            sequence_id=sequence_id, ts_ms=ts, category=category, severity=draft.severity,
            extension_id=draft.extension_id, summary=draft.summary, reason_codes=reason_codes,
            capability=draft.capability, method=draft.method, call_id=draft.call_id, action=draft.action,
            remediation=draft.remediation, context_hash=draft.context_hash,
        )

    def record(self, kind: str, payload: Mapping[str, Any], extension_id: str | None = None) -> int:
        """Store a typed side record (payload: hashes/codes/counts; committed when this returns, synced by
        the group commit); returns its id."""
        if not isinstance(kind, str) or not kind:
            raise AuditRecordError("record kind must be a non-empty string")
        payload_json = canonical_mapping(f"payload of {kind} record", payload)
        with self._write_tx() as conn:
            cursor = conn.execute(
                "INSERT INTO records(ts_ms, kind, extension_id, payload) VALUES (?, ?, ?, ?)",
                (now_ms(), kind, extension_id, payload_json),
            )
            return int(cursor.lastrowid or 0)

    def record_later(self, kind: str, payload: Mapping[str, Any], extension_id: str | None = None) -> None:
        """Queue a side record to be written with the next ledger commit, in that commit's transaction.

        The payload is checked and canonicalised here (``AuditRecordError`` now, as :meth:`record`). A record
        queued before an entry is appended is committed together with that entry or before it, so the
        records a call makes while it is decided cost no transaction of their own and survive ``kill -9``
        whenever its entry does. Queued records are also written by :meth:`write_pending_records`, by the
        background group commit within ``flush_interval_s``, and on close."""
        if not isinstance(kind, str) or not kind:
            raise AuditRecordError("record kind must be a non-empty string")
        if self._key is None:
            raise AuditStoreError(f"the audit store {self.db_path} was opened read-only")
        if self._closed:
            raise AuditStoreError("the audit store is closed")
        row = (now_ms(), kind, extension_id, canonical_mapping(f"payload of {kind} record", payload))
        with self._records_lock:
            self._pending_records.append(row)

    def write_pending_records(self) -> None:
        """Commit every queued side record now (one transaction; nothing to do when none is queued).

        On failure (``AuditStoreError``) they stay queued, in order, for the next attempt."""
        if not self._pending_records:
            return
        records = self._take_records()
        if not records:
            return
        try:
            with self._write_tx() as conn:
                conn.executemany(_INSERT_RECORD, records)
        except BaseException:
            self._put_back_records(records)
            raise

    def _take_records(self) -> list[_PendingRecord]:
        with self._records_lock:
            records, self._pending_records = self._pending_records, []
        return records

    def _put_back_records(self, records: list[_PendingRecord]) -> None:
        with self._records_lock:
            self._pending_records[:0] = records

    def _before_record_query(self) -> None:
        """Queries of side records see the queued ones too (they are written first)."""
        if self._key is not None and self._conn_open:
            self.write_pending_records()

    def put_config_version(self, digest: str, body: Mapping[str, Any]) -> None:
        """Keep a resolved configuration under its content digest (idempotent; never overwritten; synced)."""
        body_json = canonical_mapping("configuration snapshot", body)
        with self._write_tx() as conn:
            conn.execute("INSERT OR IGNORE INTO config_versions(digest, ts_ms, body) VALUES (?, ?, ?)",
                         (digest, now_ms(), body_json))
        self.sync()

    def record_many(self, kind: str, items: Sequence[tuple[str | None, Mapping[str, Any]]], *,
                    canonical: bool = True) -> None:
        """Store several side records of one kind in one transaction (telemetry batches).

        ``canonical=False`` stores plain JSON instead of RFC 8785 text (records nothing hashes)."""
        if not isinstance(kind, str) or not kind:
            raise AuditRecordError("record kind must be a non-empty string")
        encode = (lambda p: canonical_mapping(f"payload of {kind} record", p)) if canonical else _plain_json
        rows = [(now_ms(), kind, ext, encode(payload)) for ext, payload in items]
        if not rows:
            return
        with self._write_tx() as conn:
            conn.executemany("INSERT INTO records(ts_ms, kind, extension_id, payload) VALUES (?, ?, ?, ?)", rows)

    # --- lifecycle ------------------------------------------------------------------------

    def close(self) -> None:
        """Wait for in-flight appends, seal the head with a signed checkpoint, close the file."""
        with self._cond:
            if self._closed:
                return
            self._closed = True
        # Drain: normally each queued ticket's own thread commits it, but a thread interrupted
        # while waiting leaves its ticket behind; commit such leftovers here rather than hang.
        while True:
            with self._cond:
                while self._committing:
                    self._cond.wait()
                if not self._queue:
                    break
                self._committing = True
                batch, self._queue = self._queue, []
            self._commit_and_release(batch)
        self._flush_wake.set()
        if self._flusher is not None:
            self._flusher.join()
        with self._db_lock:
            try:
                if self._key is None:
                    return
                self.write_pending_records()
                with self._write_tx() as conn:
                    seq, head = self._head(conn)
                    last = conn.execute(
                        "SELECT seq, head_hash FROM ledger_checkpoints ORDER BY id DESC LIMIT 1"
                    ).fetchone()
                    if last is None or (int(last[0]), str(last[1])) != (seq, head):
                        self._insert_checkpoint(conn, seq, head, "close")
                self._committed = (seq, head)
                self.sync()
                self._seal(seq, head, "close")
            finally:
                self._release()

    def _release(self) -> None:
        """Close the database, the anchor's head file and the writers' lock."""
        if self._checkpoint_conn is not None:
            self._checkpoint_conn.close()
            self._checkpoint_conn = None
        self._conn.close()
        self._conn_open = False
        if self._anchor is not None:
            self._anchor.close()
        if self._writers_lock is not None:
            os.close(self._writers_lock)
            self._writers_lock = None
