"""The 5-layer precedence (INV-003/004/005): truth table and hypothesis properties."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pi_sandbox.capabilities import ALL_CAPABILITIES, Capability
from pi_sandbox.config import MODES, PROFILES, ExtensionOverride, SecurityConfig
from pi_sandbox.policy import ALLOW, DENY, PROMPT, CompiledPolicy, evaluate_capability
from tests.conftest import MakeConfig


def _ext(**override: Any) -> dict[str, Any]:
    return {"extensionPolicy": {"perExtension": {"ext.a": override}}}


def _with_profile(settings: dict[str, Any], profile: str) -> dict[str, Any]:
    settings.setdefault("extensionPolicy", {})["profile"] = profile
    return settings


# (case id, profile, per-extension override for ext.a, capability, decision, layer, reason)
TRUTH_TABLE = [
    ("1-extension-deny-beats-everything", "permissive", {"allow": ["http"], "deny": ["http"], "mode": "permissive"},
     "http", DENY, 1, "extension_deny"),
    ("1-extension-deny-beats-default-caps", "safe", {"deny": ["read"]}, "read", DENY, 1, "extension_deny"),
    ("2-global-deny-beats-extension-allow", "safe", {"allow": ["exec"]}, "exec", DENY, 2, "deny_caps"),
    ("2-global-deny-beats-extension-permissive-mode", "balanced", {"allow": ["env"], "mode": "permissive"},
     "env", DENY, 2, "deny_caps"),
    ("3-extension-allow-beats-strict-fallback", "safe", {"allow": ["tool"]}, "tool", ALLOW, 3, "extension_allow"),
    ("4-default-caps-allow", "safe", {}, "read", ALLOW, 4, "default_caps"),
    ("5-strict-denies-not-in-default-caps", "safe", {}, "tool", DENY, 5, "not_in_default_caps"),
    ("5-prompt-mode-prompts", "balanced", {}, "tool", PROMPT, 5, "prompt_required"),
    ("5-permissive-allows", "permissive", {}, "tool", ALLOW, 5, "permissive"),
    ("5-extension-mode-overrides-profile-mode", "balanced", {"mode": "strict"}, "tool", DENY, 5,
     "not_in_default_caps"),
    ("4-log-and-ui-are-default-caps-in-safe", "safe", {}, "log", ALLOW, 4, "default_caps"),
    ("4-ui-is-a-default-cap-in-balanced", "balanced", {}, "ui", ALLOW, 4, "default_caps"),
    ("1-extension-deny-still-silences-log", "safe", {"deny": ["log"]}, "log", DENY, 1, "extension_deny"),
    ("5-extension-permissive-mode-under-safe", "safe", {"mode": "permissive"}, "tool", ALLOW, 5, "permissive"),
]


@pytest.mark.parametrize(("profile", "override", "cap", "decision", "layer", "reason"),
                         [row[1:] for row in TRUTH_TABLE], ids=[row[0] for row in TRUTH_TABLE])
def test_precedence_truth_table(
    make_config: MakeConfig, profile: str, override: dict[str, Any], cap: str, decision: str, layer: int, reason: str
) -> None:
    config = make_config(settings=_with_profile(_ext(**override), profile))
    result = evaluate_capability(config, cap, "ext.a")
    assert (result.decision, result.layer, result.reason) == (decision, layer, reason)
    assert result.capability.value == cap and result.extension_id == "ext.a"


def test_precedence_without_extension_id_ignores_overrides(make_config: MakeConfig) -> None:
    config = make_config(settings=_ext(deny=["read"], allow=["tool"]))
    assert evaluate_capability(config, "read").reason == "default_caps"
    assert evaluate_capability(config, "tool").reason == "not_in_default_caps"


def test_capability_is_parsed_case_insensitively(make_config: MakeConfig) -> None:
    assert evaluate_capability(make_config(), " READ ").decision == ALLOW


# --- properties ---------------------------------------------------------------------------------

EXT_IDS = ["ext.a", "ext.b", "ext.c", "ext.d"]
caps_subset = st.frozensets(st.sampled_from([c.value for c in ALL_CAPABILITIES]))
overrides_st = st.builds(ExtensionOverride, allow=caps_subset, deny=caps_subset,
                         mode=st.none() | st.sampled_from(MODES))
configs_st = st.builds(
    lambda profile, dangerous, per_ext: SecurityConfig(
        agent_dir=Path("/nonexistent/agent"), state_dir=Path("/nonexistent/state"),
        project_dir=Path("/nonexistent/ws"), profile=profile, allow_dangerous=dangerous, per_extension=per_ext),
    st.sampled_from(PROFILES), st.booleans(), st.dictionaries(st.sampled_from(EXT_IDS), overrides_st, max_size=4),
)


def _table(policy: CompiledPolicy, ext: str | None) -> list[tuple[str, int, str]]:
    return [(d.decision, d.layer, d.reason) for d in (policy.evaluate(c, ext) for c in ALL_CAPABILITIES)]


@settings(max_examples=300, deadline=None)
@given(configs_st, st.sampled_from(EXT_IDS))
def test_property_no_extension_allow_beats_a_global_deny(config: SecurityConfig, ext: str) -> None:
    """INV-004: whatever the extension's allow list and mode, a globally denied capability is denied."""
    base = config.per_extension.get(ext, ExtensionOverride())
    everything = frozenset(c.value for c in ALL_CAPABILITIES)
    greedy = ExtensionOverride(allow=everything, deny=base.deny, mode="permissive")
    per_ext = {**config.per_extension, ext: greedy}
    policy = CompiledPolicy.from_config(SecurityConfig(
        agent_dir=config.agent_dir, state_dir=config.state_dir, project_dir=config.project_dir,
        profile=config.profile, allow_dangerous=config.allow_dangerous, per_extension=per_ext))
    for cap in policy.deny_caps:
        decision = policy.evaluate(cap, ext)
        assert decision.decision == DENY and decision.layer in (1, 2)
    for cap in greedy.deny:
        assert policy.evaluate(Capability(cap), ext).reason == "extension_deny"


