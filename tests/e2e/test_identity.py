"""Issue 9, item 3, end to end: identity and integrity with real hostile extensions in real workers.

* a cloned repository's project extension named after the user's installed extension (in every folder a
  project can use, and spelled with other letter case) is refused; the installed extension keeps its id
  and its grant;
* an installed extension whose code changed after install is refused at load (``integrity_mismatch``,
  alert category ``integrity``) and quarantined (``quarantineAfterIntegrityFailures``);
* an installed extension cannot rewrite its own code: not through fs, not through exec children
  (sh, python3, node:child_process), not through a symlink or a ``..`` spelling; the code is unchanged
  and the next load still verifies;
* the ledger verifies after each attack.

Everything hostile targets the test's own temp folders.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from pi_sandbox.cli.main import main
from pi_sandbox.identity import SourceKind
from pi_sandbox.runtime.host import ExtensionHost, LoadedExtension
from pi_sandbox.runtime.loading import discover_and_load
from pi_sandbox.trust.verify import verify_ledger_and_trust
from tests.conftest import PiEnv
from tests.runtime.conftest import MakeHost, promote_to_trusted

HERE = Path(__file__).resolve().parent / "identity"
SESSION_ADMIN = {"extensionPolicy": {"perExtension": {"formatter": {"allow": ["session_admin"]}}}}


def _text(result: dict[str, Any]) -> str:
    return str(result["content"][0]["text"])


def _install(pi_env: PiEnv, name: str, *, folder: str | None = None) -> Path:
    """Install a fixture with `pi-sandbox ext install` (a folder extension when ``folder`` names one)."""
    src = pi_env.root / "src"
    if folder is None:
        src.mkdir(exist_ok=True)
        target = src / f"{name}.ts"
        shutil.copy(HERE / f"{name}.ts", target)
    else:
        target = src / folder
        target.mkdir(parents=True)
        shutil.copy(HERE / f"{name}.ts", target / "index.ts")
        (target / "package.json").write_text(json.dumps({"name": folder, "pi": {"extensions": ["./index.ts"]}}))
    assert main(["ext", "install", str(target), "--force", "--reason", "test fixture"]) == 0
    return pi_env.agent_dir / "sandboxed-extensions" / (folder or f"{name}.ts")


def _verified(pi_env: PiEnv) -> None:
    report = verify_ledger_and_trust(pi_env.state_dir)
    assert report.chain_valid and not report.verification_errors and report.entry_count > 0, report


def _plant_thieves(pi_env: PiEnv) -> list[Path]:
    """A cloned repository's extensions, named after the installed 'formatter' in every spelling."""
    thief = (HERE / "id_thief.ts").read_text()
    pi_dir = pi_env.workspace / ".pi"
    planted = [pi_dir / "extensions" / "formatter.ts", pi_dir / "sandboxed-extensions" / "Formatter.ts"]
    for path in planted:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(thief)
    package = pi_dir / "extensions" / "fmt-pkg"
    package.mkdir()
    (package / "index.ts").write_text(thief)
    (package / "package.json").write_text(json.dumps({"name": "FORMATTER", "pi": {"extensions": ["./index.ts"]}}))
    return [*planted, package / "index.ts"]


def test_project_extension_cannot_take_over_an_installed_id(pi_env: PiEnv, make_host: MakeHost) -> None:
    pi_env.write_global(SESSION_ADMIN)
    _install(pi_env, "formatter")
    planted = _plant_thieves(pi_env)
    host = make_host()
    report = discover_and_load(host)
    installed = host.get("formatter")
    assert installed.status == "loaded" and installed.identity is not None
    assert installed.identity.kind is SourceKind.INSTALLED
    refused = [e for e in report.extensions if e.error_code == "identity_conflict"]
    assert sorted(e.source.entry for e in refused) == sorted(p.resolve() for p in planted)
    for ext in refused:
        assert ext.status == "failed" and ext.worker is None
        assert "held by the user's installed extension 'formatter'" in str(ext.error)
    # The installed extension kept its id and its grant; nothing of the thief runs under it.
    assert _text(host.call_tool("formatter", "whoami", {})) == "installed formatter"
    assert _text(host.call_tool("formatter", "rename", {"name": "mine"})) == "renamed mine"
    assert all(e.extension_id != "formatter" or e is installed for e in host.extensions())
    _assert_conflicts_recorded(host, len(planted))
    _verified(pi_env)


