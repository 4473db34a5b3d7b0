"""Profiles and ``allowDangerous`` (INV-006/007)."""

from __future__ import annotations

import pytest

from pi_sandbox.capabilities import ALL_CAPABILITIES, Capability
from pi_sandbox.policy import ALLOW, DENY, PROFILE_SPECS, PROMPT, CompiledPolicy, evaluate_capability
from tests.conftest import MakeConfig

# log and ui reach the operator only: default caps in every profile (a deliberate deviation from upstream).
BASE = {"read", "write", "http", "events", "session", "log", "ui"}
OTHERS = {"tool", "session_admin"}


@pytest.mark.parametrize(("profile", "mode", "default_caps", "deny_caps"), [
    ("safe", "strict", BASE, {"exec", "env"}),
    ("balanced", "prompt", BASE, {"exec", "env"}),
    ("permissive", "permissive", set(), set()),
])
def test_profile_specs(make_config: MakeConfig, profile: str, mode: str, default_caps: set[str],
                       deny_caps: set[str]) -> None:
    spec = PROFILE_SPECS[profile]
    assert spec.mode == mode
    assert {c.value for c in spec.default_caps} == default_caps
    assert {c.value for c in spec.deny_caps} == deny_caps
    policy = CompiledPolicy.from_config(make_config(cli_profile=profile))
    assert (policy.profile, policy.mode) == (profile, mode)
    assert {c.value for c in policy.deny_caps} == deny_caps
    assert policy.dangerous_unblocked == frozenset()


def test_safe_profile_decisions(make_config: MakeConfig) -> None:
    config = make_config()
    decisions = {c.value: evaluate_capability(config, c).decision for c in ALL_CAPABILITIES}
    assert {c for c, d in decisions.items() if d == ALLOW} == BASE
    assert {c for c, d in decisions.items() if d == DENY} == OTHERS | {"exec", "env"}


def test_balanced_profile_decisions(make_config: MakeConfig) -> None:
    config = make_config(cli_profile="balanced")
    decisions = {c.value: evaluate_capability(config, c).decision for c in ALL_CAPABILITIES}
    assert {c for c, d in decisions.items() if d == ALLOW} == BASE
    assert {c for c, d in decisions.items() if d == PROMPT} == OTHERS
    assert {c for c, d in decisions.items() if d == DENY} == {"exec", "env"}


def test_permissive_profile_allows_everything(make_config: MakeConfig) -> None:
    config = make_config(cli_profile="permissive")
    assert all(evaluate_capability(config, c).decision == ALLOW for c in ALL_CAPABILITIES)


def test_standard_is_the_balanced_profile(make_config: MakeConfig) -> None:
    a = CompiledPolicy.from_config(make_config(cli_profile="standard"))
    b = CompiledPolicy.from_config(make_config(cli_profile="balanced"))
    assert a == b


def test_unknown_profile_is_safe(make_config: MakeConfig) -> None:
    config = make_config(cli_profile="everything-goes")
    assert CompiledPolicy.from_config(config) == CompiledPolicy.from_config(make_config(cli_profile="safe"))
    assert evaluate_capability(config, "exec").decision == DENY
    assert config.warnings


@pytest.mark.parametrize("cap", ["exec", "env"])
def test_dangerous_denied_without_opt_in_in_every_restrictive_profile(make_config: MakeConfig, cap: str) -> None:
    for profile in ("safe", "balanced"):
        decision = evaluate_capability(make_config(cli_profile=profile), cap, "ext.a")
        assert (decision.decision, decision.layer, decision.reason) == (DENY, 2, "deny_caps")


@pytest.mark.parametrize("cap", ["exec", "env"])
def test_safe_with_allow_dangerous_still_denies_dangerous(make_config: MakeConfig, cap: str) -> None:
    """Subtlety from upstream: safe is strict and exec/env are not default caps."""
    config = make_config(env={"PI_EXTENSION_ALLOW_DANGEROUS": "1"})
    policy = CompiledPolicy.from_config(config)
    assert {c.value for c in policy.dangerous_unblocked} == {"exec", "env"}
    assert policy.deny_caps == frozenset()
    decision = policy.evaluate(Capability(cap), "ext.a")
    assert (decision.decision, decision.layer, decision.reason) == (DENY, 5, "not_in_default_caps")


def test_safe_with_allow_dangerous_and_extension_allow_allows_exec(make_config: MakeConfig) -> None:
    config = make_config(settings={"extensionPolicy": {
        "allowDangerous": True, "perExtension": {"ext.a": {"allow": ["exec"]}}}})
    decision = evaluate_capability(config, "exec", "ext.a")
    assert (decision.decision, decision.layer, decision.reason) == (ALLOW, 3, "extension_allow")
    assert evaluate_capability(config, "exec", "ext.b").decision == DENY


def test_extension_allow_without_allow_dangerous_does_not_allow_exec(make_config: MakeConfig) -> None:
    config = make_config(settings={"extensionPolicy": {"perExtension": {"ext.a": {"allow": ["exec"]}}}})
    assert evaluate_capability(config, "exec", "ext.a").reason == "deny_caps"


def test_balanced_with_allow_dangerous_prompts_for_exec(make_config: MakeConfig) -> None:
    config = make_config(cli_profile="balanced", settings={"extensionPolicy": {"allowDangerous": True}})
    for cap in ("exec", "env"):
        decision = evaluate_capability(config, cap, "ext.a")
        assert (decision.decision, decision.layer, decision.reason) == (PROMPT, 5, "prompt_required")


def test_permissive_with_allow_dangerous_unblocks_nothing(make_config: MakeConfig) -> None:
    config = make_config(cli_profile="permissive", env={"PI_EXTENSION_ALLOW_DANGEROUS": "true"})
    assert CompiledPolicy.from_config(config).dangerous_unblocked == frozenset()
