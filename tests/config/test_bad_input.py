"""Bad settings, env and state → a clear error naming the file and key, CLI exit 2, nothing lost."""

from __future__ import annotations

import json
import os
from typing import Any

import pytest

from pi_sandbox.cli.main import main
from pi_sandbox.errors import ConfigError, LedgerCorruptError, StateDirError
from tests.conftest import MakeConfig, PiEnv

#: (settings document, dotted key the error must name, words the message must contain)
BAD_SETTINGS: list[tuple[Any, str, str]] = [
    ({"extensionPolicy": {"allowDangerous": "yes"}}, "extensionPolicy.allowDangerous", "expected true or false"),
    ({"extensionPolicy": {"profile": 3}}, "extensionPolicy.profile", "expected a string"),
    ({"extensionPolicy": "safe"}, "extensionPolicy", "expected an object"),
    ({"extensionPolicy": {"profle": "safe"}}, "extensionPolicy.profle", "unknown setting (did you mean 'profile'?"),
    ({"extensionPolicy": {"execMediation": {"enabled": True, "denyTreshold": "high"}}},
     "extensionPolicy.execMediation.denyTreshold", "did you mean 'denyThreshold'?"),
    ({"extensionPolicy": {"execMediation": {"denyThreshold": "extreme"}}},
     "extensionPolicy.execMediation.denyThreshold", "expected one of low, medium, high, critical"),
    ({"extensionPolicy": {"execMediation": {"denyPatterns": "rm -rf"}}},
     "extensionPolicy.execMediation.denyPatterns", "expected an array of strings"),
    ({"extensionPolicy": {"execMediation": {"allowEnv": ["LD_PRELOAD=x"]}}},
     "extensionPolicy.execMediation.allowEnv", "'LD_PRELOAD=x' is not an environment variable name"),
    ({"extensionPolicy": {"execMediation": {"allowEnv": ["PAGER", "LD_PRELOAD"]}}},
     "extensionPolicy.execMediation.allowEnv", "'LD_PRELOAD' is a loader variable"),
    ({"extensionPolicy": {"execMediation": {"allowEnv": "PAGER"}}},
     "extensionPolicy.execMediation.allowEnv", "expected an array of strings"),
    ({"extensionPolicy": {"secretBroker": {"enabled": 1}}}, "extensionPolicy.secretBroker.enabled",
     "expected true or false"),
    ({"extensionPolicy": {"perExtension": {"ext.a": {"allow": ["read"], "grant": ["exec"]}}}},
     "extensionPolicy.perExtension.ext.a.grant", "unknown setting"),
    ({"extensionPolicy": {"perExtension": {"ext.a": {"allow": ["read", "root"]}}}},
     "extensionPolicy.perExtension.ext.a.allow", "unknown capability 'root'"),
    ({"extensionPolicy": {"perExtension": {"ext.a": {"deny": "exec"}}}},
     "extensionPolicy.perExtension.ext.a.deny", "expected an array of strings"),
    ({"extensionPolicy": {"perExtension": {"ext.a": {"mode": "yolo"}}}},
     "extensionPolicy.perExtension.ext.a.mode", "expected one of strict, prompt, permissive"),
    ({"extensionPolicy": {"perExtension": {"ext.a": {"quota": {"maxMemoryMb": -5}}}}},
     "extensionPolicy.perExtension.ext.a.quota.maxMemoryMb", "positive integer"),
    ({"extensionPolicy": {"perExtension": {"ext.a": {"quota": {"maxRam": 5}}}}},
     "extensionPolicy.perExtension.ext.a.quota.maxRam",
     "unknown setting (known keys here: hostcallBurst, maxCpuTimeMs"),
    ({"extensionPolicy": {"perExtension": {"ext.a": []}}}, "extensionPolicy.perExtension.ext.a",
     "expected an object"),
    ({"extensionPolicy": {"quota": {"maxSubprocesses": True}}}, "extensionPolicy.quota.maxSubprocesses",
     "positive integer"),
    ({"extensionRisk": {"alpha": 2}}, "extensionRisk.alpha", "between 0 and 1"),
    ({"extensionRisk": {"enabeld": True}}, "extensionRisk.enabeld", "did you mean 'enabled'?"),
    ({"extensionRuntime": {"callTimeoutMs": "30s"}}, "extensionRuntime.callTimeoutMs", "positive integer"),
    ({"extensions": "./ext.ts"}, "extensions", "expected an array of strings"),
    ([1, 2], "(top level)", "expected an object"),
]


