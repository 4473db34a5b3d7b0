"""``pi-sandbox debug hostcall``: one hostcall through the full pipeline, recorded like any other."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from typing import Any

import pytest

from pi_sandbox import __version__
from pi_sandbox.audit import AuditStore
from pi_sandbox.cli.main import main
from tests.conftest import PiEnv


def _debug(method: str, params: dict[str, Any], *extra: str, ext: str = "ext.dbg") -> list[str]:
    return ["debug", "hostcall", "--extension", ext, "--method", method, "--params", json.dumps(params), *extra]


def _ledger(pi_env: PiEnv) -> list[Any]:
    with AuditStore.open(pi_env.state_dir) as store:
        return store.query_ledger()


def test_allowed_hostcall_runs_and_is_recorded(pi_env: PiEnv, capsys: pytest.CaptureFixture[str]) -> None:
    argv = _debug("fs", {"op": "write", "path": "out.txt", "data": "hi"}, "--call-id", "incident-42", "--json")
    assert main(argv) == 0
    doc = json.loads(capsys.readouterr().out)
    assert (doc["ok"], doc["error_code"], doc["call_id"]) == (True, None, "incident-42")
    assert doc["result"] == {"bytes_written": 2}
    assert doc["schema"] == "pi.security.hostcall_result.v1"
    assert (pi_env.workspace / "out.txt").read_text() == "hi"
    (entry,) = [e for e in _ledger(pi_env) if e.kind == "hostcall"]
    assert (entry.extension_id, entry.call_id, entry.decision, entry.capability) == (
        "ext.dbg", "incident-42", "allow", "write")


def test_denied_hostcall_exits_1_with_reason(pi_env: PiEnv, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(_debug("exec", {"cmd": "id"}, "--json")) == 1
    doc = json.loads(capsys.readouterr().out)
    assert (doc["ok"], doc["error_code"], doc["reason"]) == (False, "denied", "deny_caps")
    assert "allowDangerous" in doc["message"]
    assert [e.decision for e in _ledger(pi_env) if e.kind == "hostcall"] == ["deny"]


def test_declared_capability_is_checked(pi_env: PiEnv, capsys: pytest.CaptureFixture[str]) -> None:
    argv = _debug("fs", {"op": "write", "path": "x.txt", "data": "x"}, "--capability", "read", "--json")
    assert main(argv) == 1
    doc = json.loads(capsys.readouterr().out)
    assert doc["error_code"] == "invalid_request"
    assert not (pi_env.workspace / "x.txt").exists()
    assert [e.decision for e in _ledger(pi_env) if e.kind == "hostcall"] == ["invalid"]


def test_profile_option_applies_to_debug_hostcall(pi_env: PiEnv, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--extension-policy", "permissive", *_debug("env", {"name": "PATH"}, "--json")]) == 0
    assert json.loads(capsys.readouterr().out)["ok"] is True


def test_text_output(pi_env: PiEnv, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(_debug("fs", {"op": "stat", "path": "."})) == 0
    assert capsys.readouterr().out.startswith("ok (read): ")
    assert main(_debug("tool", {"name": "custom"})) == 1
    assert capsys.readouterr().out.startswith("denied (not_in_default_caps): ")


@pytest.mark.parametrize(("params", "words"), [("{nope", "--params is not valid JSON"),
                                               ("[1, 2]", "--params must be a JSON object")])
def test_bad_params_are_usage_errors(
    pi_env: PiEnv, capsys: pytest.CaptureFixture[str], params: str, words: str
) -> None:
    argv = ["debug", "hostcall", "--extension", "e", "--method", "fs", "--params", params]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert words in err and "Traceback" not in err
    assert not pi_env.db_path.exists()  # nothing opened, nothing recorded


def _child_env(pi_env: PiEnv) -> dict[str, str]:
    env = dict(os.environ)
    env.update(HOME=str(pi_env.home), PI_CODING_AGENT_DIR=str(pi_env.agent_dir), PI_SECURITY_DIR=str(pi_env.state_dir))
    return env


def test_debug_hostcall_in_a_real_subprocess(pi_env: PiEnv) -> None:
    argv = [sys.executable, "-m", "pi_sandbox.cli.main",
            *_debug("fs", {"op": "write", "path": "from-child.txt", "data": "child"}, "--json")]
    proc = subprocess.run(argv, cwd=pi_env.workspace, env=_child_env(pi_env), capture_output=True, text=True,
                          timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["ok"] is True
    assert (pi_env.workspace / "from-child.txt").read_text() == "child"
    assert [e.decision for e in _ledger(pi_env) if e.kind == "hostcall"] == ["allow"]
    denied = subprocess.run([*argv[:3], *_debug("exec", {"cmd": "id"}, "--json")], cwd=pi_env.workspace,
                            env=_child_env(pi_env), capture_output=True, text=True, timeout=60, check=False)
    assert denied.returncode == 1
    assert json.loads(denied.stdout)["reason"] == "deny_caps"


def test_console_script_version_and_bad_settings(pi_env: PiEnv) -> None:
    exe = shutil.which("pi-sandbox")  # not "pi": the real pi agent may also be on PATH
    cmd = [exe] if exe else [sys.executable, "-m", "pi_sandbox.cli.main"]
    proc = subprocess.run([*cmd, "--version"], env=_child_env(pi_env), capture_output=True, text=True,
                          timeout=60, check=False)
    assert (proc.returncode, proc.stdout.strip()) == (0, f"pi-sandbox {__version__}")
    pi_env.write_global("{not json")
    bad = subprocess.run([*cmd, "--explain-extension-policy", "--json"], cwd=pi_env.workspace,
                         env=_child_env(pi_env), capture_output=True, text=True, timeout=60, check=False)
    assert bad.returncode == 2
    assert "invalid JSON" in bad.stderr and str(pi_env.global_settings) in bad.stderr
    assert "Traceback" not in bad.stderr
    # what to do about it, on its own line: the error's remediation
    error, fix = bad.stderr.strip().splitlines()[-2:]
    assert error.startswith("pi-sandbox: error: ") and fix.startswith("  fix: ") and "config validate" in fix


def test_params_nested_too_deeply_is_a_usage_error(pi_env: PiEnv, capsys: pytest.CaptureFixture[str]) -> None:
    """Regression: --params nested past json's recursion limit raised RecursionError (a traceback)."""
    params = '{"a": ' + "[" * 100_000 + "]" * 100_000 + "}"
    assert main(["debug", "hostcall", "--extension", "x", "--method", "log", "--params", params]) == 2
    err = capsys.readouterr().err
    assert "--params" in err and "nested too deeply" in err and "Traceback" not in err
