"""The allow path's caches (policy decision per extension + capability, quota limits per extension) never
outlive the configuration they were computed under: a session that goes on under a new configuration
(``perExtension`` grants withheld from a project's extension) decides from the new one at once."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from types import MappingProxyType

from pi_sandbox.capabilities import Capability
from pi_sandbox.dispatch.call import CallInfo
from pi_sandbox.dispatch.stages.policy import PolicyStage
from pi_sandbox.identity import ExtensionIdentity, SourceKind
from pi_sandbox.policy import CompiledPolicy, PolicyDecision
from pi_sandbox.vocabulary import PolicyOutcome
from tests.conftest import OpenSandbox

GRANT = {"allow": ["session_admin"], "quota": {"maxHttpRequests": 10**9}}


def test_quota_limits_follow_a_config_change(open_sandbox: OpenSandbox, tmp_path: Path) -> None:
    box = open_sandbox(settings={"extensionPolicy": {"perExtension": {"formatter": GRANT}}})
    assert box.quota_limits("formatter").max_http_requests == 10**9  # computed (and cached) under the grant
    box.register_extension("formatter", tmp_path,
                           identity=ExtensionIdentity("formatter", SourceKind.PROJECT, str(tmp_path)))
    # The project's extension gets only the restrictions: the raised limit is withheld from it.
    assert box.quota_limits("formatter").max_http_requests == box.config.quota.max_http_requests < 10**9


class _SwappedWhileDeciding:
    """A policy replaced (``Sandbox._use_config`` on another thread) while it evaluates a call."""

    def __init__(self, stage: PolicyStage, old: CompiledPolicy, new: CompiledPolicy) -> None:
        self.stage, self.old, self.new = stage, old, new

    def evaluate(self, capability: Capability, extension_id: str | None = None) -> PolicyDecision:
        decision = self.old.evaluate(capability, extension_id)
        # Mid-evaluation, another thread replaces the policy and decides a call of its own under the new one.
        self.stage.policy = self.new
        self.stage.decide(CallInfo("other", "c0", "log", Capability.LOG, {}, "0" * 64))
        return decision


def test_a_policy_replaced_mid_decision_is_not_answered_from_the_old_one(open_sandbox: OpenSandbox) -> None:
    box = open_sandbox(settings={"extensionPolicy": {"perExtension": {"formatter": GRANT}}})
    stage = box._policy_stage
    old = stage.policy
    new = CompiledPolicy.from_config(dataclasses.replace(box.config, per_extension=MappingProxyType({})))
    assert old.evaluate(Capability.SESSION_ADMIN, "formatter").decision == PolicyOutcome.ALLOW
    assert new.evaluate(Capability.SESSION_ADMIN, "formatter").decision != PolicyOutcome.ALLOW
    stage.policy = _SwappedWhileDeciding(stage, old, new)  # type: ignore[assignment]
    call = CallInfo("formatter", "c1", "session", Capability.SESSION_ADMIN, {"op": "set_name"}, "0" * 64)
    stage.decide(call)  # decided while the replacement happened: either answer is fine for this one call
    assert stage.policy is new
    # Every later call is decided under the policy now in force, never from what the old one said.
    assert stage.decide(call).denied
