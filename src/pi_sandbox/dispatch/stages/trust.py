"""Stage 2: trust state and kill switches (runbook INC-5); refuses before policy is consulted."""

from __future__ import annotations

from collections.abc import Callable

from pi_sandbox.dispatch.call import CallInfo, Verdict
from pi_sandbox.vocabulary import StageName

#: A trust check: a refusal verdict for the call, or None to let it through.
TrustCheck = Callable[[CallInfo], Verdict | None]


class TrustStage:
    """Refuses every hostcall of a killed or quarantined extension, whatever policy says."""

    name = StageName.TRUST
    summary = "kill switches and the extension's trust state (quarantined: every call refused)"

    def __init__(self, checks: tuple[TrustCheck, ...] = ()) -> None:
        self.checks = checks

    def decide(self, call: CallInfo) -> Verdict:
        for check in self.checks:
            verdict = check(call)
            if verdict is not None:
                return verdict
        return Verdict.proceed()
