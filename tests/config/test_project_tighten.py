"""A project's ``.pi/settings.json`` may only tighten the global settings (ARCHITECTURE §3.2)."""

from __future__ import annotations

import pytest

from pi_sandbox.config import SecurityConfig
from pi_sandbox.policy import evaluate_capability
from tests.conftest import MakeConfig, PiEnv


def _refused(config: SecurityConfig, key: str) -> bool:
    return key in config.refused_loosenings and any(
        key in w and "may only tighten" in w for w in config.warnings)


@pytest.mark.parametrize(("global_profile", "project_profile"), [
    (None, "permissive"), (None, "balanced"), ("balanced", "permissive"), ("safe", "standard"),
])
def test_project_cannot_loosen_profile(
    make_config: MakeConfig, global_profile: str | None, project_profile: str
) -> None:
    settings = {"extensionPolicy": {"profile": global_profile}} if global_profile else {}
    config = make_config(settings=settings, project_settings={"extensionPolicy": {"profile": project_profile}})
    assert config.profile == (global_profile or "safe")
    assert _refused(config, "extensionPolicy.profile")


def test_project_may_tighten_profile(make_config: MakeConfig) -> None:
    config = make_config(settings={"extensionPolicy": {"profile": "permissive"}},
                         project_settings={"extensionPolicy": {"profile": "balanced"}})
    assert config.profile == "balanced"
    assert config.profile_source.startswith("project")
    assert config.refused_loosenings == ()


def test_project_cannot_turn_on_allow_dangerous(make_config: MakeConfig) -> None:
    config = make_config(project_settings={"extensionPolicy": {"allowDangerous": True}})
    assert config.allow_dangerous is False
    assert _refused(config, "extensionPolicy.allow_dangerous")
    assert evaluate_capability(config, "exec").decision == "deny"


def test_project_may_turn_off_allow_dangerous(make_config: MakeConfig) -> None:
    config = make_config(settings={"extensionPolicy": {"allowDangerous": True}},
                         project_settings={"extensionPolicy": {"allowDangerous": False}})
    assert config.allow_dangerous is False
    assert config.allow_dangerous_source.startswith("project")


def test_project_cannot_add_per_extension_allow(make_config: MakeConfig) -> None:
    config = make_config(
        settings={"extensionPolicy": {"perExtension": {"ext.a": {"allow": ["ui"]}}}},
        project_settings={"extensionPolicy": {"perExtension": {"ext.a": {"allow": ["ui", "exec"]},
                                                               "ext.new": {"allow": ["tool"]}}}},
    )
    assert config.per_extension["ext.a"].allow == frozenset({"ui"})
    assert "ext.new" not in config.per_extension or not config.per_extension["ext.new"].allow
    assert _refused(config, "extensionPolicy.perExtension.ext.a.allow")
    assert _refused(config, "extensionPolicy.perExtension.ext.new.allow")
    assert evaluate_capability(config, "tool", "ext.new").decision == "deny"


def test_project_may_narrow_per_extension_allow_and_mode(make_config: MakeConfig) -> None:
    config = make_config(
        settings={"extensionPolicy": {"perExtension": {"ext.a": {"allow": ["ui", "log"], "mode": "permissive"}}}},
        project_settings={"extensionPolicy": {"perExtension": {"ext.a": {"allow": ["log"], "mode": "prompt"}}}},
    )
    assert config.per_extension["ext.a"].allow == frozenset({"log"})
    assert config.per_extension["ext.a"].mode == "prompt"
    assert config.refused_loosenings == ()


def test_project_cannot_loosen_per_extension_mode(make_config: MakeConfig) -> None:
    config = make_config(
        settings={"extensionPolicy": {"perExtension": {"ext.a": {"mode": "strict"}}}},
        project_settings={"extensionPolicy": {"perExtension": {"ext.a": {"mode": "permissive"}, "ext.b": {
            "mode": "prompt"}}}},
    )
    assert config.per_extension["ext.a"].mode == "strict"
    assert _refused(config, "extensionPolicy.perExtension.ext.a.mode")
    assert _refused(config, "extensionPolicy.perExtension.ext.b.mode")


@pytest.mark.parametrize(("section", "key", "field"), [
    ("execMediation", "enabled", "extensionPolicy.execMediation.enabled"),
    ("secretBroker", "enabled", "extensionPolicy.secretBroker.enabled"),
])
def test_project_cannot_disable_mediation_or_broker(
    make_config: MakeConfig, section: str, key: str, field: str
) -> None:
    config = make_config(project_settings={"extensionPolicy": {section: {key: False}}})
    assert config.exec_mediation.enabled is True and config.secret_broker.enabled is True
    assert _refused(config, field)


