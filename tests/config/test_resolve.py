"""Resolution of paths, profile and allowDangerous, and provenance of every field (ARCHITECTURE §3.1)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from pi_sandbox.config import normalize_profile, resolve_config
from tests.conftest import MakeConfig, PiEnv


def test_paths_come_from_env_and_workspace(pi_env: PiEnv, make_config: MakeConfig) -> None:
    config = make_config()
    assert config.agent_dir == pi_env.agent_dir
    assert config.state_dir == pi_env.state_dir
    assert config.project_dir == pi_env.workspace.resolve()
    assert config.settings_files == ()


def test_state_dir_defaults_under_agent_dir(pi_env: PiEnv, make_config: MakeConfig) -> None:
    config = make_config(env={"PI_SECURITY_DIR": None})
    assert config.state_dir == pi_env.agent_dir / "security"


def test_agent_dir_defaults_under_home(pi_env: PiEnv) -> None:
    config = resolve_config(cwd=pi_env.workspace, env={"HOME": str(pi_env.home)})
    assert config.agent_dir == Path.home() / ".pi" / "agent"
    assert config.agent_dir.is_relative_to(pi_env.home)  # HOME is monkeypatched by pi_env


def test_default_profile_is_safe(make_config: MakeConfig) -> None:
    config = make_config()
    assert (config.profile, config.profile_source, config.requested_profile) == ("safe", "default", None)
    assert config.allow_dangerous is False
    assert config.allow_dangerous_source == "default"


@pytest.mark.parametrize(("token", "expected"), [
    ("safe", "safe"), ("balanced", "balanced"), ("standard", "balanced"), ("STANDARD", "balanced"),
    (" Permissive ", "permissive"), ("yolo", None), ("", None),
])
def test_normalize_profile(token: str, expected: str | None) -> None:
    assert normalize_profile(token) == expected


def test_standard_is_balanced(make_config: MakeConfig) -> None:
    assert make_config(cli_profile="standard").profile == "balanced"
    assert make_config(settings={"extensionPolicy": {"profile": "standard"}}).profile == "balanced"


@pytest.mark.parametrize("source", ["cli", "env", "settings"])
def test_unknown_profile_falls_back_to_safe_with_a_warning(make_config: MakeConfig, source: str) -> None:
    kwargs: dict[str, object] = {
        "cli": {"cli_profile": "yolo"},
        "env": {"env": {"PI_EXTENSION_POLICY": "yolo"}},
        "settings": {"settings": {"extensionPolicy": {"profile": "yolo"}}},
    }[source]
    config = make_config(**kwargs)
    assert config.profile == "safe"
    assert config.requested_profile == "yolo"
    assert any("unknown extension policy profile 'yolo'" in w for w in config.warnings)


def test_profile_resolution_order_cli_env_settings_default(make_config: MakeConfig) -> None:
    settings = {"extensionPolicy": {"profile": "balanced"}}
    env = {"PI_EXTENSION_POLICY": "permissive"}
    config = make_config(settings=settings, env=env, cli_profile="safe")
    assert (config.profile, config.profile_source) == ("safe", "cli")
    config = make_config(env=env)
    assert (config.profile, config.profile_source) == ("permissive", "env:PI_EXTENSION_POLICY")
    config = make_config(env={"PI_EXTENSION_POLICY": None})
    assert config.profile == "balanced"
    assert "global" in config.profile_source
    assert config.source_of("extensionPolicy.profile") == config.profile_source


def test_blank_env_profile_is_ignored(make_config: MakeConfig) -> None:
    config = make_config(settings={"extensionPolicy": {"profile": "balanced"}}, env={"PI_EXTENSION_POLICY": "  "})
    assert config.profile == "balanced"


def test_default_permissive_setting(make_config: MakeConfig) -> None:
    assert make_config(settings={"extensionPolicy": {"defaultPermissive": True}}).profile == "permissive"
    assert make_config(settings={"extensionPolicy": {"defaultPermissive": False}}).profile == "safe"
    both = make_config(settings={"extensionPolicy": {"defaultPermissive": True, "profile": "safe"}})
    assert both.profile == "safe"


def test_allow_dangerous_from_settings(pi_env: PiEnv, make_config: MakeConfig) -> None:
    config = make_config(settings={"extensionPolicy": {"allowDangerous": True}})
    assert config.allow_dangerous is True
    assert str(pi_env.global_settings) in config.allow_dangerous_source


@pytest.mark.parametrize("value", ["1", "true", "TRUE", "yes", "on"])
def test_allow_dangerous_from_env(make_config: MakeConfig, value: str) -> None:
    config = make_config(env={"PI_EXTENSION_ALLOW_DANGEROUS": value})
    assert config.allow_dangerous is True
    assert config.allow_dangerous_source == "env:PI_EXTENSION_ALLOW_DANGEROUS"


def test_allow_dangerous_env_wins_over_settings(make_config: MakeConfig) -> None:
    config = make_config(settings={"extensionPolicy": {"allowDangerous": True}},
                         env={"PI_EXTENSION_ALLOW_DANGEROUS": "0"})
    assert config.allow_dangerous is False
    assert config.allow_dangerous_source == "env:PI_EXTENSION_ALLOW_DANGEROUS"
    config = make_config(settings={"extensionPolicy": {"allowDangerous": False}},
                         env={"PI_EXTENSION_ALLOW_DANGEROUS": "true"})
    assert config.allow_dangerous is True


def test_provenance_records_each_field_source(pi_env: PiEnv, make_config: MakeConfig) -> None:
    config = make_config(
        settings={"extensionPolicy": {"execMediation": {"denyThreshold": "medium"},
                                      "perExtension": {"ext.a": {"deny": ["http"]}}},
                  "extensionRisk": {"enabled": True}},
        project_settings={"extensionPolicy": {"secretBroker": {"extraNames": ["MY_TOKEN"]}}},
        env={"PI_EXTENSION_RISK_WINDOW": "64"},
    )
    assert str(pi_env.global_settings) in config.source_of("extensionPolicy.execMediation.deny_threshold")
    assert config.source_of("extensionPolicy.execMediation.deny_threshold").startswith("global")
    assert config.source_of("extensionPolicy.secretBroker.extra_names").startswith("project")
    assert str(pi_env.project_settings) in config.source_of("extensionPolicy.secretBroker.extra_names")
    assert config.source_of("extensionRisk.window_size") == "env:PI_EXTENSION_RISK_WINDOW"
    assert config.source_of("extensionPolicy.perExtension.ext.a.deny").startswith("global")
    assert config.source_of("extensionPolicy.http.timeout_ms") == "default"
    assert config.risk.enabled is True and config.risk.window_size == 64
    assert config.exec_mediation.deny_threshold == "medium"
    assert config.secret_broker.extra_names == ("MY_TOKEN",)
    assert set(config.settings_files) == {pi_env.global_settings, pi_env.project_settings}


def test_settings_sections_are_all_honoured(make_config: MakeConfig) -> None:
    config = make_config(settings={
        "extensionPolicy": {
            "execMediation": {"enabled": True, "denyThreshold": "high", "denyPatterns": ["curl *"],
                              "allowPatterns": ["git status"], "auditAllClassified": False,
                              "allowEnv": ["GIT_SSH_COMMAND"]},
            "secretBroker": {"enabled": True, "redactionPlaceholder": "***", "disclosureAllowlist": ["PATH"],
                             "extraNames": ["A"], "extraSuffixes": ["_PW"], "extraPrefixes": ["SEC_"]},
            "http": {"allowHosts": ["api.example.com"], "denyHosts": ["evil.example"], "allowLoopback": True,
                     "maxResponseBytes": 1000, "timeoutMs": 500},
            "quota": {"maxMemoryMb": 128, "maxSubprocesses": 2},
            "perExtension": {"ext.a": {"allow": ["exec"], "deny": ["http"], "mode": "prompt",
                                       "quota": {"maxSubprocesses": 1}}},
        },
        "extensionRisk": {"enabled": True, "alpha": 0.05, "failClosed": False},
        "extensionRuntime": {"callTimeoutMs": 1000, "maxMemoryMb": 64, "maxStackKb": 512},
        "extensions": ["./exts/a.ts"],
    })
    assert config.exec_mediation.deny_patterns == ("curl *",)
    assert config.exec_mediation.allow_patterns == ("git status",)
    assert config.exec_mediation.allow_env == ("GIT_SSH_COMMAND",)
    assert config.exec_mediation.audit_all_classified is False
    assert config.secret_broker.redaction_placeholder == "***"
    assert config.secret_broker.extra_suffixes == ("_PW",) and config.secret_broker.extra_prefixes == ("SEC_",)
    assert config.http.allow_hosts == ("api.example.com",) and config.http.allow_loopback is True
    assert (config.http.max_response_bytes, config.http.timeout_ms) == (1000, 500)
    assert (config.quota.max_memory_mb, config.quota.max_subprocesses) == (128, 2)
    override = config.per_extension["ext.a"]
    assert (override.allow, override.deny, override.mode) == (frozenset({"exec"}), frozenset({"http"}), "prompt")
    assert config.quota_for("ext.a").max_subprocesses == 1
    assert config.quota_for("ext.other") == config.quota
    assert (config.risk.enabled, config.risk.alpha, config.risk.fail_closed) == (True, 0.05, False)
    assert (config.runtime.call_timeout_ms, config.runtime.max_memory_mb, config.runtime.max_stack_kb) == (
        1000, 64, 512)
    assert config.extensions == ((config.agent_dir / "exts" / "a.ts").resolve(),)


def test_config_is_immutable(make_config: MakeConfig) -> None:
    config = make_config(settings={"extensionPolicy": {"perExtension": {"ext.a": {"deny": ["http"]}}}})
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.profile = "permissive"  # type: ignore[misc]
    with pytest.raises(TypeError):
        config.per_extension["ext.b"] = config.per_extension["ext.a"]  # type: ignore[index]
    with pytest.raises(TypeError):
        config.environ["X"] = "1"  # type: ignore[index]


def test_http_loopback_env_only_exactly_1(make_config: MakeConfig) -> None:
    assert make_config(env={"PI_HTTP_ALLOW_LOOPBACK": "1"}).http.allow_loopback is True
    assert make_config(env={"PI_HTTP_ALLOW_LOOPBACK": "true"}).http.allow_loopback is False


def test_adding_an_allow_env_name_is_recorded_as_a_loosening(make_config: MakeConfig) -> None:
    from pi_sandbox.config.posture import loosened_fields, security_posture

    before = security_posture(make_config())
    after = security_posture(make_config(settings={"extensionPolicy": {"execMediation": {"allowEnv": ["PAGER"]}}}))
    assert "exec_allow_env" in loosened_fields(before, after)
    assert "exec_allow_env" not in loosened_fields(after, before)


@pytest.mark.parametrize(("typed", "meant"), [("permisive", "permissive"), ("balnced", "balanced"), ("Saf", "safe")])
def test_a_mistyped_profile_names_the_closest_one(make_config: MakeConfig, typed: str, meant: str) -> None:
    config = make_config(cli_profile=typed)
    assert config.profile == "safe"  # still fails closed
    assert any(f"did you mean '{meant}'?" in w for w in config.warnings)
