"""Stage 5: the runtime risk controller (runbook INC-1/INC-6); it can only tighten.

The controller (``pi_sandbox.risk``) scores the call against its extension's recent behaviour; this
stage turns its answer into a verdict: ``risk_denied`` with an ``anomaly_denial`` alert (enforce),
``risk_fail_closed`` when the controller failed or ran past ``decisionTimeoutMs`` (``failClosed``),
and otherwise the call goes on — a would-be refusal in shadow mode is recorded in the evidence. It
also tells the controller how every call ended, including those refused before it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from pi_sandbox.dispatch.call import AlertSpec, CallInfo, Outcome, Verdict
from pi_sandbox.risk import CallState, RiskAction, RiskController
from pi_sandbox.vocabulary import AlertCategory, Decision, ErrorCode, Reason, Severity, StageName

_ANOMALY: Final = AlertSpec(AlertCategory.ANOMALY_DENIAL, Severity.ERROR)
_FAULT: Final = AlertSpec(AlertCategory.RUNTIME, Severity.ERROR)
_ROLLBACK: Final = ("if this extension's behaviour is expected, run the controller in shadow mode "
                    "(extensionRisk.enforce: false in the global settings) and review `pi-sandbox security risk "
                    "status`; repeated refusals quarantine the extension (extensionTrust.quarantineAfterRiskDenials)")
_ALLOW, _DENY, _FAIL_CLOSED = RiskAction.ALLOW, RiskAction.DENY, RiskAction.FAIL_CLOSED
_DENIED_CODE = ErrorCode.DENIED
#: ``Verdict.proceed(evidence)`` without its frame: every field, in ``Verdict``'s order, to ``tuple.__new__``.
_new = tuple.__new__
#: Error codes of an allowed call that a connector refused after all.
_REFUSED_CODES: Final = frozenset({ErrorCode.DENIED, ErrorCode.QUOTA_EXCEEDED})
_ALLOWED = Decision.ALLOW
_DONE_STATE, _FAILED_STATE, _DENIED_STATE = CallState.DONE, CallState.FAILED, CallState.DENIED


def call_state(outcome: Outcome) -> CallState:
    """How the window records a call that ended with ``outcome``."""
    if outcome.decision is not Decision.ALLOW or outcome.error_code in _REFUSED_CODES:
        return CallState.DENIED
    return CallState.DONE if outcome.ok else CallState.FAILED


class RiskStage:
    """Scores the call against its extension's recent behaviour; refuses in enforce mode."""

    name = StageName.RISK
    summary = "runtime risk controller: scores recent behaviour, shadow or enforce, fails closed"

    def __init__(self, controller: RiskController | None = None) -> None:
        #: None when ``extensionRisk.enabled`` is false: every call goes on, nothing is scored.
        self.controller = controller

    def decide(self, call: CallInfo) -> Verdict:
        if self.controller is None:
            return Verdict.proceed()
        decision = self.controller.decide(call)
        action, threshold, score, p_value, top, _ = decision
        if action is _ALLOW and score is not None:
            # ``decision.evidence()`` of an allowed, scored call (nearly every call), and its verdict, made here:
            # two Python frames less per call (the features are a dict ``assess`` made for this decision alone)
            evidence: dict[str, Any] = {"risk": {"threshold": threshold, "score": score, "p": p_value,
                                                 "features": top if type(top) is dict else dict(top)}}
            return _new(Verdict, (None, None, "", _DENIED_CODE, None, None, evidence, ""))
        evidence = {"risk": decision.evidence()}
        if action is _DENY:
            drivers = ", ".join(decision.features) or "score"
            return Verdict.deny(
                Reason.RISK_DENIED,
                f"refused by the runtime risk controller: this call's behaviour score {decision.score} is above "
                f"the threshold {decision.threshold} calibrated for extensionRisk.alpha (driven by {drivers})",
                alert=_ANOMALY, evidence=evidence, remediation=_ROLLBACK)
        if action is _FAIL_CLOSED:
            return Verdict.deny(
                Reason.RISK_FAIL_CLOSED,
                f"refused because the runtime risk controller could not decide ({decision.fault}) and "
                "extensionRisk.failClosed is on", code=ErrorCode.DENIED, alert=_FAULT, evidence=evidence,
                remediation="a controller fault or a decision slower than extensionRisk.decisionTimeoutMs; see the "
                            "runtime alerts and `pi-sandbox security risk status`")
        return Verdict.proceed(evidence)

    def settle(self, call: CallInfo, outcome: Outcome) -> Mapping[str, Any] | None:
        controller = self.controller
        if controller is not None:
            # ``call_state(outcome)`` inline (it runs for every call)
            if outcome.decision is not _ALLOWED or outcome.error_code in _REFUSED_CODES:
                controller.settle(call, _DENIED_STATE)
            else:
                controller.settle(call, _DONE_STATE if outcome.ok else _FAILED_STATE)
        return None

    def observe(self, call: CallInfo, outcome: Outcome) -> None:
        """A call refused before this stage (policy, quota, trust): part of the behaviour scored."""
        if self.controller is not None:
            self.controller.observe(call)

    def flush(self) -> None:
        """Write the last state snapshots (the session is closing)."""
        if self.controller is not None:
            self.controller.flush()