def _assert_conflicts_recorded(host: ExtensionHost, count: int) -> None:
    store = host.sandbox.store
    alerts = [a for a in store.query_alerts() if "identity_conflict" in a.reason_codes]
    assert len(alerts) == count and {a.category for a in alerts} == {"integrity"}
    entries = [e for e in store.query_ledger(kind="runtime") if e.reason == "identity_conflict"]
    assert len(entries) == count and {e.decision for e in entries} == {"deny"}
    assert {e.detail["identity"]["source"] for e in entries} == {"project"}


def test_a_global_extension_id_is_held_too(pi_env: PiEnv, make_host: MakeHost) -> None:
    """pi's own user folder (~/.pi/agent/extensions) holds its ids against the project as well, whatever the
    order the folders are scanned in (the project's sandboxed folder comes first)."""
    mine = pi_env.agent_dir / "extensions" / "formatter.ts"
    mine.parent.mkdir(parents=True)
    shutil.copy(HERE / "formatter.ts", mine)
    thief = pi_env.workspace / ".pi" / "sandboxed-extensions" / "formatter.ts"
    thief.parent.mkdir(parents=True)
    shutil.copy(HERE / "id_thief.ts", thief)
    host = make_host(sandbox_kwargs={"settings": SESSION_ADMIN})
    report = discover_and_load(host)
    assert host.get("formatter").identity.kind is SourceKind.GLOBAL  # type: ignore[union-attr]
    assert _text(host.call_tool("formatter", "whoami", {})) == "installed formatter"
    [refused] = [e for e in report.extensions if e.error_code == "identity_conflict"]
    assert refused.source.entry == thief.resolve() and "global extension" in str(refused.error)
    _verified(pi_env)


def test_an_id_pinned_in_the_lockfile_is_held_while_its_files_are_missing(pi_env: PiEnv, make_host: MakeHost) -> None:
    installed = _install(pi_env, "formatter")
    installed.unlink()
    thief = pi_env.workspace / ".pi" / "extensions" / "formatter.ts"
    thief.parent.mkdir(parents=True)
    shutil.copy(HERE / "id_thief.ts", thief)
    host = make_host(sandbox_kwargs={"settings": SESSION_ADMIN})
    report = discover_and_load(host)
    [refused] = report.extensions
    assert refused.error_code == "identity_conflict" and "installed" in str(refused.error)
    _verified(pi_env)


def test_tampered_installed_code_is_refused_at_load_and_quarantined(pi_env: PiEnv, make_host: MakeHost) -> None:
    installed = _install(pi_env, "self_rewriter", folder="self-rewriter")
    host = make_host()
    [ext] = discover_and_load(host).extensions
    assert ext.status == "loaded" and _text(host.call_tool("self-rewriter", "version", {})) == "original"
    host.shutdown(notify=False)
    code = installed / "index.ts"
    code.write_text(code.read_text().replace('text("original")', 'text("tampered")'))
    again = make_host()
    [ext] = discover_and_load(again).extensions
    assert ext.status == "failed" and ext.error_code == "integrity_mismatch", ext.error
    assert "the extension's own files" in str(ext.error) and ext.worker is None
    store = again.sandbox.store
    [alert] = [a for a in store.query_alerts() if "integrity_mismatch" in a.reason_codes]
    assert alert.category == "integrity" and alert.extension_id == "self-rewriter"
    # quarantineAfterIntegrityFailures (default 1): the failure moved it to quarantine.
    assert again.sandbox.controls.registry.state("self-rewriter") == "quarantined"
    _verified(pi_env)


@pytest.fixture()
def rewriter(pi_env: PiEnv, make_host: MakeHost) -> tuple[ExtensionHost, LoadedExtension, Path]:
    settings = {"extensionPolicy": {"profile": "permissive", "allowDangerous": True,
                                    "execMediation": {"enabled": False}}}
    pi_env.write_global(settings)
    installed = _install(pi_env, "self_rewriter", folder="self-rewriter")
    host = make_host()
    [ext] = discover_and_load(host).extensions
    assert ext.status == "loaded", ext.error
    promote_to_trusted(host, "self-rewriter")  # exec without a prompt: the sandbox, not policy, must hold
    return host, ext, installed


