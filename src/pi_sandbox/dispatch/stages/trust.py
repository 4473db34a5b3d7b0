"""Stage 2: kill switches and trust state (runbook INC-5, "Contain"); refuses before policy is consulted."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, Final

from pi_sandbox.dispatch.call import CallInfo, Outcome, Verdict
from pi_sandbox.trust import Controls
from pi_sandbox.vocabulary import Decision, StageName

#: Extensions whose verdict is kept (the table is emptied when full: ids are the callers' own).
_VERDICTS: Final = 4096
#: Read once per settle (an enum attribute lookup costs more than the comparison).
_TRUST, _ALLOW = StageName.TRUST, Decision.ALLOW


class TrustStage:
    """Refuses every hostcall of a stopped (kill switch) or quarantined extension, whatever policy says.

    The alert for a stop is raised once, when the switch or quarantine is set; each refused call
    still leaves its ledger entry. Decided calls count toward the extension's clean record.
    """

    name = StageName.TRUST
    summary = "kill switches and the extension's trust state (quarantined: every call refused)"

    def __init__(self, controls: Controls | None = None) -> None:
        self.controls = controls
        # The verdict per extension, with the controls' version it was decided under: it is reused only while
        # no trust state or kill switch changed (in this process or, through ``refresh``, any other).
        self._verdicts: dict[str, tuple[int, Verdict]] = {}

    def decide(self, call: CallInfo) -> Verdict:
        controls = self.controls
        if controls is None:
            return Verdict.proceed()
        # An operator's change made before this call applies to it; the version is read after that and before
        # deciding: a change while this call decides bumps it, so what is stored is never reused.
        version = controls.refresh()
        cached = self._verdicts.get(call.extension_id)
        if cached is not None and cached[0] == version:
            return cached[1]
        verdict = self._decide(controls, call.extension_id)
        if len(self._verdicts) >= _VERDICTS:
            self._verdicts.clear()
        self._verdicts[call.extension_id] = (version, verdict)
        return verdict

    @staticmethod
    def _decide(controls: Controls, extension_id: str) -> Verdict:
        blocked = controls.blocked(extension_id)
        if blocked is not None:
            reason, message = blocked
            return Verdict.deny(reason, message, remediation=message)  # the message says how to lift it
        return Verdict.proceed(MappingProxyType({"trust": controls.registry.state(extension_id)}))

    def settle(self, call: CallInfo, outcome: Outcome) -> Mapping[str, Any] | None:
        controls = self.controls
        if controls is not None and outcome.stage != _TRUST:
            controls.registry.note_hostcall(call.extension_id, outcome.decision is _ALLOW)
        return None
