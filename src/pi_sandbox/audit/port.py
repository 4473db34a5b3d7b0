"""The narrow evidence port through which pipeline stages and connectors record.

Stages and connectors append a decision, raise an alert or note a side record (exec mediation,
secret broker); they never query, checkpoint or close the store. :class:`StoreEvidence` is the
port over a real :class:`AuditStore`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Protocol

from pi_sandbox.audit.records import AlertDraft, LedgerEntry, LedgerEntryDraft

if TYPE_CHECKING:
    from pi_sandbox.audit.store import AuditStore


class EvidencePort(Protocol):
    """What a stage or connector may do with the audit store."""

    def append_decision(self, draft: LedgerEntryDraft) -> LedgerEntry:
        """Append one decision to the hash-chained ledger (written before this returns)."""
        ...

    def raise_alert(self, draft: AlertDraft) -> None:
        """Store a security alert for operators."""
        ...

    def note(self, kind: str, payload: Mapping[str, Any], extension_id: str | None) -> None:
        """Store a typed side record (hashes, codes and counts only)."""
        ...


class StoreEvidence:
    """The evidence port over an :class:`AuditStore`."""

    __slots__ = ("_store",)

    def __init__(self, store: AuditStore) -> None:
        self._store = store

    def append_decision(self, draft: LedgerEntryDraft) -> LedgerEntry:
        return self._store.append(draft)

    def raise_alert(self, draft: AlertDraft) -> None:
        self._store.record_alert(draft)

    def note(self, kind: str, payload: Mapping[str, Any], extension_id: str | None) -> None:
        self._store.record(kind, payload, extension_id)