def _rewrite(host: ExtensionHost, **params: Any) -> str:
    return _text(host.call_tool("self-rewriter", "rewrite", params))


def test_installed_extension_cannot_rewrite_its_own_code(
    rewriter: tuple[ExtensionHost, LoadedExtension, Path], pi_env: PiEnv, make_host: MakeHost
) -> None:
    host, _ext, installed = rewriter
    code = installed / "index.ts"
    before = code.read_bytes()
    # A symlink in the workspace to the installed code, and a `..` spelling from the workspace.
    (pi_env.workspace / "link").symlink_to(installed)
    dotdot = f"{pi_env.workspace}/../agent/sandboxed-extensions/self-rewriter/index.ts"
    evil = "export default function (pi: any) { pi.registerTool({ name: 'version', execute: async () => " \
           "({ content: [{ type: 'text', text: 'pwned' }] }) }); }\n"
    for path in (str(code), str(pi_env.workspace / "link" / "index.ts"), dotdot):
        for via in ("fs_write", "fs_append"):
            assert _rewrite(host, via=via, path=path, data=evil).startswith("refused"), (via, path)
    assert _rewrite(host, via="fs_delete", path=str(code)).startswith("refused")
    assert _rewrite(host, via="fs_delete", path=str(installed)).startswith("refused")
    assert _rewrite(host, via="fs_mkdir", path=str(installed / "planted")).startswith("refused")
    lines = {
        "sh": f"printf pwned > '{code}'; echo x >> '{code}'; rm -f '{code}'; ln -sf /dev/null '{code}'",
        "python3": f"open({str(code)!r}, 'w').write('pwned')",
        "child": f"cp /etc/hostname '{code}'; mv '{code}' '{code}.bak'",
    }
    for via, line in lines.items():
        out = json.loads(_rewrite(host, via=via, line=line))
        assert out["code"] != 0, (via, out)
        assert "Read-only file system" in out["out"] or "Permission denied" in out["out"], (via, out)
    # Through the workspace symlink and a `..` path inside the child too.
    out = json.loads(_rewrite(host, via="sh", line=f"echo pwned > '{pi_env.workspace}/link/index.ts'"))
    assert out["code"] != 0, out
    assert code.read_bytes() == before
    assert sorted(p.name for p in installed.iterdir()) == ["index.ts", "package.json"]
    # Every fs attempt is a recorded denial (deleting the root itself is refused as a root, the rest as code).
    denied = [e.reason for e in host.sandbox.store.query_ledger(extension_id="self-rewriter") if e.decision == "deny"]
    assert len(denied) == 9 and denied.count("extension_code") >= 8, denied
    host.shutdown(notify=False)
    # The next load still verifies against the pin and runs the original code.
    again = make_host()
    [ext] = discover_and_load(again).extensions
    assert ext.status == "loaded", ext.error
    assert _text(again.call_tool("self-rewriter", "version", {})) == "original"
    _verified(pi_env)


class _AlwaysAllow:
    def __init__(self) -> None:
        self.asked: list[Any] = []

    def ask(self, request: Any) -> Any:
        from pi_sandbox.policy import PromptAnswer

        self.asked.append(request)
        return PromptAnswer(True, "always")


def test_remembered_decisions_and_trust_never_move_to_a_project_extension(pi_env: PiEnv,
                                                                          make_host: MakeHost) -> None:
    """The user answered "always" for their installed formatter and promoted it to trusted. A cloned repo's
    formatter is refused while the installed one exists; once it is uninstalled, the project's extension
    loads under the id as a different identity: asked again (headless: denied), in probation, not trusted."""
    pi_env.write_global({"extensionPolicy": {"profile": "balanced"}})
    _install(pi_env, "formatter")
    prompter = _AlwaysAllow()
    host = make_host(sandbox_kwargs={"prompter": prompter})
    discover_and_load(host)
    assert _text(host.call_tool("formatter", "rename", {"name": "mine"})) == "renamed mine"
    assert len(prompter.asked) == 1 and prompter.asked[0].identity.kind is SourceKind.INSTALLED
    promote_to_trusted(host, "formatter")
    host.shutdown(notify=False)
    _plant_thieves(pi_env)
    # While installed: refused; the installed one keeps its remembered answer (no prompter: still allowed).
    host = make_host()
    report = discover_and_load(host)
    assert sum(e.error_code == "identity_conflict" for e in report.extensions) == 3
    assert _text(host.call_tool("formatter", "rename", {"name": "again"})) == "renamed again"
    assert host.get("formatter").trust == "trusted"
    host.shutdown(notify=False)
    assert main(["ext", "uninstall", "formatter"]) == 0
    for extra in (pi_env.workspace / ".pi" / "sandboxed-extensions" / "Formatter.ts",
                  pi_env.workspace / ".pi" / "extensions" / "fmt-pkg"):
        shutil.rmtree(extra) if extra.is_dir() else extra.unlink()
    host = make_host()
    [thief] = discover_and_load(host).extensions
    assert thief.status == "loaded" and thief.identity is not None and thief.identity.kind is SourceKind.PROJECT
    assert thief.trust == "probation"  # trusted code from the installed source vouches for nothing here
    assert _text(host.call_tool("formatter", "rename", {})).startswith("error")
    [decision] = list(host.sandbox.prompts.store)
    assert decision.source == "installed"  # the installed extension's answer is still its own
    _verified(pi_env)


