"""`pi-sandbox ext install` with npm dependencies: from a folder (with and without a lockfile), an npm spec and
a git URL; dependencies scanned and pinned, install scripts never run, changes caught at load."""

from __future__ import annotations

import dataclasses
import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from pi_sandbox.audit import AuditStore
from pi_sandbox.cli.main import main
from pi_sandbox.config import resolve_config
from pi_sandbox.runtime.discovery import resolve_path
from pi_sandbox.trust.operations import promote
from pi_sandbox.trust.states import TrustState
from tests.conftest import PiEnv
from tests.npm_registry import NPM, LocalRegistry, write_package
from tests.runtime.conftest import MakeHost

pytestmark = pytest.mark.skipif(NPM is None, reason="npm is not installed (pi-sandbox setup needs it)")

EXT = """
import { a } from "dep-a";
import { Type } from "@sinclair/typebox";
export default function (pi: any) {
  pi.registerTool({ name: "answer", label: "answer", description: "d", parameters: Type.Object({}),
    async execute() { return { content: [{ type: "text", text: a() }], details: {} }; } });
}
"""


@pytest.fixture()
def registry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pi_env: PiEnv) -> Iterator[LocalRegistry]:
    reg = LocalRegistry(tmp_path / "npm-home")
    src = tmp_path / "pkgs"
    canary = tmp_path / "install-script-ran"
    script = f"node -e \"require('fs').writeFileSync('{canary}','x')\""
    write_package(src / "dep-b", {"name": "dep-b", "version": "1.0.0", "main": "index.js",
                                  "scripts": {"postinstall": script, "install": script}},
                  {"index.js": "module.exports = { b: () => 'B' };\n"})
    write_package(src / "dep-a", {"name": "dep-a", "version": "1.0.0", "type": "module", "main": "index.js",
                                  "dependencies": {"dep-b": "1.0.0"}},
                  {"index.js": "import depB from 'dep-b';\nexport const a = () => 'A' + depB.b();\n"})
    # A stand-in for the served TypeBox whose code would be a forbidden finding if it were scanned.
    write_package(src / "typebox", {"name": "@sinclair/typebox", "version": "0.34.0", "main": "index.js"},
                  {"index.js": "module.exports = new Function('return 1');\n"})
    write_package(src / "bad-dep", {"name": "bad-dep", "version": "1.0.0", "main": "index.js"},
                  {"index.js": "module.exports = () => eval(atob('cHJvY2Vzcy5leGl0KCk='));\n"})
    for name in ("dep-b", "dep-a", "typebox", "bad-dep"):
        reg.publish(src / name)
    env = reg.npm_env()
    for key in ("npm_config_registry", "npm_config_cache", "npm_config_update_notifier"):
        monkeypatch.setenv(key, env[key])
    yield reg
    reg.close()
    assert not canary.exists(), "an install script ran"


def _extension(folder: Path, deps: dict[str, str], name: str = "deps-ext") -> Path:
    return write_package(folder, {"name": name, "version": "1.0.0", "pi": {"extensions": ["./index.ts"]},
                                  "dependencies": deps}, {"index.ts": EXT})


def _lock(pi_env: PiEnv) -> dict:  # type: ignore[type-arg]
    return json.loads((pi_env.state_dir / "extensions.lock.json").read_text())["extensions"]


def _load(make_host: MakeHost, folder: Path):  # type: ignore[no-untyped-def]
    found, error = resolve_path(folder, folder)
    assert error is None
    host = make_host()
    [ext] = host.load([dataclasses.replace(s, origin="cli") for s in found])
    return host, ext


@pytest.mark.parametrize("with_lockfile", [True, False])
def test_folder_install_installs_scans_and_pins_dependencies(
    registry: LocalRegistry, pi_env: PiEnv, tmp_path: Path, make_host: MakeHost, with_lockfile: bool
) -> None:
    src = _extension(tmp_path / "src", {"dep-a": "1.0.0", "@sinclair/typebox": "0.34.0"})
    if with_lockfile:
        registry.npm("install", "--package-lock-only", cwd=src)
        assert (src / "package-lock.json").is_file()
    assert main(["ext", "install", str(src), "--json"]) == 0
    dest = pi_env.agent_dir / "sandboxed-extensions" / "deps-ext"
    assert (dest / "node_modules" / "dep-a" / "index.js").is_file()
    assert (dest / "node_modules" / "dep-b" / "index.js").is_file()
    entry = _lock(pi_env)["deps-ext"]
    assert entry["verdict"] != "fail"  # the TypeBox stand-in was not scanned as the extension's code
    files = entry["dependency_files"]
    assert {"node_modules/dep-a/index.js", "node_modules/dep-b/index.js",
            "node_modules/dep-b/package.json"} <= set(files)
    assert not any("typebox" in k for k in files)  # served: never bundled, so never the extension's
    _host, ext = _load(make_host, dest)
    assert ext.status == "loaded", ext.error
    assert _host.call_tool(ext.extension_id, "answer", {})["content"][0]["text"] == "AB"


