"""``bridge install|uninstall|adopt``, the sandboxed folders, and ``ext install`` never writing into pi's folder."""

from __future__ import annotations

import json
import os
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from pi_sandbox.cli.main import main
from pi_sandbox.runtime.discover import discover
from tests.runtime.conftest import write_file

SAFE = 'export default function (pi: any) { pi.registerCommand("hi", { handler: async () => {} }); }\n'


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, Any]:
    code = main([*argv, "--json"])
    out = capsys.readouterr().out
    return code, json.loads(out) if out.strip() else None


def _tree(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*")) if folder.exists() else []


def test_ext_install_goes_to_the_sandboxed_folder_never_pis(pi_env: Any, tmp_path: Path) -> None:
    source = write_file(tmp_path / "src" / "hello.ts", SAFE)
    pi_folder = pi_env.agent_dir / "extensions"
    assert main(["ext", "install", str(source)]) == 0
    assert (pi_env.agent_dir / "sandboxed-extensions" / "hello.ts").read_text() == SAFE
    assert _tree(pi_folder) == []
    found = discover(agent_dir=pi_env.agent_dir, project_dir=pi_env.workspace, sandboxed_only=True)
    assert [(s.extension_id, s.origin) for s in found.sources] == [("hello", "sandboxed")]


@pytest.mark.parametrize("link_to", ["extensions", "."])
def test_ext_install_refuses_a_sandboxed_folder_that_leads_into_pis(
        pi_env: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str], link_to: str) -> None:
    (pi_env.agent_dir / "extensions").mkdir()
    os.symlink(link_to, pi_env.agent_dir / "sandboxed-extensions")
    source = write_file(tmp_path / "src" / "hello.ts", SAFE)
    assert main(["ext", "install", str(source)]) == 2
    err = capsys.readouterr().err
    assert "pi's own extensions folder" in err and "without the sandbox" in err and "Traceback" not in err
    assert _tree(pi_env.agent_dir / "extensions") == []


def test_bridge_install_reports_unsandboxed_extensions_and_adopt_moves_them(
        pi_env: Any, capsys: pytest.CaptureFixture[str]) -> None:
    pi_folder = pi_env.agent_dir / "extensions"
    write_file(pi_folder / "solo.ts", SAFE)
    write_file(pi_folder / "multi" / "index.ts", SAFE)
    code, data = _run(capsys, "bridge", "install")
    assert code == 0 and data["changed"] is True
    bridge = Path(data["bridge"])
    assert bridge == pi_folder / "pi-sandbox-bridge.ts" and "__PI_SANDBOX_COMMAND__" not in bridge.read_text()
    assert json.dumps(data["command"]) in bridge.read_text()
    assert sorted(Path(p).name for p in data["unsandboxed"]) == ["multi", "solo.ts"]
    assert _run(capsys, "bridge", "install")[1]["changed"] is False  # idempotent
    # pi-sandbox's own loaders never take the bridge for an extension to sandbox
    found = discover(agent_dir=pi_env.agent_dir, project_dir=pi_env.workspace)
    assert "pi-sandbox-bridge" not in {s.extension_id for s in found.sources}

    code, data = _run(capsys, "bridge", "adopt")
    assert code == 0 and sorted(Path(m["to"]).name for m in data["moved"]) == ["multi", "solo.ts"]
    assert _tree(pi_folder) == ["pi-sandbox-bridge.ts"]
    ours = pi_env.agent_dir / "sandboxed-extensions"
    assert (ours / "solo.ts").read_text() == SAFE and (ours / "multi" / "index.ts").read_text() == SAFE
    found = discover(agent_dir=pi_env.agent_dir, project_dir=pi_env.workspace, sandboxed_only=True)
    assert sorted(s.extension_id for s in found.sources) == ["multi", "solo"]

    code, data = _run(capsys, "bridge", "uninstall")
    assert code == 0 and data["removed"] == str(bridge) and not bridge.exists()
    assert (ours / "solo.ts").exists()  # sandboxed extensions stay
    assert _run(capsys, "bridge", "uninstall")[1]["removed"] is None


def test_adopt_never_overwrites(pi_env: Any, capsys: pytest.CaptureFixture[str]) -> None:
    write_file(pi_env.agent_dir / "extensions" / "solo.ts", SAFE)
    write_file(pi_env.agent_dir / "sandboxed-extensions" / "solo.ts", "// mine\n")
    assert main(["bridge", "adopt"]) == 2
    err = capsys.readouterr().err
    assert "already exists" in err and "bridge adopt` again" in err and "flagged code" not in err  # its own fix
    assert (pi_env.agent_dir / "sandboxed-extensions" / "solo.ts").read_text() == "// mine\n"
    assert (pi_env.agent_dir / "extensions" / "solo.ts").read_text() == SAFE


def test_sandboxed_only_leaves_out_what_pi_loads_itself(pi_env: Any) -> None:
    write_file(pi_env.agent_dir / "extensions" / "pis.ts", SAFE)
    write_file(pi_env.workspace / ".pi" / "extensions" / "projects.ts", SAFE)
    write_file(pi_env.workspace / ".pi" / "sandboxed-extensions" / "boxed.ts", SAFE)
    elsewhere = write_file(pi_env.root / "x" / "listed.ts", SAFE)
    everything = discover(agent_dir=pi_env.agent_dir, project_dir=pi_env.workspace, settings_paths=[elsewhere])
    assert sorted(s.extension_id for s in everything.sources) == ["boxed", "listed", "pis", "projects"]
    bridged = discover(agent_dir=pi_env.agent_dir, project_dir=pi_env.workspace, settings_paths=[elsewhere],
                       sandboxed_only=True)
    assert [(s.extension_id, s.origin) for s in bridged.sources] == [("boxed", "project-sandboxed")]


def test_sandboxed_folder_is_read_only_to_extensions(open_sandbox: Any, make_request: Any, pi_env: Any,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """An extension must not plant code where the bridge would run it, even with the agent dir in the workspace."""
    agent_dir = pi_env.workspace / "agent-home"
    monkeypatch.setenv("PI_CODING_AGENT_DIR", str(agent_dir))
    box = open_sandbox()
    target = agent_dir / "sandboxed-extensions" / "evil.ts"
    target.parent.mkdir(parents=True)
    result = box.hostcall("ext.a", make_request("fs", {"op": "write", "path": str(target), "data": "x"}))
    assert (result.ok, result.reason) == (False, "extension_code") and not target.exists()
    readable = box.hostcall("ext.a", make_request("fs", {"op": "list", "path": str(target.parent)}))
    assert readable.ok


def test_adopt_moves_the_pin_of_an_extension_installed_by_an_older_version(
        pi_env: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from pi_sandbox.scanner.lockfile import load_lockfile, write_lockfile

    assert main(["ext", "install", str(write_file(tmp_path / "src" / "hello.ts", SAFE))]) == 0
    old = pi_env.agent_dir / "extensions" / "hello.ts"  # where versions before the bridge installed it
    old.parent.mkdir()
    (pi_env.agent_dir / "sandboxed-extensions" / "hello.ts").rename(old)
    pins = load_lockfile(pi_env.state_dir)
    write_lockfile(pi_env.state_dir, {"hello": replace(pins["hello"], install_path=str(old))})
    assert main(["bridge", "adopt"]) == 0
    capsys.readouterr()
    code, data = _run(capsys, "ext", "verify", "hello")
    assert code == 0 and data[0]["status"] == "match"
    assert load_lockfile(pi_env.state_dir)["hello"].install_path == str(
        pi_env.agent_dir / "sandboxed-extensions" / "hello.ts")
