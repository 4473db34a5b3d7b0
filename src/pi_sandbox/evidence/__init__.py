"""Evidence: incident bundles (export, filter, redact, verify) and forensic replay.

The public API other layers and the CLI build on (kept stable):

- :func:`export_bundle` / :func:`build_bundle`: a bundle from the audit store (COLLECT);
- :func:`verify_bundle`: the runbook's five verification steps (VERIFY);
- :func:`load_bundle` / :func:`write_bundle`: the file form;
- :func:`replay_ledger` / :func:`replay_bundle`: forensic replay (ANALYZE);
- :class:`BundleFilter`, :class:`RedactionPolicy`: what a bundle selects and blanks.
"""

from pi_sandbox.evidence.bundle import compute_bundle_hash, load_bundle, write_bundle
from pi_sandbox.evidence.export import ExportResult, build_bundle, export_bundle
from pi_sandbox.evidence.model import REDACTED, BundleFilter, RedactionPolicy
from pi_sandbox.evidence.replay import ReplayReport, ReplayStep, replay_bundle, replay_ledger
from pi_sandbox.evidence.verify import STEPS, BundleVerificationReport, StepResult, verify_bundle

__all__ = [
    "REDACTED",
    "STEPS",
    "BundleFilter",
    "BundleVerificationReport",
    "ExportResult",
    "RedactionPolicy",
    "ReplayReport",
    "ReplayStep",
    "StepResult",
    "build_bundle",
    "compute_bundle_hash",
    "export_bundle",
    "load_bundle",
    "replay_bundle",
    "replay_ledger",
    "verify_bundle",
    "write_bundle",
]