def test_dependency_with_forbidden_code_blocks_the_install(
    registry: LocalRegistry, pi_env: PiEnv, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = _extension(tmp_path / "src", {"dep-a": "1.0.0", "bad-dep": "1.0.0"})
    assert main(["ext", "install", str(src), "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["decision"] == "blocked"
    findings = [(f["file"], f["rule"]) for fr in report["report"]["files"] for f in fr["findings"]]
    assert ("node_modules/bad-dep/index.js", "EVAL") in findings
    assert not (pi_env.agent_dir / "sandboxed-extensions" / "deps-ext").exists()


def test_changed_dependency_file_is_caught_at_load(
    registry: LocalRegistry, pi_env: PiEnv, tmp_path: Path, make_host: MakeHost
) -> None:
    src = _extension(tmp_path / "src", {"dep-a": "1.0.0"})
    assert main(["ext", "install", str(src)]) == 0
    dest = pi_env.agent_dir / "sandboxed-extensions" / "deps-ext"
    target = dest / "node_modules" / "dep-b" / "index.js"
    target.write_text("module.exports = { b: () => 'PWNED' };\n")
    _host, ext = _load(make_host, dest)
    assert ext.status == "failed" and ext.error_code == "integrity_mismatch", ext.error
    assert "node_modules/dep-b/index.js" in str(ext.error) and "pi-sandbox ext install" in str(ext.error)
    with AuditStore.open(pi_env.state_dir) as store:
        [alert] = [a for a in store.query_alerts() if a.category == "integrity"]
        assert alert.extension_id == ext.extension_id and "integrity_mismatch" in alert.reason_codes
    # An added file in a dependency is a change too.
    target.write_text("module.exports = { b: () => 'B' };\n")
    (dest / "node_modules" / "dep-b" / "extra.js").write_text("module.exports = 1;\n")
    _host, again = _load(make_host, dest)
    assert again.error_code == "integrity_mismatch" and "added" in str(again.error)


def test_npm_spec_install(registry: LocalRegistry, pi_env: PiEnv, tmp_path: Path, make_host: MakeHost) -> None:
    registry.publish(_extension(tmp_path / "published", {"dep-a": "1.0.0"}, name="@acme/npm-ext"))
    assert main(["ext", "install", "npm:@acme/npm-ext@1.0.0"]) == 0
    dest = pi_env.agent_dir / "sandboxed-extensions" / "acme-npm-ext"
    _host, ext = _load(make_host, dest)
    assert ext.status == "loaded", ext.error
    assert _lock(pi_env)["acme-npm-ext"]["dependency_files"]


def test_git_url_install(registry: LocalRegistry, pi_env: PiEnv, tmp_path: Path, make_host: MakeHost) -> None:
    git = shutil.which("git")
    if git is None:
        pytest.skip("git is not installed")
    repo = _extension(tmp_path / "gitext", {"dep-a": "1.0.0"}, name="git-ext")
    run = {"cwd": repo, "check": True, "capture_output": True}
    subprocess.run([git, "init", "-q", "-b", "main"], **run)  # type: ignore[call-overload]
    subprocess.run([git, "-c", "user.email=t@t", "-c", "user.name=t", "add", "."], **run)  # type: ignore[call-overload]
    subprocess.run([git, "-c", "user.email=t@t", "-c", "user.name=t", "commit", "-qm", "x"], **run)  # type: ignore[call-overload]
    assert main(["ext", "install", f"git:file://{repo}#main"]) == 0
    _host, ext = _load(make_host, pi_env.agent_dir / "sandboxed-extensions" / "git-ext")
    assert ext.status == "loaded", ext.error


def test_missing_dependencies_are_named_with_the_command(
    pi_env: PiEnv, tmp_path: Path, make_host: MakeHost, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = _extension(pi_env.workspace / ".pi" / "extensions" / "needs", {"dep-a": "1.0.0", "zod": "^3"})
    (folder / "package-lock.json").write_text("{}")
    _host, ext = _load(make_host, folder)
    assert ext.status == "failed" and ext.error_code == "dependency_missing", ext.error
    assert "'dep-a'" in str(ext.error) and "zod" in str(ext.error)
    assert f"cd {folder.resolve()} && npm ci --omit=dev --ignore-scripts" in str(ext.error)
    assert main(["ext", "check", str(folder), "--json"]) == 1
    [report] = json.loads(capsys.readouterr().out)["extensions"]
    assert report["reason"] == "dependency_missing" and "npm ci" in report["error"]
    assert any("'zod'" in n for n in report["notes"])


def test_in_place_node_modules_are_used(tmp_path: Path, pi_env: PiEnv, make_host: MakeHost) -> None:
    folder = _extension(pi_env.agent_dir / "sandboxed-extensions" / "inplace", {"dep-a": "1.0.0"})
    write_package(folder / "node_modules" / "dep-a", {"name": "dep-a", "version": "1.0.0", "main": "i.js",
                                                      "dependencies": {"dep-b": "1"}},
                  {"i.js": "const b = require('dep-b');\nexports.a = () => 'in-place' + b.b();\n"})
    write_package(folder / "node_modules" / "dep-b", {"name": "dep-b", "version": "1.0.0"},
                  {"index.js": "exports.b = () => '!';\n"})
    host, ext = _load(make_host, folder)
    assert ext.status == "loaded", ext.error
    assert host.call_tool(ext.extension_id, "answer", {})["content"][0]["text"] == "in-place!"


def test_optional_native_addon_loads_and_is_named(
    tmp_path: Path, pi_env: PiEnv, make_host: MakeHost, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = _extension(tmp_path / "native", {"dep-a": "1.0.0"})
    write_package(folder / "node_modules" / "dep-a", {"name": "dep-a", "version": "1.0.0", "main": "i.js"}, {
        "i.js": """
        let fast = null;
        try { fast = require('./build/Release/fast.node'); } catch (e) { fast = null; }
        exports.a = () => (fast ? 'native' : 'js-fallback');
        """,
    })
    (folder / "node_modules" / "dep-a" / "build" / "Release").mkdir(parents=True)
    (folder / "node_modules" / "dep-a" / "build" / "Release" / "fast.node").write_bytes(b"\x7fELF")
    host, ext = _load(make_host, folder)
    assert ext.status == "loaded", ext.error
    assert host.call_tool(ext.extension_id, "answer", {})["content"][0]["text"] == "js-fallback"
    assert main(["ext", "check", str(folder), "--json"]) == 0
    [report] = json.loads(capsys.readouterr().out)["extensions"]
    assert any("'dep-a'" in n and "build/Release/fast.node" in n for n in report["notes"])


def test_scan_of_a_remote_spec_is_a_usage_error(pi_env: PiEnv) -> None:
    assert main(["ext", "scan", "npm:left-pad"]) == 2
    assert main(["ext", "install", "npm:"]) == 2
    assert resolve_config(cwd=pi_env.workspace).agent_dir == pi_env.agent_dir


def test_changed_dependency_of_an_in_place_extension_is_changed_code_for_trust(
    pi_env: PiEnv, make_host: MakeHost
) -> None:
    """Not pinned (found in place): the trust lifecycle judges it by its bundle, which holds its dependencies,
    so a changed dependency file sends a trusted extension back to probation like changed own code."""
    folder = _extension(pi_env.agent_dir / "sandboxed-extensions" / "inplace", {"dep-a": "1.0.0"})
    dep = write_package(folder / "node_modules" / "dep-a", {"name": "dep-a", "version": "1.0.0", "main": "i.js"},
                        {"i.js": "exports.a = () => 'v1';\n"})
    host, ext = _load(make_host, folder)
    assert ext.status == "loaded" and ext.trust == TrustState.PROBATION, ext.error
    config = resolve_config(cwd=pi_env.workspace)
    promote(config.state_dir, config.trust, ext.extension_id, TrustState.TRUSTED, "reviewed")
    host.shutdown(notify=False)
    host, same = _load(make_host, folder)
    assert same.trust == TrustState.TRUSTED
    host.shutdown(notify=False)
    (dep / "i.js").write_text("exports.a = () => 'v2';\n")
    _host, changed = _load(make_host, folder)
    assert changed.status == "loaded" and changed.trust == TrustState.PROBATION
