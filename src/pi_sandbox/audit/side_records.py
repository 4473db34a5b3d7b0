"""Alerts and typed side records: the part of the audit store that is not the hash chain.

Alerts (``pi.security.alert.v1``) are the operator's inbox and side records (``pi.security.record.v1``)
hold hashes, codes and counts the stages note (exec mediation, secret broker, usage snapshots). Neither is
part of the chain: the ledger entry of the same decision is the tamper-evident record. Records noted
through :meth:`SideRecords.record_later` ride in the next ledger commit instead of a transaction of their
own (``docs/ledger.md``, *Alerts and side records*).
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import orjson

from pi_sandbox.audit.records import (
    SEVERITY_RANK,
    Alert,
    AlertDraft,
    canonical_mapping,
    normalize_category,
    now_ms,
)
from pi_sandbox.errors import AuditRecordError, AuditStoreError

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

INSERT_RECORD: Final = "INSERT INTO records(ts_ms, kind, extension_id, payload) VALUES (?, ?, ?, ?)"
#: A side record queued by :meth:`SideRecords.record_later`: (ts_ms, kind, extension_id, canonical payload).
PendingRecord = tuple[int, str, str | None, str]


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


class SideRecords:
    """Alert and side-record writes of :class:`~pi_sandbox.audit.store.AuditStore` (a base class of it: it
    uses the store's write transaction, sync and state)."""

    db_path: Path
    _key: Ed25519PrivateKey | None
    _conn_open: bool
    _pending_records: list[PendingRecord]
    _records_lock: threading.Lock

    def _write_tx(self) -> AbstractContextManager[sqlite3.Connection]:
        raise NotImplementedError  # provided by AuditStore

    def sync(self) -> None:
        raise NotImplementedError  # provided by AuditStore

    def _closing(self) -> bool:
        raise NotImplementedError  # provided by AuditStore

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
            cursor = conn.execute(INSERT_RECORD, (now_ms(), kind, extension_id, payload_json))
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
        if self._closing():
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
                conn.executemany(INSERT_RECORD, records)
        except BaseException:
            self._put_back_records(records)
            raise

    def _take_records(self) -> list[PendingRecord]:
        with self._records_lock:
            records, self._pending_records = self._pending_records, []
        return records

    def _put_back_records(self, records: list[PendingRecord]) -> None:
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
            conn.executemany(INSERT_RECORD, rows)
