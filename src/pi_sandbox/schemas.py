"""Versioned schema identifiers: the one place each record format is named."""

from __future__ import annotations

from typing import Final

LEDGER_SCHEMA: Final = "pi.security.ledger.v1"
LEDGER_VERIFICATION_REPORT: Final = "pi.security.ledger_verification_report.v1"
LEDGER_CHECKPOINT: Final = "pi.security.ledger_checkpoint.v1"
LEDGER_ANCHOR: Final = "pi.security.ledger_anchor.v1"
SECURITY_ALERT: Final = "pi.security.alert.v1"
SECURITY_RECORD: Final = "pi.security.record.v1"
POLICY_EXPLANATION: Final = "pi.security.policy_explanation.v1"
PERMISSION_STORE: Final = "pi.security.permission_store.v1"
HOSTCALL_RESULT: Final = "pi.security.hostcall_result.v1"
SCAN_REPORT: Final = "pi.security.scan_report.v1"
EXTENSION_LOCKFILE: Final = "pi.security.extension_lockfile.v1"
INCIDENT_EVIDENCE_BUNDLE: Final = "pi.security.incident_evidence_bundle.v1"
RISK_CALIBRATION: Final = "pi.security.risk_calibration.v1"
RISK_STATUS: Final = "pi.security.risk_status.v1"
