"""The read side of the audit store: ledger, alert and side-record queries.

:class:`AuditQueries` is a base of :class:`~pi_sandbox.audit.store.AuditStore`; it only needs the
store's ``_db()`` connection context (which maps SQLite failures to typed errors).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import Any, Final

import orjson

from pi_sandbox.audit import merkle
from pi_sandbox.audit.chain import GENESIS
from pi_sandbox.audit.db import FORENSIC_COLUMN, FORENSICS_TABLE, HOSTCALL_KIND, table_columns
from pi_sandbox.audit.records import SEVERITY_RANK, Alert, LedgerEntry, SecurityRecord, normalize_category
from pi_sandbox.errors import AuditRecordError

LEDGER_COLUMNS: Final = (
    "seq, ts_ms, kind, extension_id, call_id, capability, method, params_hash, decision, layer, "
    "reason, detail, prev_hash, entry_hash"
)
_SQLITE_MAX: Final = 2**63 - 1
ALERT_COLUMNS: Final = (
    "sequence_id, ts_ms, category, severity, extension_id, summary, reason_codes, capability, method, "
    "call_id, action, remediation, context_hash"
)


def entry_from_row(row: Sequence[Any]) -> LedgerEntry:
    """A ledger entry from a row of ``LEDGER_COLUMNS``."""
    # Positional (the fields' order is the columns'): keyword arguments cost ~20 % more per entry, and every
    # append builds the entry it returns here.
    return LedgerEntry(row[0], row[1], row[2], row[3], row[4], row[5], row[6], row[7], row[8], row[9], row[10],
                       _loads(row[11]), row[12], row[13])


def _loads(text: str) -> Any:
    """JSON text of a stored column (orjson; ``json`` with its own errors for what orjson refuses)."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)


def _alert_from_row(row: Sequence[Any]) -> Alert:
    return Alert(
        sequence_id=row[0], ts_ms=row[1], category=row[2], severity=row[3], extension_id=row[4],
        summary=row[5], reason_codes=tuple(json.loads(row[6])), capability=row[7], method=row[8],
        call_id=row[9], action=row[10], remediation=row[11], context_hash=row[12],
    )


def _where(**conditions: tuple[str, Any]) -> tuple[str, list[Any]]:
    """``WHERE`` text and arguments for the given ``name=(sql condition, value)`` pairs; None values skip."""
    active = [(sql, value) for sql, value in conditions.values() if value is not None]
    text = " AND ".join(sql for sql, _ in active) or "1=1"
    return text, [value for _, value in active]


def _kind_condition(kind: str | None) -> str:
    """``kind = ?``, plus the term that lets SQLite use the kind index (which leaves hostcalls out: a
    planner cannot see that a bound parameter is not 'hostcall')."""
    return "kind = ?" if kind == HOSTCALL_KIND else f"kind = ? AND kind <> '{HOSTCALL_KIND}'"


def _forensic_texts(conn: sqlite3.Connection, first_seq: int, last_seq: int) -> dict[int, str]:
    """The stored forensic record texts of entries ``first_seq..last_seq``, by seq: from the entry's own
    row (schema 2) or, for entries written before, from the ``ledger_forensics`` sidecar table."""
    found: dict[int, str] = {}
    if FORENSIC_COLUMN in table_columns(conn, "ledger"):
        for seq, text in conn.execute(
                f"SELECT seq, {FORENSIC_COLUMN} FROM ledger WHERE seq BETWEEN ? AND ? AND {FORENSIC_COLUMN} "
                "IS NOT NULL ORDER BY id", (first_seq, last_seq)):
            found.setdefault(int(seq), str(text))
    if table_columns(conn, FORENSICS_TABLE):
        for seq, text in conn.execute(f"SELECT seq, payload FROM {FORENSICS_TABLE} WHERE seq BETWEEN ? AND ?",
                                      (first_seq, last_seq)):
            found.setdefault(int(seq), str(text))
    return found


def ledger_head(conn: sqlite3.Connection) -> tuple[int, str]:
    """``(seq, entry_hash)`` of the last entry, or ``(0, GENESIS)`` for an empty ledger."""
    row = conn.execute("SELECT seq, entry_hash FROM ledger ORDER BY seq DESC LIMIT 1").fetchone()
    return (0, GENESIS) if row is None else (int(row[0]), str(row[1]))