def test_project_cannot_disable_risk_controller(make_config: MakeConfig) -> None:
    config = make_config(settings={"extensionRisk": {"enabled": True}},
                         project_settings={"extensionRisk": {"enabled": False, "enforce": False}})
    assert config.risk.enabled is True and config.risk.enforce is True
    assert _refused(config, "extensionRisk.enabled") and _refused(config, "extensionRisk.enforce")


def test_project_may_enable_risk_and_lower_threshold(make_config: MakeConfig) -> None:
    config = make_config(
        settings={"extensionPolicy": {"execMediation": {"denyThreshold": "high"}}},
        project_settings={"extensionRisk": {"enabled": True},
                          "extensionPolicy": {"execMediation": {"denyThreshold": "medium"}}},
    )
    assert config.risk.enabled is True
    assert config.exec_mediation.deny_threshold == "medium"
    config = make_config(project_settings={"extensionPolicy": {"execMediation": {"denyThreshold": "critical"}}})
    assert config.exec_mediation.deny_threshold == "high"
    assert _refused(config, "extensionPolicy.execMediation.deny_threshold")


def test_project_cannot_add_allow_patterns_or_disclosures(make_config: MakeConfig) -> None:
    config = make_config(project_settings={"extensionPolicy": {
        "execMediation": {"allowPatterns": ["rm -rf /"], "allowEnv": ["PAGER"]},
        "secretBroker": {"disclosureAllowlist": ["AWS_SECRET_ACCESS_KEY"]},
        "http": {"allowLoopback": True},
    }})
    assert config.exec_mediation.allow_patterns == ()
    assert config.exec_mediation.allow_env == ()
    assert _refused(config, "extensionPolicy.execMediation.allow_env")
    assert config.secret_broker.disclosure_allowlist == ()
    assert config.http.allow_loopback is False
    for key in ("extensionPolicy.execMediation.allow_patterns", "extensionPolicy.secretBroker.disclosure_allowlist",
                "extensionPolicy.http.allow_loopback"):
        assert _refused(config, key)


def test_project_deny_lists_are_unioned(make_config: MakeConfig) -> None:
    config = make_config(
        settings={"extensionPolicy": {"execMediation": {"denyPatterns": ["curl *"]},
                                      "http": {"denyHosts": ["a.example"]},
                                      "perExtension": {"ext.a": {"deny": ["http"]}}}},
        project_settings={"extensionPolicy": {"execMediation": {"denyPatterns": ["wget *", "curl *"]},
                                              "http": {"denyHosts": ["b.example"]},
                                              "perExtension": {"ext.a": {"deny": ["write"]}}}},
    )
    assert config.exec_mediation.deny_patterns == ("curl *", "wget *")
    assert config.http.deny_hosts == ("a.example", "b.example")
    assert config.per_extension["ext.a"].deny == frozenset({"http", "write"})
    assert config.refused_loosenings == ()


def test_project_allow_hosts_can_only_narrow(make_config: MakeConfig) -> None:
    config = make_config(settings={"extensionPolicy": {"http": {"allowHosts": ["a.example", "b.example"]}}},
                         project_settings={"extensionPolicy": {"http": {"allowHosts": ["b.example", "c.example"]}}})
    assert config.http.allow_hosts == ("b.example",)


def test_project_quota_takes_the_minimum(make_config: MakeConfig) -> None:
    config = make_config(
        settings={"extensionPolicy": {"quota": {"maxMemoryMb": 256, "maxSubprocesses": 4},
                                      "perExtension": {"ext.a": {"quota": {"maxSubprocesses": 3,
                                                                           "maxMemoryMb": 100}}}}},
        project_settings={"extensionPolicy": {"quota": {"maxMemoryMb": 128, "maxSubprocesses": 9},
                                              "perExtension": {"ext.a": {"quota": {"maxSubprocesses": 8,
                                                                                   "maxMemoryMb": 50}}}}},
    )
    assert config.quota.max_memory_mb == 128
    assert config.quota.max_subprocesses == 4
    assert _refused(config, "extensionPolicy.quota.max_subprocesses")
    assert config.quota_for("ext.a").max_subprocesses == 3
    assert config.quota_for("ext.a").max_memory_mb == 50


