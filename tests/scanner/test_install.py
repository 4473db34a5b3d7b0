"""Preflight and install: copy, lockfile, ledger entries, alerts, capability expansion, overrides."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from pi_sandbox.audit import AuditStore
from pi_sandbox.cli.main import main
from pi_sandbox.config import resolve_config
from pi_sandbox.errors import InstallError
from pi_sandbox.scanner import install as installer
from tests.conftest import PiEnv


def _write_ext(root: Path, body: str, name: str = "demo-ext") -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "package.json").write_text(json.dumps({"name": name}))
    (root / "index.ts").write_text(body)
    return root


SAFE = "export default function (pi: any) { pi.on('session_start', () => undefined); }\n"
WITH_ENV = "export default function (pi: any) { pi.on('x', () => process.env.HOME); }\n"
WITH_ENV_AND_EXEC = "import { execFile } from 'node:child_process';\n" + WITH_ENV
EVIL = "export default function (pi: any) { eval(atob('cHJvY2Vzcy5leGl0KCk=')); }\n"


def _store(pi_env: PiEnv) -> AuditStore:
    return AuditStore.open(pi_env.state_dir)


def _lock(pi_env: PiEnv) -> dict:
    return json.loads((pi_env.state_dir / "extensions.lock.json").read_text())


def test_install_copies_pins_and_ledgers(pi_env: PiEnv, tmp_path: Path) -> None:
    src = _write_ext(tmp_path / "src", WITH_ENV, name="@acme/demo")
    (src / ".git").mkdir()
    (src / ".git" / "HEAD").write_text("x")
    assert main(["ext", "install", str(src), "--json"]) == 0
    dest = pi_env.agent_dir / "sandboxed-extensions" / "acme-demo"
    assert (dest / "index.ts").read_text() == WITH_ENV
    assert not (dest / ".git").exists()
    entry = _lock(pi_env)["extensions"]["acme-demo"]
    assert _lock(pi_env)["schema"] == "pi.security.extension_lockfile.v1"
    assert entry["capabilities"] == ["env"] and entry["verdict"] == "warn"
    assert len(entry["content_hash"]) == 64 and len(entry["finding_hashes"]) == 1
    with _store(pi_env) as store:
        (ledger,) = store.query_ledger(extension_id="acme-demo")
        assert (ledger.kind, ledger.decision, ledger.reason) == ("install", "allow", "scan_warn")
        assert ledger.detail["finding_hashes"] == entry["finding_hashes"]
        assert "process.env" not in json.dumps(ledger.detail)  # hashes and counts, never code
        assert store.query_records(kind="install", extension_id="acme-demo")


def test_failing_scan_is_refused_and_recorded(pi_env: PiEnv, tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    src = _write_ext(tmp_path / "evil", EVIL)
    assert main(["ext", "install", str(src)]) == 1
    out = capsys.readouterr().out
    assert "EVAL" in out and "not installed" in out
    assert not (pi_env.agent_dir / "sandboxed-extensions" / "demo-ext").exists()
    assert not (pi_env.state_dir / "extensions.lock.json").exists()
    with _store(pi_env) as store:
        (ledger,) = store.query_ledger(extension_id="demo-ext")
        assert (ledger.decision, ledger.reason) == ("deny", "scan_forbidden")
        assert ledger.detail["forbidden"] == 2
        (alert,) = store.query_alerts(category="scanner")
        assert alert.reason_codes == ("scan_forbidden",) and alert.action == "deny"


def test_force_needs_a_reason(pi_env: PiEnv, tmp_path: Path) -> None:
    src = _write_ext(tmp_path / "evil", EVIL)
    assert main(["ext", "install", str(src), "--force"]) == 2
    assert main(["ext", "install", str(src), "--reason", "x"]) == 2
    config = resolve_config(cwd=pi_env.workspace)
    with _store(pi_env) as store, pytest.raises(InstallError, match="--reason"):
        installer.install(src, config, store, force=True, reason="  ")


def test_forced_install_records_override(pi_env: PiEnv, tmp_path: Path) -> None:
    src = _write_ext(tmp_path / "evil", EVIL)
    assert main(["ext", "install", str(src), "--force", "--reason", "vendored build tool, reviewed"]) == 0
    entry = _lock(pi_env)["extensions"]["demo-ext"]
    assert entry["forced"] is True and entry["force_reason"] == "vendored build tool, reviewed"
    assert entry["verdict"] == "fail"
    with _store(pi_env) as store:
        (ledger,) = store.query_ledger(extension_id="demo-ext")
        assert (ledger.decision, ledger.reason) == ("forced", "forced_scan_forbidden")
        assert len(ledger.detail["operator_reason_hash"]) == 64
        assert ledger.detail["finding_count"] == 2


def test_capability_expansion_needs_confirmation(pi_env: PiEnv, tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    src = _write_ext(tmp_path / "ext", WITH_ENV)
    assert main(["ext", "install", str(src)]) == 0
    (src / "index.ts").write_text(WITH_ENV_AND_EXEC)
    capsys.readouterr()
    assert main(["ext", "preflight", str(src), "--json"]) == 1
    pre = json.loads(capsys.readouterr().out)
    assert pre["decision"] == "needs_confirmation" and pre["added_capabilities"] == ["exec"]
    assert main(["ext", "install", str(src)]) == 1
    installed = pi_env.agent_dir / "sandboxed-extensions" / "demo-ext" / "index.ts"
    assert installed.read_text() == WITH_ENV  # old version kept
    with _store(pi_env) as store:
        alerts = store.query_alerts(category="scanner", extension_id="demo-ext")
        assert [a.reason_codes for a in alerts] == [("capability_expansion",)]
        assert alerts[0].severity == "warning"
    assert main(["ext", "install", str(src), "--force", "--reason", "needs git"]) == 0
    assert installed.read_text() == WITH_ENV_AND_EXEC
    assert _lock(pi_env)["extensions"]["demo-ext"]["capabilities"] == ["env", "exec"]
    # same capabilities again: no confirmation needed
    assert main(["ext", "install", str(src)]) == 0


def test_preflight_changes_nothing(pi_env: PiEnv, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = _write_ext(tmp_path / "ext", SAFE)
    assert main(["ext", "preflight", str(src), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["decision"] == "ready" and data["verdict"] == "pass"
    assert data["destination"].endswith("extensions/demo-ext")
    assert not (pi_env.agent_dir / "sandboxed-extensions").exists()
    assert not (pi_env.state_dir / "security.db").exists()


def test_single_file_install_and_corrupt_lockfile(pi_env: PiEnv, tmp_path: Path) -> None:
    file = tmp_path / "My Tool.ts"
    file.write_text(SAFE)
    assert main(["ext", "install", str(file)]) == 0
    assert (pi_env.agent_dir / "sandboxed-extensions" / "My-Tool.ts").read_text() == SAFE
    (pi_env.state_dir / "extensions.lock.json").write_text("{broken")
    assert main(["ext", "preflight", str(file)]) == 2


def test_unsupported_specs_are_usage_errors(pi_env: PiEnv) -> None:
    assert main(["ext", "preflight", "npm:"]) == 2
    assert main(["ext", "install", str(pi_env.workspace / "missing")]) == 2


def test_pinned_content_status_detects_tampering(pi_env: PiEnv, tmp_path: Path) -> None:
    src = _write_ext(tmp_path / "ext", SAFE)
    config = resolve_config(cwd=pi_env.workspace)
    assert installer.pinned_content_status(config, "demo-ext") == "unpinned"
    assert main(["ext", "install", str(src)]) == 0
    assert installer.pinned_content_status(config, "demo-ext") == "match"
    installed = pi_env.agent_dir / "sandboxed-extensions" / "demo-ext"
    (installed / "index.ts").write_text(SAFE + "eval(x)\n")
    assert installer.pinned_content_status(config, "demo-ext") == "mismatch"
    shutil.rmtree(installed)
    assert installer.pinned_content_status(config, "demo-ext") == "missing"


def test_named_pipes_block_install_without_hanging(pi_env: PiEnv, tmp_path: Path) -> None:
    """A FIFO (also as package.json) is a forbidden finding; preflight and install finish and refuse."""
    import os

    from tests.scanner.test_findings import _finishes

    src = tmp_path / "piped"
    src.mkdir()
    (src / "index.js").write_text("export {};\n")
    os.mkfifo(src / "package.json")
    os.mkfifo(src / "lib.js")
    codes: list[int] = []
    assert _finishes(lambda: codes.append(main(["ext", "install", str(src), "--json"]))), "install blocked"
    assert codes == [1]
    assert not (pi_env.agent_dir / "sandboxed-extensions" / "piped").exists()
    with _store(pi_env) as store:
        (ledger,) = store.query_ledger(extension_id="piped")
        assert (ledger.decision, ledger.reason) == ("deny", "scan_forbidden")


def test_deeply_nested_lockfile_is_an_install_error_and_kept(pi_env: PiEnv, tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    """Regression: a lockfile nested past json's recursion limit raised RecursionError (a traceback)."""
    src = _write_ext(tmp_path / "src", SAFE)
    pi_env.state_dir.mkdir(parents=True, exist_ok=True)
    text = "[" * 100_000 + "]" * 100_000
    (pi_env.state_dir / "extensions.lock.json").write_text(text)
    assert main(["ext", "install", str(src)]) == 2
    assert "lockfile is unreadable" in capsys.readouterr().err
    assert (pi_env.state_dir / "extensions.lock.json").read_text() == text
    assert not (pi_env.agent_dir / "sandboxed-extensions" / "demo-ext").exists()


