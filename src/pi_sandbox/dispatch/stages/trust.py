"""Stage 2: kill switches and trust state (runbook INC-5, "Contain"); refuses before policy is consulted."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pi_sandbox.dispatch.call import CallInfo, Outcome, Verdict
from pi_sandbox.trust import Controls
from pi_sandbox.vocabulary import Decision, StageName


class TrustStage:
    """Refuses every hostcall of a stopped (kill switch) or quarantined extension, whatever policy says.

    The alert for a stop is raised once, when the switch or quarantine is set; each refused call
    still leaves its ledger entry. Decided calls count toward the extension's clean record.
    """

    name = StageName.TRUST
    summary = "kill switches and the extension's trust state (quarantined: every call refused)"

    def __init__(self, controls: Controls | None = None) -> None:
        self.controls = controls

    def decide(self, call: CallInfo) -> Verdict:
        if self.controls is None:
            return Verdict.proceed()
        self.controls.refresh()
        blocked = self.controls.blocked(call.extension_id)
        if blocked is not None:
            reason, message = blocked
            return Verdict.deny(reason, message, remediation=message)  # the message says how to lift it
        return Verdict.proceed({"trust": self.controls.registry.state(call.extension_id)})

    def settle(self, call: CallInfo, outcome: Outcome) -> Mapping[str, Any] | None:
        if self.controls is not None and outcome.stage != StageName.TRUST:
            self.controls.registry.note_hostcall(call.extension_id, outcome.decision is Decision.ALLOW)
        return None