def test_project_may_add_per_extension_deny_and_strict_mode(pi_env: PiEnv, make_config: MakeConfig) -> None:
    config = make_config(project_settings={"extensionPolicy": {"perExtension": {
        "ext.a": {"deny": ["http"], "mode": "strict"}}}})
    assert config.per_extension["ext.a"].deny == frozenset({"http"})
    assert config.per_extension["ext.a"].mode == "strict"
    assert config.source_of("extensionPolicy.perExtension.ext.a.deny") == f"project settings {pi_env.project_settings}"
    assert evaluate_capability(config, "http", "ext.a").reason == "extension_deny"


def test_global_settings_are_not_limited_to_tightening(make_config: MakeConfig) -> None:
    config = make_config(settings={"extensionPolicy": {"profile": "permissive", "allowDangerous": True,
                                                       "execMediation": {"enabled": False}}})
    assert (config.profile, config.allow_dangerous, config.exec_mediation.enabled) == ("permissive", True, False)
    assert config.refused_loosenings == ()


def test_project_per_extension_quota_cannot_exceed_global_quota(make_config: MakeConfig) -> None:
    """Regression: a project override for an extension without a global override used to start
    from built-in defaults, so it could raise memory 128 → 4096 and subprocesses 1 → 4."""
    config = make_config(
        settings={"extensionPolicy": {"quota": {"maxMemoryMb": 128, "maxSubprocesses": 1}}},
        project_settings={"extensionPolicy": {"perExtension": {"ext.a": {"quota": {"maxMemoryMb": 4096}}}}},
    )
    assert config.quota_for("ext.a").max_memory_mb == 128
    assert config.quota_for("ext.a").max_subprocesses == 1
    tighter = make_config(project_settings={"extensionPolicy": {"perExtension": {"ext.a": {"quota": {
        "maxMemoryMb": 64}}}}})
    assert (tighter.quota_for("ext.a").max_memory_mb, tighter.quota_for("ext.a").max_subprocesses) == (64, 1)


def test_global_per_extension_quota_inherits_unset_fields_from_global_quota(make_config: MakeConfig) -> None:
    config = make_config(settings={"extensionPolicy": {
        "quota": {"maxSubprocesses": 1, "maxWriteBytes": 1000},
        "perExtension": {"ext.a": {"quota": {"maxMemoryMb": 512}}}}})
    quota = config.quota_for("ext.a")
    assert (quota.max_memory_mb, quota.max_subprocesses, quota.max_write_bytes) == (512, 1, 1000)


@pytest.mark.parametrize("project_hosts", [[], ["evil.example"]])
def test_project_cannot_empty_the_global_allow_hosts(make_config: MakeConfig, project_hosts: list[str]) -> None:
    """Regression: the narrowed list came out empty, and an empty allowHosts means *any* host."""
    config = make_config(settings={"extensionPolicy": {"http": {"allowHosts": ["api.example"]}}},
                         project_settings={"extensionPolicy": {"http": {"allowHosts": project_hosts}}})
    assert config.http.allow_hosts == ("api.example",)
    assert _refused(config, "extensionPolicy.http.allow_hosts")


def test_project_cannot_loosen_exec_mediation_presets(make_config: MakeConfig) -> None:
    """Regression: with no global value (``None`` = profile preset) any project value was accepted,
    so a repository could raise the safe preset's 'high' threshold to 'critical' and turn auditing off."""
    config = make_config(project_settings={"extensionPolicy": {"execMediation": {
        "denyThreshold": "critical", "auditAllClassified": False}}})
    assert config.exec_mediation.deny_threshold is None
    assert config.exec_mediation.audit_all_classified is None
    assert _refused(config, "extensionPolicy.execMediation.deny_threshold")
    assert _refused(config, "extensionPolicy.execMediation.audit_all_classified")
    config = make_config(project_settings={"extensionPolicy": {"execMediation": {
        "denyThreshold": "medium", "auditAllClassified": True}}})
    assert config.exec_mediation.deny_threshold == "medium"
    assert config.exec_mediation.audit_all_classified is True
    assert config.refused_loosenings == ()


def test_strictest_preset_tier_matches_the_profiles() -> None:
    from pi_sandbox.config.model import RISK_TIERS, STRICTEST_PRESET_DENY_TIER
    from pi_sandbox.policy.profiles import PROFILE_SPECS

    tiers = [spec.exec_deny_threshold for spec in PROFILE_SPECS.values()]
    assert STRICTEST_PRESET_DENY_TIER == min(tiers, key=RISK_TIERS.index)
