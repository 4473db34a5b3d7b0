"""Frozen records the audit store accepts (drafts) and hands back (stored rows).

Drafts are what callers build; the store adds what only it can know (sequence numbers, time,
chain hashes). Everything here is hashes, reason codes and counts: callers must never put raw
secrets, commands or hostcall parameters into a record (INV-012).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from pi_sandbox import schemas

#: Alert categories. ``policy_denial`` (the upstream spelling) is accepted as an alias.
ALERT_CATEGORIES: Final = frozenset(
    {
        "policy_violation",
        "anomaly_denial",
        "exec_mediation",
        "secret_exposure",
        "quota_breach",
        "quarantine",
        "profile_transition",
        "scanner",
        "runtime",
        "trust",
    }
)
CATEGORY_ALIASES: Final[Mapping[str, str]] = {"policy_denial": "policy_violation"}

#: Severities in increasing order; the rank is what ``min_severity`` filters compare.
SEVERITY_RANK: Final[Mapping[str, int]] = {"info": 0, "warning": 1, "error": 2, "critical": 3}


def normalize_category(category: str) -> str | None:
    """The canonical spelling of an alert category, or None when it is unknown."""
    name = CATEGORY_ALIASES.get(category, category)
    return name if name in ALERT_CATEGORIES else None


@dataclass(frozen=True, slots=True)
class LedgerEntryDraft:
    """One hostcall decision (or config event) to be appended to the hash-chained ledger.

    ``detail`` must hold hashes, reason codes and counts only; it is stored as canonical JSON.
    """

    kind: str
    extension_id: str | None
    decision: str
    reason: str
    call_id: str | None = None
    capability: str | None = None
    method: str | None = None
    params_hash: str | None = None
    layer: int | None = None
    detail: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    """A stored ledger entry with its position and chain hashes."""

    seq: int
    ts_ms: int
    kind: str
    extension_id: str | None
    call_id: str | None
    capability: str | None
    method: str | None
    params_hash: str | None
    decision: str
    layer: int | None
    reason: str
    detail: Mapping[str, Any]
    prev_hash: str
    entry_hash: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (the hashed fields plus ``entry_hash`` and the schema id)."""
        return {
            "schema": schemas.LEDGER_SCHEMA,
            "seq": self.seq,
            "ts_ms": self.ts_ms,
            "kind": self.kind,
            "extension_id": self.extension_id,
            "call_id": self.call_id,
            "capability": self.capability,
            "method": self.method,
            "params_hash": self.params_hash,
            "decision": self.decision,
            "layer": self.layer,
            "reason": self.reason,
            "detail": dict(self.detail),
            "prev_hash": self.prev_hash,
            "entry_hash": self.entry_hash,
        }


@dataclass(frozen=True, slots=True)
class AlertDraft:
    """A security alert for operators (the DETECT step of the incident runbook)."""

    category: str
    severity: str
    extension_id: str | None
    summary: str
    reason_codes: tuple[str, ...] = ()
    capability: str | None = None
    method: str | None = None
    call_id: str | None = None
    action: str = "deny"
    remediation: str = ""
    context_hash: str | None = None


@dataclass(frozen=True, slots=True)
class Alert:
    """A stored alert: the draft fields plus a monotonic ``sequence_id`` and time."""

    sequence_id: int
    ts_ms: int
    category: str
    severity: str
    extension_id: str | None
    summary: str
    reason_codes: tuple[str, ...]
    capability: str | None
    method: str | None
    call_id: str | None
    action: str
    remediation: str
    context_hash: str | None
    schema: str = schemas.SECURITY_ALERT

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "schema": self.schema,
            "sequence_id": self.sequence_id,
            "ts_ms": self.ts_ms,
            "category": self.category,
            "severity": self.severity,
            "extension_id": self.extension_id,
            "summary": self.summary,
            "reason_codes": list(self.reason_codes),
            "capability": self.capability,
            "method": self.method,
            "call_id": self.call_id,
            "action": self.action,
            "remediation": self.remediation,
            "context_hash": self.context_hash,
        }


@dataclass(frozen=True, slots=True)
class SecurityRecord:
    """A typed side record (exec mediation, secret broker, install, runtime event...)."""

    record_id: int
    ts_ms: int
    kind: str
    extension_id: str | None
    payload: Mapping[str, Any]
    schema: str = schemas.SECURITY_RECORD

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "schema": self.schema,
            "record_id": self.record_id,
            "ts_ms": self.ts_ms,
            "kind": self.kind,
            "extension_id": self.extension_id,
            "payload": dict(self.payload),
        }
