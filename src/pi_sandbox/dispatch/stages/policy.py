"""Stage 3: the 5-layer capability policy, and the user's answer when it says "prompt"."""

from __future__ import annotations

import threading

from pi_sandbox.config.model import SecurityConfig
from pi_sandbox.dispatch.call import AlertSpec, CallInfo, Verdict
from pi_sandbox.policy import CompiledPolicy, PromptRequest, PromptResolver
from pi_sandbox.policy.explain import remediation
from pi_sandbox.vocabulary import AlertCategory, PolicyOutcome, StageName

_VIOLATION = AlertSpec(AlertCategory.POLICY_VIOLATION)


class PolicyStage:
    """Grants or refuses the derived capability (INV-003..008); a policy deny is final."""

    name = StageName.POLICY
    summary = "5-layer capability policy (per-extension deny → global deny → per-extension allow → " \
              "profile defaults → mode); prompts fail closed when headless"

    def __init__(self, policy: CompiledPolicy, prompts: PromptResolver, config: SecurityConfig) -> None:
        self.policy = policy
        self.prompts = prompts
        self.config = config
        # Repeated denials of the same (extension, capability, reason) raise one alert per session:
        # every call still gets its ledger entry, but alerts stay readable for operators.
        self._alerted: set[tuple[str, str, str]] = set()
        self._lock = threading.Lock()

    def decide(self, call: CallInfo) -> Verdict:
        decision = self.policy.evaluate(call.capability, call.extension_id)
        if decision.decision == PolicyOutcome.ALLOW:
            return Verdict.grant(decision.reason, layer=decision.layer)
        advice = remediation(decision, self.config)
        cap = call.capability.value
        if decision.decision == PolicyOutcome.PROMPT:
            resolution = self.prompts.resolve(PromptRequest(call.extension_id, call.capability, call.method, advice))
            if resolution.allow:
                return Verdict.grant(resolution.reason, layer=decision.layer)
            return Verdict.deny(
                resolution.reason,
                f"capability '{cap}' needs the user's approval and was not granted ({resolution.reason}); {advice}",
                layer=decision.layer, alert=self._alert_once(call, resolution.reason), remediation=advice)
        return Verdict.deny(
            decision.reason,
            f"capability '{cap}' denied by policy ({decision.reason}, layer {decision.layer}); {advice}",
            layer=decision.layer, alert=self._alert_once(call, decision.reason), remediation=advice)

    def _alert_once(self, call: CallInfo, reason: str) -> AlertSpec | None:
        key = (call.extension_id, call.capability.value, reason)
        with self._lock:
            if key in self._alerted:
                return None
            self._alerted.add(key)
        return _VIOLATION