@pytest.mark.parametrize(("doc", "key", "words"), BAD_SETTINGS, ids=[k for _, k, _ in BAD_SETTINGS])
def test_bad_global_settings_name_file_and_key(
    pi_env: PiEnv, make_config: MakeConfig, doc: Any, key: str, words: str
) -> None:
    pi_env.write_global(doc)
    with pytest.raises(ConfigError) as info:
        make_config()
    message = str(info.value)
    assert str(pi_env.global_settings) in message
    assert f"key '{key}'" in message
    assert words in message
    assert info.value.key == key


@pytest.mark.parametrize(("doc", "key", "words"), BAD_SETTINGS, ids=[k for _, k, _ in BAD_SETTINGS])
def test_bad_settings_cli_exit_2_without_traceback(
    pi_env: PiEnv, capsys: pytest.CaptureFixture[str], doc: Any, key: str, words: str
) -> None:
    pi_env.write_global(doc)
    assert main(["policy", "check", "--extension", "ext.a", "--capability", "read"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert err.startswith("pi-sandbox: error: ")
    assert key in err and str(pi_env.global_settings) in err


def test_bad_project_settings_name_the_project_file(pi_env: PiEnv, make_config: MakeConfig) -> None:
    pi_env.write_project({"extensionPolicy": {"perExtension": {"x": {"allow": ["exec"], "typo": 1}}}})
    with pytest.raises(ConfigError) as info:
        make_config()
    assert str(pi_env.project_settings) in str(info.value)
    assert "extensionPolicy.perExtension.x.typo" in str(info.value)


@pytest.mark.parametrize("text", ["{", '{"extensionPolicy": {"profile": "safe",}}', "", "\ufeff{}"])
def test_invalid_json_names_file_and_position(
    pi_env: PiEnv, make_config: MakeConfig, capsys: pytest.CaptureFixture[str], text: str
) -> None:
    pi_env.write_global(text)
    with pytest.raises(ConfigError, match="invalid JSON at line 1") as info:
        make_config()
    assert str(pi_env.global_settings) in str(info.value)
    assert main(["--explain-extension-policy", "--json"]) == 2
    err = capsys.readouterr().err
    assert "invalid JSON" in err and "Traceback" not in err


def test_unknown_top_level_keys_belong_to_pi_and_are_ignored(pi_env: PiEnv, make_config: MakeConfig) -> None:
    config = make_config(settings={
        "theme": "dark", "defaultModel": {"provider": "x"}, "someFutureKey": [1, 2],
        "extensionPolicy": {"profile": "balanced"},
    })
    assert config.profile == "balanced"
    assert config.warnings == ()


@pytest.mark.parametrize(("key", "meant"), [
    ("extensionPolcy", "extensionPolicy"), ("ExtensionPolicy", "extensionPolicy"),
    ("extension-policy", "extensionPolicy"), ("EXTENSIONPOLICY", "extensionPolicy"),
    ("extensionRisks", "extensionRisk"), ("extensionRuntme", "extensionRuntime"),
    ("extensoinTrust", "extensionTrust"), ("Extensions", "extensions"),
])
def test_a_misspelt_section_of_ours_is_an_error_not_ignored(
    pi_env: PiEnv, make_config: MakeConfig, key: str, meant: str
) -> None:
    # Ignored as "pi's key", the section's deny was silently not in force.
    with pytest.raises(ConfigError, match=f"did you mean '{meant}'") as info:
        make_config(settings={key: {"perExtension": {"x": {"deny": ["http"]}}}})
    assert info.value.key == key


def test_pis_own_keys_near_ours_stay_pis(make_config: MakeConfig) -> None:
    # pi 0.73's settings keys (and plausible future ones) are never taken for misspellings of ours.
    config = make_config(settings={"extension": 1, "extensionsDir": "x", "enabledModels": [], "packages": [],
                                   "enableSkillCommands": True, "extension_policy": {"profile": "balanced"}})
    assert config.profile == "balanced"


def test_snake_case_aliases_are_accepted(make_config: MakeConfig) -> None:
    config = make_config(settings={"extension_policy": {"allow_dangerous": True,
                                                        "exec_mediation": {"deny_threshold": "low"}}})
    assert config.allow_dangerous is True
    assert config.exec_mediation.deny_threshold == "low"


@pytest.mark.parametrize(
    ("name", "value"),
    [("PI_EXTENSION_ALLOW_DANGEROUS", "maybe"), ("PI_EXTENSION_RISK_ENABLED", "2"),
     ("PI_EXTENSION_RISK_ALPHA", "abc"), ("PI_EXTENSION_RISK_WINDOW", "-3"),
     # Regression: the env path skipped the settings validators, so these were accepted.
     ("PI_EXTENSION_RISK_ALPHA", "nan"), ("PI_EXTENSION_RISK_ALPHA", "5"), ("PI_EXTENSION_RISK_ALPHA", "inf"),
     ("PI_EXTENSION_RISK_WINDOW", "1e3"), ("PI_EXTENSION_RISK_DECISION_TIMEOUT_MS", "0x10")],
)
def test_bad_env_values_are_config_errors_naming_the_variable(
    make_config: MakeConfig, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
    name: str, value: str,
) -> None:
    with pytest.raises(ConfigError, match=name):
        make_config(env={name: value})
    monkeypatch.setenv(name, value)
    assert main(["policy", "check", "--extension", "e", "--capability", "read"]) == 2
    err = capsys.readouterr().err
    assert name in err and "Traceback" not in err


# --- state dir and database ----------------------------------------------------------------------


def _debug_stat() -> list[str]:
    return ["debug", "hostcall", "--extension", "ext.a", "--method", "fs", "--params",
            json.dumps({"op": "stat", "path": "."}), "--json"]


@pytest.mark.parametrize("layout", ["state-dir-is-a-file", "state-dir-under-a-file"])
def test_unwritable_state_dir_is_a_clear_error(
    pi_env: PiEnv, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, layout: str,
    make_config: MakeConfig, open_sandbox: Any,
) -> None:
    # Tests may run as root, which ignores permission bits: make the path impossible instead.
    blocker = pi_env.root / "blocker"
    blocker.write_text("not a directory")
    state = blocker if layout == "state-dir-is-a-file" else blocker / "security"
    monkeypatch.setenv("PI_SECURITY_DIR", str(state))
    with pytest.raises(StateDirError, match=str(blocker)):
        open_sandbox(make_config())
    assert main(_debug_stat()) == 3  # environment
    err = capsys.readouterr().err
    assert err.startswith("pi-sandbox: error: ") and str(blocker) in err and "Traceback" not in err
    assert blocker.read_text() == "not a directory"


def test_corrupted_database_is_refused_and_left_byte_for_byte(
    pi_env: PiEnv, capsys: pytest.CaptureFixture[str], make_config: MakeConfig, open_sandbox: Any,
) -> None:
    pi_env.state_dir.mkdir(parents=True)
    garbage = os.urandom(64) + b"this is not sqlite" * 300
    pi_env.db_path.write_bytes(garbage)
    with pytest.raises(LedgerCorruptError, match="security.db"):
        open_sandbox(make_config())
    assert main(_debug_stat()) == 1  # damage found
    err = capsys.readouterr().err
    assert "damaged" in err and str(pi_env.db_path) in err and "Traceback" not in err
    assert pi_env.db_path.read_bytes() == garbage
    assert not (pi_env.workspace / "security.db").exists()


def test_corrupted_permission_store_is_refused_not_overwritten(
    pi_env: PiEnv, make_config: MakeConfig, open_sandbox: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    pi_env.state_dir.mkdir(parents=True)
    perms = pi_env.state_dir / "permissions.json"
    perms.write_text("{broken")
    with pytest.raises(StateDirError, match="permissions.json"):
        open_sandbox(make_config())
    assert main(["policy", "grant", "--extension", "e", "--capability", "ui"]) == 3  # environment
    assert "Traceback" not in capsys.readouterr().err
    assert perms.read_text() == "{broken"


@pytest.mark.parametrize(
    ("text", "key"),
    [
        # Last-wins JSON duplicates: a reviewer reads the first value, the resolver used the second.
        ('{"extensionPolicy": {"allowDangerous": false, "allowDangerous": true}}', "extensionPolicy.allowDangerous"),
        ('{"extensionPolicy": {"profile": "safe"}, "extensionPolicy": {"profile": "permissive"}}',
         "extensionPolicy"),
        # Two spellings of one key: one of them was silently dropped.
        ('{"extensionPolicy": {"allowDangerous": false, "allow_dangerous": true}}', "extensionPolicy.allowDangerous"),
        ('{"extensionPolicy": {"profile": "safe"}, "extension_policy": {"profile": "permissive"}}',
         "extensionPolicy"),
        ('{"extensionPolicy": {"execMediation": {"enabled": true, "enabled": false}}}',
         "extensionPolicy.execMediation.enabled"),
        ('{"extensionPolicy": {"perExtension": {"x": {"deny": ["exec"], "deny": []}}}}',
         "extensionPolicy.perExtension.x.deny"),
        ('{"extensionPolicy": {"perExtension": {"x": {"deny": ["exec"]}, "x": {}}}}',
         "extensionPolicy.perExtension.x"),
        ('{"extensionRisk": {"enabled": true}, "extension_risk": {"enabled": false}}', "extensionRisk"),
    ],
)
def test_ambiguous_duplicate_settings_keys_are_errors(
    pi_env: PiEnv, make_config: MakeConfig, capsys: pytest.CaptureFixture[str], text: str, key: str
) -> None:
    """Regression: duplicates and camel/snake twins resolved last-wins (or first-wins) silently."""
    pi_env.write_global(text)
    with pytest.raises(ConfigError, match="more than once") as info:
        make_config()
    assert info.value.key == key
    assert main(["policy", "check", "--extension", "x", "--capability", "exec"]) == 2
    assert "Traceback" not in capsys.readouterr().err


def test_duplicate_keys_outside_our_sections_stay_pis_business(pi_env: PiEnv, make_config: MakeConfig) -> None:
    pi_env.write_global('{"theme": "dark", "theme": "light", "extensionPolicy": {"profile": "balanced"}}')
    assert make_config().profile == "balanced"


def test_deeply_nested_settings_are_a_config_error(
    pi_env: PiEnv, make_config: MakeConfig, capsys: pytest.CaptureFixture[str]
) -> None:
    """Regression: json recursion blew up as RecursionError with a traceback (exit 1)."""
    pi_env.write_global('{"theme": ' + "[" * 100_000 + "]" * 100_000 + "}")
    with pytest.raises(ConfigError, match="nested too deeply"):
        make_config()
    assert main(["policy", "check", "--extension", "x", "--capability", "read"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and str(pi_env.global_settings) in err


def test_project_settings_that_are_a_named_pipe_are_an_error_not_a_hang(
    pi_env: PiEnv, make_config: MakeConfig
) -> None:
    """Regression: a cloned repository's ``.pi/settings.json`` made a FIFO blocked every ``pi`` run in it."""
    from tests.scanner.test_findings import _finishes

    pi_env.project_settings.parent.mkdir(parents=True)
    os.mkfifo(pi_env.project_settings)
    errors: list[Exception] = []

    def resolve() -> None:
        try:
            make_config()
        except ConfigError as exc:
            errors.append(exc)

    assert _finishes(resolve), "resolve_config blocked on a named pipe"
    assert errors and "not a regular file" in str(errors[0]) and str(pi_env.project_settings) in str(errors[0])


@pytest.mark.parametrize("name", ["PI_CODING_AGENT_DIR", "PI_SECURITY_DIR", "PI_CONFIG_PATH"])
def test_unknown_user_home_in_a_path_variable_is_a_config_error(
    make_config: MakeConfig, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    """Regression: '~nosuchuser/...' raised RuntimeError from expanduser (a traceback)."""
    with pytest.raises(ConfigError, match=name):
        make_config(env={name: "~nosuchuser-pi-test/x"})
    monkeypatch.setenv(name, "~nosuchuser-pi-test/x")
    assert main(["policy", "check", "--extension", "e", "--capability", "read"]) == 2
    err = capsys.readouterr().err
    assert name in err and "Traceback" not in err


def test_unknown_user_home_in_settings_extensions_is_a_config_error(make_config: MakeConfig) -> None:
    with pytest.raises(ConfigError, match="extensions"):
        make_config(settings={"extensions": ["~nosuchuser-pi-test/ext"]})


@pytest.mark.parametrize("value", ["state", "./state", "../elsewhere/security", "state/../security"])
def test_a_relative_state_dir_is_a_config_error(
    make_config: MakeConfig, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    """A relative PI_SECURITY_DIR gave each working folder a ledger of its own (a session's record split)."""
    with pytest.raises(ConfigError, match="PI_SECURITY_DIR is a relative path"):
        make_config(env={"PI_SECURITY_DIR": value})
    monkeypatch.setenv("PI_SECURITY_DIR", value)
    assert main(["security", "ledger", "verify"]) == 2
    err = capsys.readouterr().err
    assert "PI_SECURITY_DIR" in err and "absolute" in err and "Traceback" not in err