def test_settings_grants_for_an_id_do_not_reach_a_project_extension_of_that_id(pi_env: PiEnv,
                                                                               make_host: MakeHost) -> None:
    """With no holder on this machine (settings synced from another, or the extension uninstalled), a
    project's formatter loads — but the session_admin the user granted 'formatter' is not for project code,
    unless the entry says so (``sources``)."""
    thief = pi_env.workspace / ".pi" / "extensions" / "formatter.ts"
    thief.parent.mkdir(parents=True)
    shutil.copy(HERE / "id_thief.ts", thief)
    host = make_host(sandbox_kwargs={"settings": SESSION_ADMIN})
    [ext] = discover_and_load(host).extensions
    assert ext.status == "loaded" and ext.identity is not None and ext.identity.kind is SourceKind.PROJECT
    renamed = _text(host.call_tool("formatter", "rename", {}))
    assert renamed.startswith("error") and "session_admin" in renamed
    host.shutdown(notify=False)
    opted_in = {"extensionPolicy": {"perExtension": {"formatter": {"allow": ["session_admin"],
                                                                   "sources": ["project"]}}}}
    host = make_host(sandbox_kwargs={"settings": opted_in})
    discover_and_load(host)
    assert _text(host.call_tool("formatter", "rename", {})) == "renamed stolen"
    _verified(pi_env)


def test_ext_check_reports_what_a_load_would_refuse_for_identity_and_controls(
        pi_env: PiEnv, capsys: pytest.CaptureFixture[str]) -> None:
    """`ext check` takes the loader's path: an id another extension holds, a quarantine or a kill switch make it
    say WOULD NOT LOAD with the loader's reason (before, it said ok and the load then refused)."""
    installed = _install(pi_env, "formatter")
    thief = pi_env.workspace / ".pi" / "extensions" / "formatter.ts"
    thief.parent.mkdir(parents=True)
    shutil.copy(HERE / "id_thief.ts", thief)
    capsys.readouterr()

    def check(path: Path) -> tuple[int, dict[str, Any]]:
        code = main(["ext", "check", str(path), "--json"])
        [report] = json.loads(capsys.readouterr().out)["extensions"]
        return code, report

    code, report = check(thief)
    assert code == 1 and report["reason"] == "identity_conflict" and not report["ok"]
    assert "'formatter'" in report["error"] and "other code may not load under it" in report["error"]
    code, report = check(installed)
    assert code == 0 and report["ok"], report  # the holder itself is fine
    assert main(["ext", "trust", "quarantine", "--extension", "formatter", "--reason", "incident 7"]) == 0
    capsys.readouterr()
    code, report = check(installed)
    assert code == 1 and report["reason"] == "quarantined" and "pi-sandbox ext trust history" in report["error"]
    assert main(["ext", "trust", "promote", "--extension", "formatter", "--to", "probation",
                 "--reason", "reviewed"]) == 0
    assert main(["security", "kill-switch", "on", "--reason", "stop everything"]) == 0
    capsys.readouterr()
    code, report = check(installed)
    assert code == 1 and report["reason"] == "kill_switch" and "kill-switch off" in report["error"]
    assert main(["security", "kill-switch", "off", "--reason", "over"]) == 0
    capsys.readouterr()
    assert check(installed)[0] == 0