@settings(max_examples=300, deadline=None)
@given(configs_st, st.sampled_from(EXT_IDS), overrides_st)
def test_property_extension_rules_only_affect_that_extension(
    config: SecurityConfig, ext: str, other_rules: ExtensionOverride
) -> None:
    """INV-005: changing (or removing) other extensions' rules never changes this one's decisions."""
    before = _table(CompiledPolicy.from_config(config), ext)
    others = [e for e in EXT_IDS if e != ext]
    changed = dict(config.per_extension)
    for other in others:
        changed[other] = other_rules
    without = {k: v for k, v in config.per_extension.items() if k == ext}
    for per_ext in (changed, without):
        policy = CompiledPolicy.from_config(SecurityConfig(
            agent_dir=config.agent_dir, state_dir=config.state_dir, project_dir=config.project_dir,
            profile=config.profile, allow_dangerous=config.allow_dangerous, per_extension=per_ext))
        assert _table(policy, ext) == before
    # And an extension with no rules at all is judged exactly like "no extension".
    stranger = CompiledPolicy.from_config(config)
    assert _table(stranger, "ext.unlisted") == _table(stranger, None)


@settings(max_examples=200, deadline=None)
@given(configs_st, st.randoms(use_true_random=False))
def test_property_evaluation_is_deterministic(config: SecurityConfig, rnd: random.Random) -> None:
    """INV-003: same inputs → same output, independent of dict insertion order and repetition."""
    items = list(config.per_extension.items())
    rnd.shuffle(items)
    shuffled = SecurityConfig(
        agent_dir=config.agent_dir, state_dir=config.state_dir, project_dir=config.project_dir,
        profile=config.profile, allow_dangerous=config.allow_dangerous, per_extension=dict(items))
    first, second = CompiledPolicy.from_config(config), CompiledPolicy.from_config(shuffled)
    for ext in [None, *EXT_IDS]:
        expected = _table(first, ext)
        assert _table(first, ext) == expected
        assert _table(second, ext) == expected


@settings(max_examples=200, deadline=None)
@given(configs_st, st.sampled_from(EXT_IDS), st.sampled_from(list(ALL_CAPABILITIES)))
def test_property_adding_an_extension_deny_only_tightens(
    config: SecurityConfig, ext: str, cap: Capability
) -> None:
    base = config.per_extension.get(ext, ExtensionOverride())
    tighter = {**config.per_extension, ext: ExtensionOverride(base.allow, base.deny | {cap.value}, base.mode)}
    policy = CompiledPolicy.from_config(SecurityConfig(
        agent_dir=config.agent_dir, state_dir=config.state_dir, project_dir=config.project_dir,
        profile=config.profile, allow_dangerous=config.allow_dangerous, per_extension=tighter))
    decision = policy.evaluate(cap, ext)
    assert (decision.decision, decision.layer, decision.reason) == (DENY, 1, "extension_deny")
