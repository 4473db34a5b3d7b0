"""Opening a writable store against its anchor: refuse a rolled-back ledger, seal a crashed tail.

:func:`check_before_open` runs before the store opens ``security.db`` for writing (which would
create a missing file and fold the WAL into it): through a read-only connection it compares the
database with every witness (:mod:`.anchor`) and raises :class:`LedgerRollbackError` on any
disagreement — a missing database whose anchor shows prior use, a shorter or different ledger. Nothing
is written on top of a ledger that lost entries; the operator keeps the files as evidence and decides.

:func:`attach` runs once the database is open:

1. it attaches the anchor keeper to the store;
2. it takes the writers' lock (``ledger-writers.lock``: shared while a store is open, exclusive
   only for this check). A writer that closes cleanly always seals its head with a checkpoint, so
   an unsealed tail found while no other writer holds the lock was left by one that crashed
   (killed, power loss): the tail is sealed with a ``recovered_after_crash`` ledger entry that
   records what was found, and a checkpoint and seal of the same reason;
3. it seals the head (reason ``open``) when there was no seal yet (a new or pre-anchor ledger).
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
from pathlib import Path
from typing import Any, Final, Protocol

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from pi_sandbox.audit.anchor import SEAL_FILE, AnchorKeeper, Finding, Witness, compare, read_witnesses
from pi_sandbox.audit.db import DB_FILE, connect, corrupt_error, meta_value
from pi_sandbox.audit.records import LedgerEntryDraft
from pi_sandbox.errors import AuditStoreError, LedgerRollbackError

WRITERS_LOCK: Final = "ledger-writers.lock"
RECOVERED: Final = "recovered_after_crash"
#: ``meta`` key set once the ledger has a seal: a seal file missing later is then a finding.
ANCHORED_KEY: Final = "anchored"


def _refuse(state_dir: Path, findings: list[Finding]) -> LedgerRollbackError:
    listed = "; ".join(f.message for f in findings[:3])
    return LedgerRollbackError(
        f"refusing to write to the audit ledger in {state_dir}: {listed}. Keep the state dir as evidence "
        "(copy it elsewhere) and run `pi-sandbox security ledger verify`; to start a new ledger afterwards, set "
        "this one aside (moving its files by hand would lift every kill switch and quarantine it records)"
    )


def check_before_open(state_dir: Path, copy: Path | None, public_key: str) -> None:
    """Refuse to open (or create) ``security.db`` for writing when it disagrees with its anchor."""
    db_path = state_dir / DB_FILE
    witnesses, findings = read_witnesses(state_dir, copy)
    if not db_path.exists():
        witnessed = [w for w in witnesses if w.source != "head"]
        findings = compare(witnessed, ledger_id=None, max_seq=0, hash_at=lambda _s: None, trusted_key=public_key)
        if witnessed:
            raise _refuse(state_dir, findings)
        return
    if not db_path.is_file():
        return  # connect() reports what is wrong with it
    conn = connect(db_path, read_only=True)
    try:
        if meta_value(conn, "schema") is None:
            return  # not created yet (a concurrent first open): nothing witnessed can be in it
        ledger_id = meta_value(conn, "ledger_id") or ""
        row = conn.execute("SELECT max(seq) FROM ledger").fetchone()
        max_seq = int(row[0] or 0)

        def hash_at(seq: int) -> str | None:
            found = conn.execute("SELECT entry_hash FROM ledger WHERE seq = ? ORDER BY id LIMIT 1", (seq,)).fetchone()
            return None if found is None else str(found[0])

        findings += compare(witnesses, ledger_id=ledger_id, max_seq=max_seq, hash_at=hash_at, trusted_key=public_key)
        if meta_value(conn, ANCHORED_KEY) and not any(w.source == "seal" for w in witnesses):
            findings.append(Finding(0, "missing", f"{state_dir / SEAL_FILE} was deleted although the ledger "
                                                  "was anchored"))
    except sqlite3.DatabaseError as exc:
        raise corrupt_error(db_path, exc) from None
    finally:
        conn.close()
    if findings:
        raise _refuse(state_dir, findings)


class RecoverableStore(Protocol):
    """What recovery needs of the open store (``AuditStore``; a protocol keeps the store's own module out
    of this one's imports: the store calls recovery, not the other way round)."""

    state_dir: Path

    @property
    def signing_key(self) -> Ed25519PrivateKey: ...

    @property
    def ledger_id(self) -> str: ...

    def head(self) -> tuple[int, str]: ...

    def attach_anchor(self, keeper: AnchorKeeper) -> None: ...

    def last_checkpoint(self) -> tuple[int, str] | None: ...

    def tail_summary(self, after_seq: int) -> dict[str, Any]: ...

    def set_meta(self, key: str, value: str) -> None: ...

    def append(self, draft: LedgerEntryDraft, *, sync: bool = True) -> Any: ...

    def checkpoint(self, reason: str = "manual") -> tuple[int, str]: ...


def attach(store: RecoverableStore, copy: Path | None) -> int:
    """Attach the anchor keeper to the open store and recover a crashed tail (after
    :func:`check_before_open`); returns the held writers' lock (a file descriptor, closed to release)."""
    state_dir = store.state_dir
    lock_fd = _open_lock(state_dir)
    try:
        try:
            fcntl.flock(lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            alone = True
        except BlockingIOError:
            fcntl.flock(lock_fd, fcntl.LOCK_SH)
            alone = False
        witnesses, _ = read_witnesses(state_dir, copy)
        head_seq, head_hash = store.head()
        sealed = any(w.source == "seal" for w in witnesses)
        keeper = AnchorKeeper(state_dir, store.signing_key, store.ledger_id, copy)
        store.attach_anchor(keeper)
        if alone:
            last = store.last_checkpoint()
            if head_seq > 0 and last != (head_seq, head_hash):
                _recover(store, head_seq, head_hash, last, witnesses)
            elif not sealed:
                keeper.seal(head_seq, head_hash, "open")
            store.set_meta(ANCHORED_KEY, "1")
            fcntl.flock(lock_fd, fcntl.LOCK_SH)
        elif not sealed:
            keeper.seal(head_seq, head_hash, "open")
            store.set_meta(ANCHORED_KEY, "1")
    except BaseException:
        os.close(lock_fd)
        raise
    return lock_fd


def _open_lock(state_dir: Path) -> int:
    try:
        return os.open(state_dir / WRITERS_LOCK, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as exc:
        raise AuditStoreError(f"cannot open {state_dir / WRITERS_LOCK}: {exc.strerror or exc}") from None


def _recover(
    store: RecoverableStore, head_seq: int, head_hash: str, last: tuple[int, str] | None, witnesses: list[Witness]
) -> None:
    """Seal the tail a crashed writer left: one entry saying what was found, then a checkpoint."""
    sealed_seq = last[0] if last is not None else 0
    hint = next((w for w in witnesses if w.source == "head"), None)
    detail = {
        "last_checkpoint_seq": sealed_seq,
        "found_head_seq": head_seq,
        "found_head_hash": head_hash,
        "unsealed_entries": head_seq - sealed_seq,
        "head_anchor_seq": None if hint is None else hint.seq,
        "tail": store.tail_summary(sealed_seq),
    }
    store.append(LedgerEntryDraft(kind="recovery", extension_id=None, decision="seal", reason=RECOVERED,
                                  detail=detail))
    store.checkpoint(RECOVERED)