@pytest.mark.parametrize("single_file", [False, True])
def test_source_changed_between_scan_and_copy_is_not_installed(
    pi_env: PiEnv, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, single_file: bool
) -> None:
    """Regression: install scanned the source, then copied it again: code swapped in between (a race
    by whoever controls the source folder) was installed and pinned under the clean scan's verdict."""
    src = _write_ext(tmp_path / "src", SAFE)
    target = src / "index.ts" if single_file else src
    real_scan = installer.scan_path

    def scan_then_swap(path: Path, **kwargs):  # type: ignore[no-untyped-def]
        report = real_scan(path, **kwargs)
        (src / "index.ts").write_text(EVIL)
        return report

    monkeypatch.setattr(installer, "scan_path", scan_then_swap)
    config = resolve_config(cwd=pi_env.workspace)
    with _store(pi_env) as store, pytest.raises(InstallError, match="changed while it was being installed"):
        installer.install(target, config, store)
    assert not (pi_env.agent_dir / "sandboxed-extensions" / "demo-ext").exists()
    assert not (pi_env.agent_dir / "sandboxed-extensions" / "index.ts").exists()
    assert not (pi_env.state_dir / "extensions.lock.json").exists()
    ours = pi_env.agent_dir / "sandboxed-extensions"
    leftovers = list(ours.iterdir()) if ours.exists() else []
    assert leftovers == []


