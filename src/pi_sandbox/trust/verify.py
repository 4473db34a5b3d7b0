"""Ledger verification's trust check: every recorded transition must be legal (runbook INC-5).

Composed into ``ledger verify`` next to the chain and checkpoint checks. A transition whose ``from``
is not the state the record had reached, or that no rule allows (leaving quarantine without an
operator or a reason), is reported as ``illegal_trust_transition``: it is how an edited or forged
exit from quarantine shows up.
"""

from __future__ import annotations

from pathlib import Path

from pi_sandbox.audit import AuditStore, LedgerVerificationReport, VerificationIssue, verify_ledger
from pi_sandbox.audit.db import DB_FILE
from pi_sandbox.errors import TrustTransitionError
from pi_sandbox.progress import ProgressCallback
from pi_sandbox.trust.registry import transition_from_entry
from pi_sandbox.trust.states import TRUST_ENTRY_KIND, TrustState, check_transition


def check_trust_transitions(store: AuditStore) -> list[VerificationIssue]:
    """Findings for every malformed or illegal ``trust`` entry in the ledger."""
    issues: list[VerificationIssue] = []
    states: dict[str, TrustState] = {}
    for entry in store.query_ledger(kind=TRUST_ENTRY_KIND):
        transition = transition_from_entry(entry)
        if transition is None:
            issues.append(VerificationIssue(entry.seq, "illegal_trust_transition", "malformed trust entry"))
            continue
        current = states.get(transition.extension_id, TrustState.UNKNOWN)
        try:
            if transition.from_state is not current:
                raise TrustTransitionError(f"recorded 'from' is '{transition.from_state}' but the record had "
                                           f"reached '{current}'")
            check_transition(current, transition.to_state, transition.actor, transition.note)
        except TrustTransitionError as exc:
            issues.append(VerificationIssue(entry.seq, "illegal_trust_transition",
                                            f"extension '{transition.extension_id}': {exc}"))
            continue
        states[transition.extension_id] = transition.to_state
    return issues


def verify_ledger_and_trust(
    state_dir: Path, *, public_key: str | None = None, anchor_copy: Path | None = None,
    progress: ProgressCallback | None = None,
) -> LedgerVerificationReport:
    """``verify_ledger`` plus the trust check: one report, invalid when either finds a problem."""
    report = verify_ledger(state_dir, public_key=public_key, anchor_copy=anchor_copy, progress=progress)
    if not (state_dir / DB_FILE).exists():
        return report
    with AuditStore.open_read_only(state_dir) as store:
        return report.with_findings(check_trust_transitions(store))