def merkle_frontier(conn: sqlite3.Connection, seq: int) -> merkle.Frontier:
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


class AuditQueries:
    """Ledger, alert and side-record queries (read-only; safe on a store opened read-only)."""

    def _db(self) -> AbstractContextManager[sqlite3.Connection]:
        raise NotImplementedError  # provided by AuditStore

    def _before_record_query(self) -> None:
        """Hook: the store writes its queued side records before they are queried."""

    def query_ledger(
        self, extension_id: str | None = None, since_ms: int | None = None, limit: int | None = None,
        kind: str | None = None, after_seq: int | None = None,
    ) -> list[LedgerEntry]:
        """Entries in chain order, optionally for one extension / of one kind / from a time or position;
        ``limit`` keeps the newest."""
        where, args = _where(ext=("extension_id = ?", extension_id), since=("ts_ms >= ?", since_ms),
                             kind=(_kind_condition(kind), kind), after=("seq > ?", after_seq))
        sql = f"SELECT {LEDGER_COLUMNS} FROM ledger WHERE {where}"
        with self._db() as conn:
            if limit is None:
                rows = conn.execute(sql + " ORDER BY seq", args).fetchall()
            else:
                rows = conn.execute(sql + " ORDER BY seq DESC LIMIT ?", [*args, max(0, limit)]).fetchall()
                rows.reverse()
        return [entry_from_row(r) for r in rows]

    def ledger_page(self, after_seq: int, limit: int, extension_id: str | None = None,
                    since_ms: int | None = None) -> list[LedgerEntry]:
        """Up to ``limit`` entries after chain position ``after_seq``, oldest first (for streaming a long
        ledger in pages without holding it in memory)."""
        where, args = _where(after=("seq > ?", after_seq), ext=("extension_id = ?", extension_id),
                             since=("ts_ms >= ?", since_ms))
        with self._db() as conn:
            rows = conn.execute(f"SELECT {LEDGER_COLUMNS} FROM ledger WHERE {where} ORDER BY seq LIMIT ?",
                                [*args, max(0, limit)]).fetchall()
        return [entry_from_row(r) for r in rows]

    def count_decisions(self, extension_id: str, after_seq: int = 0) -> tuple[int, int]:
        """(allowed, refused) hostcall decisions of ``extension_id`` after chain position ``after_seq``."""
        with self._db() as conn:
            rows = conn.execute(
                "SELECT decision, count(*) FROM ledger WHERE extension_id = ? AND kind = 'hostcall' AND seq > ? "
                "GROUP BY decision", (extension_id, after_seq)).fetchall()
        counts = {str(decision): int(n) for decision, n in rows}
        return counts.get("allow", 0), sum(n for d, n in counts.items() if d != "allow")

    def query_alerts(
        self,
        category: str | None = None,
        extension_id: str | None = None,
        min_severity: str | None = None,
        since_ms: int | None = None,
    ) -> list[Alert]:
        """Alerts in sequence order, filtered by category (aliases accepted), extension, severity, time."""
        canonical = None
        if category is not None:
            canonical = normalize_category(category)
            if canonical is None:
                raise AuditRecordError(f"unknown alert category {category!r}")
        if min_severity is not None and min_severity not in SEVERITY_RANK:
            raise AuditRecordError(f"unknown alert severity {min_severity!r}")
        where, args = _where(
            category=("category = ?", canonical),
            ext=("extension_id = ?", extension_id),
            severity=("severity_rank >= ?", SEVERITY_RANK[min_severity] if min_severity is not None else None),
            since=("ts_ms >= ?", since_ms),
        )
        with self._db() as conn:
            rows = conn.execute(f"SELECT {ALERT_COLUMNS} FROM alerts WHERE {where} ORDER BY sequence_id",
                                args).fetchall()
        return [_alert_from_row(r) for r in rows]

    def query_records(self, kind: str | None = None, extension_id: str | None = None) -> list[SecurityRecord]:
        """Side records in insertion order, optionally of one kind / extension."""
        self._before_record_query()
        where, args = _where(kind=("kind = ?", kind), ext=("extension_id = ?", extension_id))
        sql = f"SELECT record_id, ts_ms, kind, extension_id, payload FROM records WHERE {where} ORDER BY record_id"
        with self._db() as conn:
            rows = conn.execute(sql, args).fetchall()
        return [
            SecurityRecord(record_id=r[0], ts_ms=r[1], kind=r[2], extension_id=r[3], payload=json.loads(r[4]))
            for r in rows
        ]

    def query_checkpoints(self, until_seq: int | None = None) -> list[dict[str, Any]]:
        """Signed checkpoints in insertion order (``merkle_root`` is None for those older than Merkle roots)."""
        with self._db() as conn:
            root = "merkle_root" if "merkle_root" in table_columns(conn, "ledger_checkpoints") else "NULL"
            rows = conn.execute(
                f"SELECT seq, head_hash, ts_ms, reason, public_key, signature, {root} FROM ledger_checkpoints "
                "WHERE seq <= ? ORDER BY id", (_SQLITE_MAX if until_seq is None else until_seq,)).fetchall()
        return [{"seq": r[0], "head_hash": r[1], "ts_ms": r[2], "reason": r[3], "public_key": r[4],
                 "signature": r[5], "merkle_root": r[6]} for r in rows]

    def entry_hashes(self, until_seq: int) -> list[str]:
        """Stored ``entry_hash`` of seqs 1..``until_seq`` in chain order (the Merkle tree's leaves)."""
        with self._db() as conn:
            return [str(r[0]) for r in conn.execute(
                "SELECT entry_hash FROM ledger WHERE seq <= ? ORDER BY seq", (until_seq,))]

    def forensic_records(self, first_seq: int, last_seq: int) -> dict[int, dict[str, Any]]:
        """The forensic records (``audit/forensics.py``) of entries ``first_seq..last_seq``, by seq."""
        with self._db() as conn:
            texts = _forensic_texts(conn, first_seq, last_seq)
        return {seq: json.loads(text) for seq, text in texts.items()}

    def raw_ledger(self, until_seq: int) -> list[tuple[Any, ...]]:
        """Rows of ``LEDGER_COLUMNS`` for seqs 1..``until_seq`` with ``detail`` as its stored canonical text
        (bulk readers such as the evidence bundle splice it instead of parsing and re-serializing it)."""
        with self._db() as conn:
            return conn.execute(f"SELECT {LEDGER_COLUMNS} FROM ledger WHERE seq <= ? ORDER BY seq",
                                (until_seq,)).fetchall()

    def raw_records(self, kind: str) -> list[tuple[int, int, str | None, str]]:
        """``(record_id, ts_ms, extension_id, payload text)`` of every side record of ``kind``, in order."""
        self._before_record_query()
        with self._db() as conn:
            return conn.execute("SELECT record_id, ts_ms, extension_id, payload FROM records WHERE kind = ? "
                                "ORDER BY record_id", (kind,)).fetchall()

    def raw_forensic_records(self, first_seq: int, last_seq: int) -> dict[int, str]:
        """The stored canonical text of the forensic records of entries ``first_seq..last_seq``, by seq."""
        with self._db() as conn:
            return _forensic_texts(conn, first_seq, last_seq)

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

    def extension_ids(self, kinds: tuple[str, ...] = ("hostcall", "runtime")) -> set[str]:
        """The extension ids of the ledger's entries of ``kinds`` (default: what ran, not what an operator
        named), walking the ``ledger_by_extension`` index one id at a time."""
        ids: set[str] = set()
        marks = ",".join("?" * len(kinds))
        sql = f"SELECT min(extension_id) FROM ledger WHERE extension_id > ? AND kind IN ({marks})"
        with self._db() as conn:
            row = conn.execute(sql, ("", *kinds)).fetchone()
            while row is not None and row[0] is not None:
                ids.add(str(row[0]))
                row = conn.execute(sql, (row[0], *kinds)).fetchone()
        return ids

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

    def config_version(self, digest: str) -> dict[str, Any] | None:
        """The resolved configuration stored under ``digest`` (None when unknown)."""
        with self._db() as conn:
            if not table_columns(conn, "config_versions"):
                return None
            row = conn.execute("SELECT body FROM config_versions WHERE digest = ?", (digest,)).fetchone()
        return None if row is None else dict(json.loads(row[0]))

    def forensic_fields(self, seq: int) -> dict[str, Any]:
        """The forensic field values of entry ``seq`` (empty when it has no forensic record)."""
        record = self.forensic_records(seq, seq).get(seq, {})
        return {name: item.get("value") for name, item in dict(record.get("disclosed", {})).items()}
