"""``pi-sandbox --version/--help``, ``--explain-extension-policy`` and ``policy check`` (in-process)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from pi_sandbox import __version__
from pi_sandbox.cli.main import main
from tests.conftest import PiEnv


def _json(capsys: pytest.CaptureFixture[str], argv: list[str], code: int = 0) -> Any:
    assert main(argv) == code
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    return json.loads(captured.out)


def test_version(pi_env: PiEnv, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"pi-sandbox {__version__}"


def test_help_lists_the_global_options_and_commands(pi_env: PiEnv, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for word in ("--extension-policy", "--explain-extension-policy", "--extension", "--no-extensions",
                 "--json", "policy", "debug"):
        assert word in out
    assert main([]) == 0
    assert "Usage: pi-sandbox" in capsys.readouterr().out


def test_unknown_command_or_option_is_usage_error(pi_env: PiEnv, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["frobnicate"]) == 2
    assert main(["--frobnicate"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and "pi-sandbox:" in err


def test_explain_json_fields(pi_env: PiEnv, capsys: pytest.CaptureFixture[str]) -> None:
    doc = _json(capsys, ["--explain-extension-policy", "--json"])
    assert (doc["effective_profile"], doc["profile_source"], doc["allow_dangerous"]) == ("safe", "default", False)
    rows = doc["capability_decisions"]
    assert len(rows) == 11
    for row in rows:
        assert set(row) >= {"capability", "decision", "layer", "reason", "remediation"}
        assert row["remediation"]
    by_cap = {r["capability"]: r for r in rows}
    assert (by_cap["exec"]["decision"], by_cap["exec"]["layer"], by_cap["exec"]["reason"]) == ("deny", 2, "deny_caps")
    assert (by_cap["read"]["decision"], by_cap["read"]["layer"]) == ("allow", 4)


def test_explain_for_one_extension(pi_env: PiEnv, capsys: pytest.CaptureFixture[str]) -> None:
    pi_env.write_global({"extensionPolicy": {"perExtension": {"ext.a": {"deny": ["read"]}}}})
    doc = _json(capsys, ["--explain-extension-policy", "--extension", "ext.a", "--json"])
    assert doc["extension_id"] == "ext.a"
    read = next(r for r in doc["capability_decisions"] if r["capability"] == "read")
    assert (read["decision"], read["layer"], read["reason"]) == ("deny", 1, "extension_deny")
    other = _json(capsys, ["--explain-extension-policy", "-e", "ext.b", "--json"])
    assert next(r for r in other["capability_decisions"] if r["capability"] == "read")["decision"] == "allow"
    assert main(["--explain-extension-policy", "-e", "a", "-e", "b"]) == 2
    assert "at most one" in capsys.readouterr().err


def test_extension_policy_option_sets_the_profile(pi_env: PiEnv, capsys: pytest.CaptureFixture[str]) -> None:
    doc = _json(capsys, ["--extension-policy", "permissive", "--explain-extension-policy", "--json"])
    assert (doc["effective_profile"], doc["profile_source"], doc["mode"]) == ("permissive", "cli", "permissive")
    assert {r["decision"] for r in doc["capability_decisions"]} == {"allow"}
    doc = _json(capsys, ["--extension-policy", "standard", "--explain-extension-policy", "--json"])
    assert (doc["requested_profile"], doc["effective_profile"]) == ("standard", "balanced")


def test_explain_shows_env_sources_and_allow_dangerous(
    pi_env: PiEnv, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PI_EXTENSION_POLICY", "balanced")
    monkeypatch.setenv("PI_EXTENSION_ALLOW_DANGEROUS", "1")
    doc = _json(capsys, ["--explain-extension-policy", "--json"])
    assert (doc["effective_profile"], doc["profile_source"]) == ("balanced", "env:PI_EXTENSION_POLICY")
    assert (doc["allow_dangerous"], doc["allow_dangerous_source"]) == (True, "env:PI_EXTENSION_ALLOW_DANGEROUS")
    exec_row = next(r for r in doc["capability_decisions"] if r["capability"] == "exec")
    assert (exec_row["decision"], exec_row["reason"]) == ("prompt", "prompt_required")


def test_unknown_profile_warns_on_stderr_and_uses_safe(pi_env: PiEnv, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--extension-policy", "yolo", "--explain-extension-policy", "--json"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["effective_profile"] == "safe"
    assert "pi-sandbox: warning: unknown extension policy profile 'yolo'" in captured.err


def test_explain_text_output_is_a_table(pi_env: PiEnv, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--explain-extension-policy"]) == 0
    out = capsys.readouterr().out
    assert "effective profile : safe (source: default)" in out
    assert "CAPABILITY" in out and "not_in_default_caps" in out


@pytest.mark.parametrize(("settings", "cap", "expected"), [
    ({}, "exec", {"decision": "deny", "layer": 2, "reason": "deny_caps"}),
    ({}, "READ", {"decision": "allow", "layer": 4, "reason": "default_caps"}),
    ({"extensionPolicy": {"profile": "balanced"}}, "tool", {"decision": "prompt", "layer": 5,
                                                            "reason": "prompt_required"}),
    ({"extensionPolicy": {"perExtension": {"ext.a": {"allow": ["tool"]}}}}, "tool",
     {"decision": "allow", "layer": 3, "reason": "extension_allow"}),
    ({}, "log", {"decision": "allow", "layer": 4, "reason": "default_caps"}),
])
def test_policy_check_json(
    pi_env: PiEnv, capsys: pytest.CaptureFixture[str], settings: dict[str, Any], cap: str, expected: dict[str, Any]
) -> None:
    pi_env.write_global(settings)
    doc = _json(capsys, ["policy", "check", "--extension", "ext.a", "--capability", cap, "--json"])
    assert {k: doc[k] for k in ("decision", "layer", "reason")} == expected
    assert doc["capability"] == cap.lower()


def test_policy_check_global_json_flag_and_text(pi_env: PiEnv, capsys: pytest.CaptureFixture[str]) -> None:
    doc = _json(capsys, ["--json", "policy", "check", "--extension", "e", "--capability", "tool"])
    assert doc["reason"] == "not_in_default_caps"
    assert main(["policy", "check", "--extension", "e", "--capability", "tool"]) == 0
    assert capsys.readouterr().out.strip() == "deny (layer 5, reason not_in_default_caps)"


@pytest.mark.parametrize("argv", [
    ["policy", "check", "--extension", "e", "--capability", "root"],
    ["policy", "check", "--extension", "e"],
    ["policy", "check", "--capability", "read"],
])
def test_policy_check_usage_errors(pi_env: PiEnv, capsys: pytest.CaptureFixture[str], argv: list[str]) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err and "Traceback" not in err


def test_policy_group_without_subcommand_shows_help(pi_env: PiEnv, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["policy"]) == 2
    assert "check" in capsys.readouterr().out


@pytest.mark.parametrize("command", ["check", "grant", "revoke"])
@pytest.mark.parametrize("extension_id", ["", "   "])
def test_empty_extension_id_is_a_usage_error(
    pi_env: PiEnv, capsys: pytest.CaptureFixture[str], command: str, extension_id: str
) -> None:
    """Regression: ``pi policy grant --extension ''`` recorded a decision for an empty id."""
    argv = ["policy", command, "--extension", extension_id]
    if command != "revoke":
        argv += ["--capability", "ui"]
    assert main(argv) == 2
    assert "extension id" in capsys.readouterr().err
    assert not (pi_env.state_dir / "permissions.json").exists()


@pytest.mark.parametrize(("expires", "message"), [("0m", "positive"), ("99999999999999999999999d", "too large")])
def test_grant_expiry_must_be_a_sensible_duration(
    pi_env: PiEnv, capsys: pytest.CaptureFixture[str], expires: str, message: str
) -> None:
    """Regression: '0m' recorded an already-expired grant and a huge duration an absurd expiry (exit 0)."""
    assert main(["policy", "grant", "--extension", "x", "--capability", "ui", "--expires", expires]) == 2
    assert message in capsys.readouterr().err
    assert not (pi_env.state_dir / "permissions.json").exists()


def test_settings_warnings_escape_control_characters(pi_env: PiEnv, capsys: pytest.CaptureFixture[str]) -> None:
    """A cloned repository's settings text reaches the operator's terminal through warnings."""
    pi_env.write_project({"extensionPolicy": {"profile": "\x1b[2J\x1b[Hpermissive"}})
    assert main(["policy", "check", "--extension", "x", "--capability", "read"]) == 0
    err = capsys.readouterr().err
    assert "pi-sandbox: warning:" in err and "\x1b" not in err and "\\x1b[2J" in err
