"""The settle steps' inline forms tell the stages what the step-by-step forms told them (issue 14, speed).

- ``RiskStage.settle`` maps an outcome to the window's call state inline: the state ``call_state`` gives, for
  every decision, error code and result;
- ``TrustRegistry.note_hostcall`` returns at a denial without the promotion check: a probation with a denial is
  never promoted, one without is promoted after its clean record, as before.
"""

from __future__ import annotations

import itertools
from pathlib import Path

from pi_sandbox.audit import AuditStore
from pi_sandbox.capabilities import Capability
from pi_sandbox.config.model import RiskSettings, TrustSettings
from pi_sandbox.dispatch.call import CallInfo, Outcome
from pi_sandbox.dispatch.stages.risk import RiskStage, call_state
from pi_sandbox.mediation.secret_files import SecretFiles
from pi_sandbox.risk.calibrate import TraceWorkspace
from pi_sandbox.risk.calibration import shipped
from pi_sandbox.risk.controller import RiskController
from pi_sandbox.risk.features import Observer
from pi_sandbox.risk.window import CallState
from pi_sandbox.trust import Actor, TransitionReason, TrustState
from pi_sandbox.trust.registry import TrustRegistry
from pi_sandbox.vocabulary import Decision, ErrorCode, StageName


class _Recording(RiskController):
    """The real controller, remembering the state each settle was given."""

    def __init__(self) -> None:
        super().__init__(RiskSettings(), Observer(TraceWorkspace(), SecretFiles()), shipped())
        self.states: list[CallState] = []

    def settle(self, call: CallInfo, state: CallState) -> None:
        self.states.append(state)
        super().settle(call, state)


def test_risk_settle_state_is_call_state() -> None:
    controller = _Recording()
    stage = RiskStage(controller)
    codes = [None, *ErrorCode]
    for i, (decision, code, ok) in enumerate(itertools.product(list(Decision), codes, [True, False])):
        call = CallInfo("ext", f"c{i}", "log", Capability.LOG, {"message": "x"}, "0" * 64)
        stage.decide(call)  # scored: pending in the window
        outcome = Outcome(decision, StageName.POLICY, "r", ok, code)
        stage.settle(call, outcome)
        assert controller.states[-1] is call_state(outcome), (decision, code, ok)
    assert {CallState.DONE, CallState.FAILED, CallState.DENIED} <= set(controller.states)


def test_probation_promotion_after_denial_or_clean_record(tmp_path: Path) -> None:
    store = AuditStore.open(tmp_path / "state")
    try:
        registry = TrustRegistry(store, TrustSettings(promote_after_hostcalls=5, promote_after_hours=0))
        for ext in ("clean", "denied"):
            registry.transition(ext, TrustState.PROBATION, actor=Actor.SYSTEM, reason=TransitionReason.FIRST_SEEN)
        registry.note_hostcall("denied", False)
        for _ in range(10):
            registry.note_hostcall("clean", True)
            registry.note_hostcall("denied", True)
        assert registry.state("clean") is TrustState.TRUSTED
        assert registry.state("denied") is TrustState.PROBATION
    finally:
        store.close()
