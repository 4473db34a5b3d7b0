"""Ledger verification: recompute every hash, walk the chain, check every signed checkpoint.

Detected (``kind`` of each finding):

- ``hash_mismatch``  an entry's fields no longer hash to its stored ``entry_hash`` (edited row);
- ``link_broken``    an entry's ``prev_hash`` is not the hash of the entry before it (or GENESIS);
- ``missing``        a seq between 1 and the highest seq is absent (deleted row, removed prefix);
- ``duplicate``      a seq occurs twice (inserted row);
- ``reordered``      rows are not stored in chain order (moved row);
- ``truncated``      a signed checkpoint seals seq k but the ledger now ends before k;
- ``bad_signature``  a checkpoint's (or the anchor's) signature is invalid, made with another key, or
                     the head it signed differs from the recomputed hash at its seq (consistent rewrite);
- ``rollback``       the head anchor outside the database (:mod:`.anchor`) witnessed a later or a
                     different head: tail rows deleted with their checkpoints, the file replaced by an
                     older copy, an empty or another database;
- ``missing`` (seq 0) the database is gone, or the anchor is, while the other shows prior use.

Verification reads through its own read-only connection: in WAL mode that never blocks writers.
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Final

from pi_sandbox import schemas
from pi_sandbox.audit import signing
from pi_sandbox.audit.anchor import Finding, Witness, compare, read_witnesses
from pi_sandbox.audit.chain import GENESIS, checkpoint_payload, entry_preimage
from pi_sandbox.audit.db import DB_FILE, connect, corrupt_error, meta_value, table_columns
from pi_sandbox.audit.recovery import ANCHORED_KEY
from pi_sandbox.audit.store import AuditStore
from pi_sandbox.errors import AuditStoreError
from pi_sandbox.progress import ProgressCallback
from pi_sandbox.progress import report as report_progress

#: Findings kept in a report; a wholesale-damaged ledger would otherwise produce millions.
MAX_REPORTED_ERRORS: Final = 1000

ERROR_KINDS: Final = (
    "hash_mismatch", "link_broken", "missing", "duplicate", "reordered", "truncated", "bad_signature", "rollback",
)


@dataclass(frozen=True, slots=True)
class VerificationIssue:
    """One finding: the chain position it concerns, its kind and an explanation."""

    seq: int
    kind: str
    message: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"seq": self.seq, "kind": self.kind, "message": self.message}


@dataclass(frozen=True, slots=True)
class LedgerVerificationReport:
    """Outcome of :func:`verify_ledger` (schema ``pi.security.ledger_verification_report.v1``)."""

    chain_valid: bool
    entry_count: int
    checkpoints_checked: int
    head_seq: int
    head_hash: str
    first_invalid_seq: int | None
    verification_errors: tuple[VerificationIssue, ...]
    last_checkpoint_seq: int | None
    unsealed_entries: int
    trust_anchor: str
    errors_truncated: bool = False
    #: The witnesses found outside the database (seal, head hint, copy) that the ledger was checked against.
    anchors: tuple[Witness, ...] = ()
    ledger_schema: str = schemas.LEDGER_SCHEMA
    schema: str = schemas.LEDGER_VERIFICATION_REPORT

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "schema": self.schema,
            "ledger_schema": self.ledger_schema,
            "chain_valid": self.chain_valid,
            "entry_count": self.entry_count,
            "checkpoints_checked": self.checkpoints_checked,
            "head_seq": self.head_seq,
            "head_hash": self.head_hash,
            "first_invalid_seq": self.first_invalid_seq,
            "last_checkpoint_seq": self.last_checkpoint_seq,
            "unsealed_entries": self.unsealed_entries,
            "trust_anchor": self.trust_anchor,
            "errors_truncated": self.errors_truncated,
            "anchors": [{"source": w.source, "seq": w.seq, "ts_ms": w.ts_ms, "reason": w.reason}
                        for w in self.anchors],
            "verification_errors": [e.to_dict() for e in self.verification_errors],
        }


    def with_findings(self, issues: Sequence[VerificationIssue]) -> LedgerVerificationReport:
        """This report with further findings from composed checks (e.g. trust transitions)."""
        if not issues:
            return self
        merged = tuple(sorted((*self.verification_errors, *issues), key=lambda e: (e.seq, e.kind)))
        first = min(e.seq for e in issues)
        if self.first_invalid_seq is not None:
            first = min(first, self.first_invalid_seq)
        return replace(self, chain_valid=False, verification_errors=merged, first_invalid_seq=first)


class _Findings:
    def __init__(self) -> None:
        self.items: list[VerificationIssue] = []
        self.truncated = False
        self.first: int | None = None

    def add(self, seq: int, kind: str, message: str) -> None:
        self.first = seq if self.first is None else min(self.first, seq)
        if len(self.items) >= MAX_REPORTED_ERRORS:
            self.truncated = True
            return
        self.items.append(VerificationIssue(seq, kind, message))


class _SeenSeqs:
    """Which seqs occurred: a bitmap up to a bound derived from the row count, a set beyond it.

    The bound keeps memory proportional to the ledger even if a forged row claims seq 10**12.
    """

    def __init__(self, rows: int) -> None:
        self.limit = 2 * rows + 1024
        self.dense = bytearray(self.limit + 1)
        self.sparse: set[int] = set()

    def add(self, seq: int) -> bool:
        """Record ``seq``; False when it had been seen before."""
        if seq <= self.limit:
            if self.dense[seq]:
                return False
            self.dense[seq] = 1
            return True
        if seq in self.sparse:
            return False
        self.sparse.add(seq)
        return True

    def gaps(self, max_seq: int) -> list[tuple[int, int]]:
        """Inclusive ranges of seqs in 1..max_seq that never occurred."""
        found: list[tuple[int, int]] = []
        top = min(max_seq, self.limit)
        seq = self.dense.find(0, 1, top + 1)
        while seq != -1:
            after = self.dense.find(1, seq, top + 1)
            end = top if after == -1 else after - 1
            found.append((seq, end))
            seq = self.dense.find(0, end + 1, top + 1)
        previous = top
        for present in sorted(self.sparse):
            if present > previous + 1:
                if found and found[-1][1] == previous:  # gap continues across the bitmap bound
                    found[-1] = (found[-1][0], present - 1)
                else:
                    found.append((previous + 1, present - 1))
            previous = present
        return found


class _HashLookup:
    """Stored ``entry_hash`` by seq, for the out-of-order rows of a damaged ledger.

    One indexed query per lookup while lookups are rare; after a few dozen (a shuffled ledger, maybe
    with its seq index dropped so every query would scan) the whole map is loaded once instead.
    """

    _BULK_AFTER: Final = 64

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        self._count = 0
        self._map: dict[int, str] | None = None

    def stored_hash(self, seq: int) -> str | None:
        """The stored hash of the first row (physical order) with this seq, or None."""
        if self._map is None:
            self._count += 1
            if self._count <= self._BULK_AFTER:
                found = self._conn.execute(
                    "SELECT entry_hash FROM ledger WHERE seq = ? ORDER BY id LIMIT 1", (seq,)
                ).fetchone()
                return None if found is None else str(found[0])
            self._map = {}
            for row_seq, digest in self._conn.execute("SELECT seq, entry_hash FROM ledger ORDER BY id"):
                if isinstance(row_seq, int):
                    self._map.setdefault(row_seq, str(digest))
        return self._map.get(seq)


def _locate(source: AuditStore | Path | str) -> tuple[Path, Path]:
    if isinstance(source, AuditStore):
        return source.state_dir, source.db_path
    path = Path(source)
    if path.is_dir():
        return path, path / DB_FILE
    return path.parent, path


def verify_ledger(
    source: AuditStore | Path | str, *, public_key: str | None = None, anchor_copy: Path | None = None,
    progress: ProgressCallback | None = None,
) -> LedgerVerificationReport:
    """Verify the ledger of an open store, a state dir, or a ``security.db`` path.

    Checkpoints are checked against ``public_key`` if given, else the state dir's signing key
    (private key file, then ``ledger-signing.pub``); only when neither exists are they checked
    against the key stored in the checkpoint rows, and the report's ``trust_anchor`` says so.
    The private key is never needed. The head anchor next to the database (and ``anchor_copy``,
    the copy the settings name) must agree with the database (``rollback``/``missing`` otherwise).
    ``progress`` hears ``(entries checked, entries in the ledger)`` every few thousand entries.
    """
    state_dir, db_path = _locate(source)
    anchor = "explicit"
    if public_key is None:
        public_key, anchor = signing.trusted_public_key(state_dir)
    witnesses, anchor_findings = read_witnesses(state_dir, anchor_copy)
    if not db_path.exists():
        return _missing_database(db_path, anchor, public_key, witnesses, anchor_findings)
    conn = connect(db_path, read_only=True)
    try:
        conn.execute("BEGIN")  # one snapshot for entries and checkpoints
        return _verify(conn, public_key, anchor, witnesses, anchor_findings, progress)
    except sqlite3.DatabaseError as exc:
        if isinstance(exc, sqlite3.OperationalError):
            raise AuditStoreError(f"cannot read audit database {db_path}: {exc}") from None
        raise corrupt_error(db_path, exc) from None
    finally:
        conn.close()


def _missing_database(
    db_path: Path, anchor: str, trusted_key: str | None, witnesses: list[Witness], anchor_findings: list[Finding]
) -> LedgerVerificationReport:
    findings = _Findings()
    for f in anchor_findings:
        findings.add(f.seq, f.kind, f.message)
    for f in compare(witnesses, ledger_id=None, max_seq=0, hash_at=lambda _s: None, trusted_key=trusted_key):
        findings.add(f.seq, f.kind, f.message)
    if not findings.items and anchor != "none":
        # A signing key exists, so a ledger was created here: its disappearance is the finding.
        findings.add(0, "missing", f"{db_path} is missing although a ledger signing key exists")
    return _empty_report(findings, anchor, witnesses)


def _empty_report(findings: _Findings, anchor: str, witnesses: list[Witness]) -> LedgerVerificationReport:
    return LedgerVerificationReport(
        chain_valid=not findings.items, entry_count=0, checkpoints_checked=0, head_seq=0, head_hash=GENESIS,
        first_invalid_seq=findings.first, verification_errors=tuple(findings.items), last_checkpoint_seq=None,
        unsealed_entries=0, trust_anchor=anchor, anchors=tuple(witnesses),
    )


_REQUIRED_TABLES: Final = ("meta", "ledger", "ledger_checkpoints")
#: Progress is reported every 4096 entries (a mask: the test costs one AND per entry).
_PROGRESS_EVERY: Final = 0xFFF


def _verify(
    conn: sqlite3.Connection, trusted_key: str | None, anchor: str, witnesses: list[Witness],
    anchor_findings: list[Finding], progress: ProgressCallback | None = None,
) -> LedgerVerificationReport:
    findings = _Findings()
    for f in anchor_findings:
        findings.add(f.seq, f.kind, f.message)
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    absent = [t for t in _REQUIRED_TABLES if t not in tables]
    if absent:
        findings.add(0, "missing", f"table(s) {', '.join(absent)} missing from the database")
        return _empty_report(findings, anchor if trusted_key is not None else "checkpoint_rows", witnesses)
    row = conn.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()
    ledger_schema = str(row[0]) if row else "unknown"
    checkpoints = []
    root_column = "merkle_root" if "merkle_root" in table_columns(conn, "ledger_checkpoints") else "NULL"
    for cp in conn.execute(f"SELECT seq, head_hash, ts_ms, public_key, signature, {root_column} "
                           "FROM ledger_checkpoints ORDER BY id"):
        if _well_formed_checkpoint(cp):
            checkpoints.append(cp)
        else:
            seq = cp[0] if isinstance(cp[0], int) else 0
            findings.add(seq, "bad_signature", f"malformed checkpoint row (seq {cp[0]!r})")
    checkpoint_seqs = {int(cp[0]) for cp in checkpoints}
    watched = checkpoint_seqs | {w.seq for w in witnesses}
    recomputed_at: dict[int, str] = {}

    lookup = _HashLookup(conn)
    sha256, preimage = hashlib.sha256, entry_preimage
    total = int(conn.execute("SELECT count(*) FROM ledger").fetchone()[0])
    seen = _SeenSeqs(total)
    count = max_seq = prev_seq = 0
    prev_hash = head_hash = GENESIS
    cursor = conn.execute(
        "SELECT seq, ts_ms, kind, extension_id, call_id, capability, method, params_hash, decision, layer, "
        "reason, detail, prev_hash, entry_hash FROM ledger ORDER BY id"
    )
    for entry in cursor:
        count += 1
        if not count & _PROGRESS_EVERY and progress is not None:
            progress(count, total)
        seq, link, stored = entry[0], entry[12], entry[13]
        try:
            computed: str | None = sha256(preimage(*entry[:13])).hexdigest()
        except (TypeError, ValueError, UnicodeError):
            computed = None  # a column rewritten with a value of the wrong type
        if not isinstance(seq, int) or seq < 1:
            findings.add(0, "hash_mismatch", f"row with invalid seq {seq!r}")
            continue
        if computed != stored:
            findings.add(seq, "hash_mismatch", f"entry {seq} does not hash to its stored entry_hash")
        if not seen.add(seq):
            findings.add(seq, "duplicate", f"seq {seq} occurs more than once")
            continue
        if seq in watched and computed is not None:
            recomputed_at[seq] = computed
        expected: str | None
        if seq == prev_seq + 1:
            expected = prev_hash
        else:
            if seq < max_seq:
                findings.add(seq, "reordered", f"entry {seq} is stored after entry {max_seq}")
            expected = GENESIS if seq == 1 else lookup.stored_hash(seq - 1)
        if expected is not None and link != expected:
            what = "GENESIS" if seq == 1 else f"the hash of entry {seq - 1}"
            findings.add(seq, "link_broken", f"prev_hash of entry {seq} is not {what}")
        prev_seq, prev_hash = seq, stored
        if seq > max_seq:
            max_seq, head_hash = seq, stored

    report_progress(progress, count, total)
    _report_missing(seen, max_seq, findings)
    checked = _check_checkpoints(checkpoints, trusted_key, recomputed_at, max_seq, findings)
    _check_anchor(conn, witnesses, trusted_key, recomputed_at, max_seq, findings)
    last_cp = max(checkpoint_seqs) if checkpoint_seqs else None
    return LedgerVerificationReport(
        chain_valid=not findings.items,
        entry_count=count,
        checkpoints_checked=checked,
        head_seq=max_seq,
        head_hash=head_hash,
        first_invalid_seq=findings.first,
        verification_errors=tuple(sorted(findings.items, key=lambda e: (e.seq, e.kind))),
        last_checkpoint_seq=last_cp,
        unsealed_entries=max(0, max_seq - (last_cp or 0)),
        trust_anchor=anchor if trusted_key is not None else "checkpoint_rows",
        errors_truncated=findings.truncated,
        anchors=tuple(witnesses),
        ledger_schema=ledger_schema,
    )


def _check_anchor(
    conn: sqlite3.Connection, witnesses: list[Witness], trusted_key: str | None, recomputed_at: dict[int, str],
    max_seq: int, findings: _Findings,
) -> None:
    """The database against the witnesses outside it (rollback, replaced database, deleted anchor)."""
    ledger_id = meta_value(conn, "ledger_id") or ""
    for f in compare(witnesses, ledger_id=ledger_id, max_seq=max_seq, hash_at=recomputed_at.get,
                     trusted_key=trusted_key):
        findings.add(f.seq, f.kind, f.message)
    if meta_value(conn, ANCHORED_KEY) and not any(w.source == "seal" for w in witnesses):
        findings.add(0, "missing", "the signed head anchor (ledger-anchor.json) was deleted although the ledger "
                                   "was anchored")


def _report_missing(seen: _SeenSeqs, max_seq: int, findings: _Findings) -> None:
    """One ``missing`` finding per contiguous gap in 1..max_seq."""
    for first, last in seen.gaps(max_seq):
        span = f"entry {first} is" if first == last else f"entries {first}..{last} are"
        findings.add(first, "missing", f"{span} missing from the chain")


def _well_formed_checkpoint(row: Any) -> bool:
    seq, head, ts_ms, key, signature, root = row
    return (
        isinstance(seq, int) and seq >= 0 and isinstance(ts_ms, int)
        and all(isinstance(v, str) for v in (head, key, signature)) and (root is None or isinstance(root, str))
    )


def _check_checkpoints(
    checkpoints: list[Any], trusted_key: str | None, recomputed_at: dict[int, str], max_seq: int,
    findings: _Findings,
) -> int:
    for cp_seq, head, ts_ms, row_key, signature, root in checkpoints:
        if trusted_key is not None and row_key != trusted_key:
            findings.add(cp_seq, "bad_signature", f"checkpoint at seq {cp_seq} was signed by a foreign key")
        elif not signing.signature_valid(row_key, signature, checkpoint_payload(cp_seq, head, ts_ms, root)):
            findings.add(cp_seq, "bad_signature", f"checkpoint at seq {cp_seq} has an invalid signature")
        elif cp_seq > max_seq:
            findings.add(
                cp_seq, "truncated", f"checkpoint seals seq {cp_seq} but the ledger ends at seq {max_seq}"
            )
        elif cp_seq == 0:
            if head != GENESIS:
                findings.add(0, "bad_signature", "checkpoint at seq 0 does not seal GENESIS")
        elif cp_seq in recomputed_at and recomputed_at[cp_seq] != head:
            findings.add(
                cp_seq, "bad_signature",
                f"signed head at seq {cp_seq} does not match the recomputed chain (ledger rewritten)",
            )
    return len(checkpoints)