def test_pinned_status_of_a_renamed_single_file_install_matches(pi_env: PiEnv, tmp_path: Path) -> None:
    """Regression: the pin hashed the source file name ('My Tool.ts') but the check hashed the installed
    name ('My-Tool.ts'), so an untouched single-file install always read as tampered."""
    file = tmp_path / "My Tool.ts"
    file.write_text(SAFE)
    assert main(["ext", "install", str(file)]) == 0
    config = resolve_config(cwd=pi_env.workspace)
    assert installer.pinned_content_status(config, "My-Tool") == "match"
    (pi_env.agent_dir / "sandboxed-extensions" / "My-Tool.ts").write_text(EVIL)
    assert installer.pinned_content_status(config, "My-Tool") == "mismatch"


def test_deeply_nested_extension_install_is_a_clear_error(pi_env: PiEnv, tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    """Regression: shutil.copytree recursed once per level: a 1,100-level tree crashed install (traceback)."""
    src = _write_ext(tmp_path / "src", SAFE)
    deep = src
    for _ in range(1100):
        deep = deep / "d"
        deep.mkdir()
    (deep / "x.js").write_text("export const x = 1;\n")
    from tests.scanner.test_findings import remove_deep_tree

    try:
        code = main(["ext", "install", str(src)])
    finally:
        remove_deep_tree(src / "d")
    assert code == 2
    err = capsys.readouterr().err
    assert "nested too deeply" in err and "Traceback" not in err
    extensions = pi_env.agent_dir / "sandboxed-extensions"
    assert not extensions.exists() or list(extensions.iterdir()) == []


def test_install_through_a_symlinked_file_scans_and_pins_what_it_points_to(pi_env: PiEnv, tmp_path: Path) -> None:
    import os

    (tmp_path / "real.ts").write_text(SAFE)
    os.symlink(tmp_path / "real.ts", tmp_path / "tool.ts")
    assert main(["ext", "install", str(tmp_path / "tool.ts")]) == 0
    installed = pi_env.agent_dir / "sandboxed-extensions" / "tool.ts"
    assert installed.read_text() == SAFE and not installed.is_symlink()
    assert installer.pinned_content_status(resolve_config(cwd=pi_env.workspace), "tool") == "match"
    (tmp_path / "evil.ts").write_text(EVIL)
    os.symlink(tmp_path / "evil.ts", tmp_path / "helper.ts")
    assert main(["ext", "install", str(tmp_path / "helper.ts")]) == 1  # refused by the scan, not installed
    assert not (pi_env.agent_dir / "sandboxed-extensions" / "helper.ts").exists()
