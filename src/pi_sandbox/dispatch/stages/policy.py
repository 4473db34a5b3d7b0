"""Stage 3: the 5-layer capability policy, and the user's answer when it says "prompt"."""

from __future__ import annotations

import threading
from collections.abc import Callable

from pi_sandbox.capabilities import DANGEROUS_CAPABILITIES, Capability
from pi_sandbox.config.model import SecurityConfig
from pi_sandbox.dispatch.call import AlertSpec, CallInfo, Verdict
from pi_sandbox.identity import ExtensionIdentity
from pi_sandbox.policy import CompiledPolicy, PolicyDecision, PromptRequest, PromptResolver
from pi_sandbox.policy.explain import remediation
from pi_sandbox.vocabulary import AlertCategory, PolicyOutcome, StageName

_VIOLATION = AlertSpec(AlertCategory.POLICY_VIOLATION)
#: The compiled policy's answer for one (extension, capability), and its grant when it allows.
_Answer = tuple[PolicyDecision, Verdict | None]


class PolicyStage:
    """Grants or refuses the derived capability (INV-003..008); a policy deny is final."""

    name = StageName.POLICY
    summary = "5-layer capability policy (per-extension deny → global deny → per-extension allow → " \
              "profile defaults → mode); prompts fail closed when headless"

    def __init__(self, policy: CompiledPolicy, prompts: PromptResolver, config: SecurityConfig,
                 probation: Callable[[str], bool] | None = None,
                 identity: Callable[[str], ExtensionIdentity | None] | None = None) -> None:
        self.policy = policy
        #: The caller's identity (id + source): remembered decisions are looked up and stored under it.
        self.identity = identity
        self.prompts = prompts
        self.config = config
        #: Whether an extension is in probation: its dangerous capabilities need the user's approval
        #: even when policy grants them (runbook INC-5).
        self.probation = probation
        # Repeated denials of the same (extension, capability, reason) raise one alert per session:
        # every call still gets its ledger entry, but alerts stay readable for operators.
        self._alerted: set[tuple[str, str, str]] = set()
        self._lock = threading.Lock()
        # The compiled policy's answer per (extension, capability) is computed once per policy object.
        # Probation and prompts are not cached. The policy is replaced when the session goes on under a new
        # configuration (``Sandbox._use_config``), possibly while another thread decides: the cache is one
        # (policy, answers) pair, swapped whole, and an answer is only ever stored with the policy that gave
        # it, so no answer of a replaced policy outlives it.
        self._cache: tuple[CompiledPolicy | None, dict[tuple[str, Capability], _Answer]] = (None, {})

    def _evaluate(self, call: CallInfo) -> _Answer:
        policy = self.policy
        decided_by, answers = self._cache
        if decided_by is not policy:
            answers = {}
            self._cache = (policy, answers)
        key = (call.extension_id, call.capability)
        answer = answers.get(key)
        if answer is None:
            decision = policy.evaluate(call.capability, call.extension_id)
            # The grant itself is made once: a verdict is immutable, and this one says nothing about the call.
            grant = Verdict.grant(decision.reason, layer=decision.layer) \
                if decision.decision == PolicyOutcome.ALLOW else None
            answer = answers[key] = (decision, grant)
        return answer

    def decide(self, call: CallInfo) -> Verdict:
        decision, grant = self._evaluate(call)
        if grant is not None:
            if call.capability in DANGEROUS_CAPABILITIES and self.probation and self.probation(call.extension_id):
                return self._probation_prompt(call, decision.reason, decision.layer)
            return grant
        advice = remediation(decision, self.config)
        cap = call.capability.value
        if decision.decision == PolicyOutcome.PROMPT:
            resolution = self.prompts.resolve(self._request(call, advice))
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

    def _probation_prompt(self, call: CallInfo, granted_by: str, layer: int) -> Verdict:
        cap = call.capability.value
        advice = (f"the extension is in probation (new or changed code): '{cap}' needs the user's approval even "
                  f"though policy allows it ({granted_by}); an operator can promote it with `pi-sandbox ext trust "
                  f"promote --extension {call.extension_id} --to trusted --reason TEXT`")
        resolution = self.prompts.resolve(self._request(call, advice))
        if resolution.allow:
            return Verdict.grant(resolution.reason, layer=layer, evidence={"probation": True})
        return Verdict.deny(resolution.reason, f"capability '{cap}' not approved ({resolution.reason}); {advice}",
                            layer=layer, alert=self._alert_once(call, resolution.reason), remediation=advice,
                            evidence={"probation": True})

    def _request(self, call: CallInfo, advice: str) -> PromptRequest:
        identity = self.identity(call.extension_id) if self.identity is not None else None
        return PromptRequest(call.extension_id, call.capability, call.method, advice, identity=identity)

    def _alert_once(self, call: CallInfo, reason: str) -> AlertSpec | None:
        key = (call.extension_id, call.capability.value, reason)
        with self._lock:
            if key in self._alerted:
                return None
            self._alerted.add(key)
        return _VIOLATION
