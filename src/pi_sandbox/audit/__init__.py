"""Audit layer: the hash-chained, checkpoint-signed ledger, security alerts and side records.

Everything else records its evidence here; nothing here imports any other layer.
"""

from pi_sandbox.audit.chain import GENESIS
from pi_sandbox.audit.port import EvidencePort, StoreEvidence
from pi_sandbox.audit.records import (
    ALERT_CATEGORIES,
    SEVERITY_RANK,
    Alert,
    AlertDraft,
    LedgerEntry,
    LedgerEntryDraft,
    SecurityRecord,
)
from pi_sandbox.audit.store import DEFAULT_CHECKPOINT_INTERVAL, AuditStore
from pi_sandbox.audit.verify import LedgerVerificationReport, VerificationIssue, verify_ledger

__all__ = [
    "ALERT_CATEGORIES",
    "DEFAULT_CHECKPOINT_INTERVAL",
    "EvidencePort",
    "GENESIS",
    "SEVERITY_RANK",
    "Alert",
    "AlertDraft",
    "AuditStore",
    "LedgerEntry",
    "LedgerEntryDraft",
    "LedgerVerificationReport",
    "SecurityRecord",
    "StoreEvidence",
    "VerificationIssue",
    "verify_ledger",
]
