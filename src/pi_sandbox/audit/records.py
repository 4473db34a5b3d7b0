"""Frozen records the audit store accepts (drafts) and hands back (stored rows).

Drafts are what callers build; the store adds what only it can know (sequence numbers, time,
chain hashes). Everything here is hashes, reason codes and counts: callers must never put raw
secrets, commands or hostcall parameters into a record (INV-012).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from pi_sandbox import schemas
from pi_sandbox.audit import forensics
from pi_sandbox.errors import AuditRecordError
from pi_sandbox.hashing import canonical_json
from pi_sandbox.vocabulary import ALERT_CATEGORY_ALIASES, AlertCategory, Severity

#: Alert categories (the vocabulary's enum); older spellings are accepted as aliases.
ALERT_CATEGORIES: Final = frozenset(c.value for c in AlertCategory)
CATEGORY_ALIASES: Final[Mapping[str, str]] = {k: v.value for k, v in ALERT_CATEGORY_ALIASES.items()}

#: Severities in increasing order; the rank is what ``min_severity`` filters compare.
SEVERITY_RANK: Final[Mapping[str, int]] = {s.value: s.rank for s in Severity}


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
    #: The call's forensic record (redacted parameters, hashes, remediation; see :mod:`.forensics`):
    #: stored in the entry's row outside the hashed fields, committed to by ``detail.forensic_digest``.
    forensic: Mapping[str, Any] | None = None


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


# --- draft validation (in the caller's thread, before group commit) ------------------------------


def now_ms() -> int:
    """Wall-clock time in milliseconds since the epoch."""
    return time.time_ns() // 1_000_000


#: A prepared entry: every hashed field except seq and prev_hash, in entry_preimage order
# (ts_ms, kind, extension_id, call_id, capability, method, params_hash, decision, layer, reason,
# detail_json).
PreparedEntry = tuple[int, str, str | None, str | None, str | None, str | None, str | None, str, int | None,
                      str, str]


_REQUIRED_TEXT: Final = ("kind", "decision", "reason")
_OPTIONAL_TEXT: Final = ("extension_id", "call_id", "capability", "method", "params_hash")


def _check_text(name: str, value: object, *, optional: bool) -> None:
    if value is None and optional:
        return
    if not isinstance(value, str) or (not optional and not value):
        wanted = "a string or None" if optional else "a non-empty string"
        raise AuditRecordError(f"ledger field '{name}' must be {wanted}")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise AuditRecordError(f"ledger field '{name}' is not valid Unicode text") from None


def canonical_mapping(what: str, value: object) -> str:
    """``value`` (a mapping of JSON values) as canonical JSON text; ``AuditRecordError`` otherwise."""
    if type(value) is not dict:
        if not isinstance(value, Mapping):
            raise AuditRecordError(f"{what} must be a mapping of JSON values")
        value = dict(value)
    try:
        return canonical_json(value).decode("utf-8")
    except Exception as exc:  # rfc8785 / json raise several types for non-JSON input
        raise AuditRecordError(f"{what} is not canonical-JSON serialisable: {exc}") from None


def prepare_entry(draft: LedgerEntryDraft) -> PreparedEntry:
    """Validate a draft and canonicalise its detail in the caller's thread (outside the commit)."""
    return prepare_with_forensics(draft)[0]


def prepare_with_forensics(draft: LedgerEntryDraft) -> tuple[PreparedEntry, str | None]:
    """:func:`prepare_entry` plus the canonical JSON of the draft's sealed forensic record (None without one)."""
    if not isinstance(draft, LedgerEntryDraft):
        raise AuditRecordError("append() takes a LedgerEntryDraft")
    # Fast path first (this runs on every hostcall): ASCII strings (or None where optional) need no
    # further checks; anything else (enum members included) gets the exact per-field checks.
    for value in (draft.kind, draft.decision, draft.reason):
        if type(value) is not str or not value or not value.isascii():
            for name in _REQUIRED_TEXT:
                _check_text(name, getattr(draft, name), optional=False)
            break
    for optional in (draft.extension_id, draft.call_id, draft.capability, draft.method, draft.params_hash):
        if optional is not None and (type(optional) is not str or not optional.isascii()):
            for name in _OPTIONAL_TEXT:
                _check_text(name, getattr(draft, name), optional=True)
            break
    if draft.layer is not None and (isinstance(draft.layer, bool) or not isinstance(draft.layer, int)):
        raise AuditRecordError("ledger field 'layer' must be an integer or None")
    detail, record_json = draft.detail, None
    if draft.forensic is not None:
        if not isinstance(draft.forensic, Mapping):
            raise AuditRecordError("forensic record must be a mapping of JSON values")
        try:  # sealing serialises every field: that is the check for JSON values
            digest, record_json = forensics.seal_canonical(draft.forensic)
        except Exception as exc:  # rfc8785 / json raise several types for non-JSON input
            raise AuditRecordError(f"forensic record is not canonical-JSON serialisable: {exc}") from None
        detail = {**draft.detail, forensics.DIGEST_KEY: digest}
    detail_json = canonical_mapping("ledger detail", detail)
    return (
        now_ms(), draft.kind, draft.extension_id, draft.call_id, draft.capability, draft.method,
        draft.params_hash, draft.decision, draft.layer, draft.reason, detail_json,
    ), record_json
