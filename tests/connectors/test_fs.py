"""The fs connector through the real pipeline: normal operations and confinement to allowed roots."""

from __future__ import annotations

import base64
import errno
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from pi_sandbox.dispatch import HostcallResult, Sandbox
from pi_sandbox.errors import ConnectorError
from tests.conftest import OpenSandbox, PiEnv

Request = Callable[..., dict[str, Any]]


@pytest.fixture()
def fs(sandbox: Sandbox, make_request: Request) -> Callable[..., HostcallResult]:
    """``fs(op, path, ext="ext.a", **params)`` → one fs hostcall on the default (safe) sandbox."""

    def call(op: str, path: Any, ext: str = "ext.a", **params: Any) -> HostcallResult:
        return sandbox.hostcall(ext, make_request("fs", {"op": op, "path": path, **params}))

    return call


def _assert_confined(box: Sandbox, result: HostcallResult) -> None:
    """Denied by path mediation before any connector runs: one deny entry and a policy_violation alert."""
    assert (result.ok, result.error_code, result.reason) == (False, "denied", "path_outside_roots"), result
    entries = [e for e in box.store.query_ledger() if e.call_id == result.call_id]
    assert [(e.decision, e.reason, e.layer) for e in entries] == [("deny", "path_outside_roots", 4)]
    assert entries[0].detail["stage"] == "mediation"
    alerts = [a for a in box.store.query_alerts(category="policy_violation") if a.call_id == result.call_id]
    assert [a.reason_codes for a in alerts] == [("path_outside_roots",)]


# --- normal operations ----------------------------------------------------------------------------


def test_write_read_stat_list(pi_env: PiEnv, fs: Callable[..., HostcallResult]) -> None:
    assert fs("write", "notes.txt", data="héllo").result == {"bytes_written": 6}
    assert (pi_env.workspace / "notes.txt").read_text() == "héllo"
    assert fs("write", "notes.txt", data=" world", append=True).ok
    assert fs("read", "notes.txt").result == {"content": "héllo world", "encoding": "utf8"}
    stat = fs("stat", "notes.txt").result
    assert (stat["type"], stat["size"]) == ("file", len("héllo world".encode()))
    assert fs("mkdir", "sub").result == {"created": True}
    assert fs("list", ".").result == {"entries": [{"name": "notes.txt", "type": "file"},
                                                  {"name": "sub", "type": "directory"}], "truncated": False}
    assert fs("readdir", str(pi_env.workspace / "sub")).result["entries"] == []
    assert fs("stat", ".").result["type"] == "directory"


@pytest.mark.parametrize("data", ["@@not base64@@", "abc", "YW Jj", 5])
def test_malformed_base64_write_is_refused_and_leaves_the_file_alone(
    pi_env: PiEnv, fs: Callable[..., HostcallResult], data: Any
) -> None:
    """Regression: non-strict decoding turned garbage into b"" and truncated the existing file."""
    (pi_env.workspace / "keep.txt").write_text("precious")
    result = fs("write", "keep.txt", data=data, encoding="base64")
    assert (result.ok, result.error_code) == (False, "invalid_request")
    assert (pi_env.workspace / "keep.txt").read_text() == "precious"


def test_binary_content_round_trips_as_base64(pi_env: PiEnv, fs: Callable[..., HostcallResult]) -> None:
    blob = bytes(range(256))
    assert fs("write", "b.bin", data=base64.b64encode(blob).decode(), encoding="base64").ok
    assert (pi_env.workspace / "b.bin").read_bytes() == blob
    result = fs("read", "b.bin").result
    assert result["encoding"] == "base64" and base64.b64decode(result["content"]) == blob


def test_mkdir_recursive_and_delete(pi_env: PiEnv, fs: Callable[..., HostcallResult]) -> None:
    assert fs("mkdir", "a/b/c", recursive=True).ok
    assert fs("write", "a/b/c/f.txt", data="x").ok
    not_empty = fs("delete", "a")
    assert (not_empty.error_code, not_empty.reason) == ("io", "not_empty")
    assert fs("rm", "a/b/c/f.txt").ok
    assert not (pi_env.workspace / "a/b/c/f.txt").exists()
    assert fs("remove", "a", recursive=True).ok
    assert not (pi_env.workspace / "a").exists()


def test_io_errors_have_reason_codes(fs: Callable[..., HostcallResult]) -> None:
    assert fs("read", "nope.txt").reason == "not_found"
    assert fs("mkdir", "d").ok
    assert fs("mkdir", "d").reason == "exists"
    assert fs("read", "d").reason == "is_a_directory"


@pytest.mark.parametrize("path", ["", None, 5, "bad\x00path"])
def test_bad_paths_are_invalid_requests(fs: Callable[..., HostcallResult], path: Any) -> None:
    assert fs("stat", path).error_code == "invalid_request"


# --- confinement ------------------------------------------------------------------------------------


@pytest.fixture()
def outside(pi_env: PiEnv) -> Path:
    """A directory next to the workspace holding a secret file."""
    out = pi_env.root / "outside"
    out.mkdir()
    (out / "secret.txt").write_text("top secret")
    return out


@pytest.mark.parametrize("op", ["read", "stat", "list", "write", "mkdir", "delete"])
def test_dotdot_escape_is_denied(sandbox: Sandbox, fs: Callable[..., HostcallResult], outside: Path, op: str) -> None:
    result = fs(op, "../outside/secret.txt" if op != "mkdir" else "../outside/newdir", data="pwned")
    _assert_confined(sandbox, result)
    assert (outside / "secret.txt").read_text() == "top secret"
    assert not (outside / "newdir").exists()


def test_absolute_path_outside_is_denied(sandbox: Sandbox, fs: Callable[..., HostcallResult], outside: Path) -> None:
    _assert_confined(sandbox, fs("read", str(outside / "secret.txt")))
    _assert_confined(sandbox, fs("write", str(outside / "new.txt"), data="x"))
    _assert_confined(sandbox, fs("read", "/etc/passwd"))
    _assert_confined(sandbox, fs("list", "~"))
    assert not (outside / "new.txt").exists()


def test_dotdot_that_stays_inside_is_fine(pi_env: PiEnv, fs: Callable[..., HostcallResult]) -> None:
    assert fs("mkdir", "sub").ok
    assert fs("write", "sub/../inside.txt", data="ok").ok
    assert (pi_env.workspace / "inside.txt").read_text() == "ok"


def test_symlinks_pointing_out_are_denied_for_read_and_write(
    pi_env: PiEnv, sandbox: Sandbox, fs: Callable[..., HostcallResult], outside: Path
) -> None:
    (pi_env.workspace / "dirlink").symlink_to(outside, target_is_directory=True)
    (pi_env.workspace / "filelink").symlink_to(outside / "secret.txt")
    (pi_env.workspace / "dangling").symlink_to(outside / "created-through-link.txt")
    _assert_confined(sandbox, fs("read", "dirlink/secret.txt"))
    _assert_confined(sandbox, fs("list", "dirlink"))
    _assert_confined(sandbox, fs("read", "filelink"))
    _assert_confined(sandbox, fs("write", "filelink", data="overwritten"))
    _assert_confined(sandbox, fs("write", "dirlink/new.txt", data="x"))
    _assert_confined(sandbox, fs("write", "dangling", data="x"))
    _assert_confined(sandbox, fs("delete", "dirlink/secret.txt"))
    assert (outside / "secret.txt").read_text() == "top secret"
    assert sorted(p.name for p in outside.iterdir()) == ["secret.txt"]


def test_symlink_inside_the_workspace_is_followed(pi_env: PiEnv, fs: Callable[..., HostcallResult]) -> None:
    (pi_env.workspace / "real.txt").write_text("real")
    (pi_env.workspace / "alias.txt").symlink_to(pi_env.workspace / "real.txt")
    assert fs("read", "alias.txt").result["content"] == "real"


@pytest.mark.parametrize("path", [".", "./", "sub/..", "{ws}"])
def test_deleting_a_root_is_denied(
    pi_env: PiEnv, sandbox: Sandbox, fs: Callable[..., HostcallResult], path: str
) -> None:
    (pi_env.workspace / "sub").mkdir()
    (pi_env.workspace / "keep.txt").write_text("keep")
    _assert_confined(sandbox, fs("delete", path.format(ws=pi_env.workspace), recursive=True))
    assert (pi_env.workspace / "keep.txt").exists()


def test_project_settings_file_is_protected(
    pi_env: PiEnv, open_sandbox: OpenSandbox, make_request: Request
) -> None:
    pi_env.write_project({"extensionPolicy": {"perExtension": {"ext.a": {"deny": ["http"]}}}})
    original = pi_env.project_settings.read_bytes()
    box = open_sandbox()
    for params in ({"op": "write", "path": ".pi/settings.json", "data": "{}"},
                   {"op": "read", "path": ".pi/settings.json"},
                   {"op": "delete", "path": ".pi/settings.json"},
                   {"op": "delete", "path": ".pi", "recursive": True}):
        _assert_confined(box, box.hostcall("ext.a", make_request("fs", params)))
    assert pi_env.project_settings.read_bytes() == original


def test_state_dir_inside_the_workspace_is_protected(
    pi_env: PiEnv, open_sandbox: OpenSandbox, make_request: Request
) -> None:
    state = pi_env.workspace / "var" / "pi-security"
    box = open_sandbox(env={"PI_SECURITY_DIR": str(state)})
    assert (state / "security.db").exists()
    db_before = (state / "security.db").stat().st_size
    for params in ({"op": "read", "path": "var/pi-security/security.db"},
                   {"op": "write", "path": "var/pi-security/security.db", "data": "garbage"},
                   {"op": "list", "path": "var/pi-security"},
                   {"op": "read", "path": "var/pi-security/ledger-signing.key"},
                   {"op": "delete", "path": "var/pi-security", "recursive": True},
                   {"op": "delete", "path": "var", "recursive": True}):
        _assert_confined(box, box.hostcall("ext.a", make_request("fs", params)))
    assert (state / "security.db").stat().st_size >= db_before
    assert (state / "ledger-signing.key").exists()
    # Neighbours of the protected dir stay usable.
    assert box.hostcall("ext.a", make_request("fs", {"op": "write", "path": "var/other.txt", "data": "x"})).ok
    assert box.hostcall("ext.a", make_request("fs", {"op": "delete", "path": "var/other.txt"})).ok


def test_extension_folder_is_a_root_for_that_extension_only(
    pi_env: PiEnv, sandbox: Sandbox, fs: Callable[..., HostcallResult]
) -> None:
    ext_dir = pi_env.root / "extensions" / "ext.a"
    ext_dir.mkdir(parents=True)
    (ext_dir / "data.json").write_text("{}")
    sandbox.register_extension("ext.a", ext_dir)
    assert fs("read", str(ext_dir / "data.json")).result["content"] == "{}"
    assert fs("write", str(ext_dir / "cache.txt"), data="c").ok
    _assert_confined(sandbox, fs("delete", str(ext_dir), recursive=True))
    _assert_confined(sandbox, fs("read", str(ext_dir / "data.json"), ext="ext.b"))
    assert fs("write", "ws.txt", data="w").ok  # relative paths still mean the workspace


def test_tool_calls_share_fs_confinement(
    pi_env: PiEnv, sandbox: Sandbox, make_request: Request, outside: Path
) -> None:
    def tool(name: str, **args: Any) -> HostcallResult:
        return sandbox.hostcall("ext.a", make_request("tool", {"name": name, "input": args}))

    assert tool("write", path="t.txt", content="alpha beta\ngamma").ok
    assert tool("read", path="t.txt").result["content"] == "alpha beta\ngamma"
    assert tool("edit", path="t.txt", oldText="beta", newText="delta").ok
    assert (pi_env.workspace / "t.txt").read_text() == "alpha delta\ngamma"
    assert tool("grep", pattern="gam", path=".").result["matches"] == [{"path": "t.txt", "line": 2, "text": "gamma"}]
    assert tool("find", pattern="*.txt").result["matches"] == [{"path": "t.txt"}]
    assert [e["name"] for e in tool("ls").result["entries"]] == ["t.txt"]
    _assert_confined(sandbox, tool("write", path="../outside/secret.txt", content="x"))
    _assert_confined(sandbox, tool("grep", pattern="secret", path=str(outside)))
    assert (outside / "secret.txt").read_text() == "top secret"


def test_fs_write_needs_write_capability_in_a_read_only_policy(
    pi_env: PiEnv, open_sandbox: OpenSandbox, make_request: Request
) -> None:
    box = open_sandbox(settings={"extensionPolicy": {"perExtension": {"ext.ro": {"deny": ["write"]}}}})
    denied = box.hostcall("ext.ro", make_request("fs", {"op": "write", "path": "x.txt", "data": "x"}))
    assert (denied.error_code, denied.reason) == ("denied", "extension_deny")
    assert not (pi_env.workspace / "x.txt").exists()
    assert box.hostcall("ext.ro", make_request("fs", {"op": "stat", "path": "."})).ok
    assert os.listdir(pi_env.workspace) == []


def test_grep_and_find_do_not_follow_symlinks_out_or_into_protected_state(
    pi_env: PiEnv, open_sandbox: OpenSandbox, make_request: Request, outside: Path
) -> None:
    """Regression: grep over '.' read files outside the roots through symlinks, and read the ledger
    signing key when the state dir lay inside the workspace."""
    state = pi_env.workspace / ".state"
    box = open_sandbox(env={"PI_SECURITY_DIR": str(state)})
    pi_env.write_project({"extensionPolicy": {"profile": "safe"}})
    (pi_env.workspace / "leak.txt").symlink_to(outside / "secret.txt")
    (pi_env.workspace / "leakdir").symlink_to(outside, target_is_directory=True)
    (pi_env.workspace / "ok.txt").write_text("secret-looking but fine")

    def tool(name: str, **args: Any) -> HostcallResult:
        return box.hostcall("ext.a", make_request("tool", {"name": name, "input": args}))

    grep = tool("grep", pattern=".", path=".")
    assert grep.ok
    assert [m["path"] for m in grep.result["matches"]] == ["ok.txt"]
    key_hex = (state / "ledger-signing.key").read_text().strip()
    assert key_hex not in str(grep.result) and "top secret" not in str(grep.result)
    found = tool("find", pattern="*")
    assert [m["path"] for m in found.result["matches"]] == ["ok.txt"]


@pytest.mark.parametrize("exists", [True, False], ids=["existing", "not-yet-created"])
def test_global_settings_named_by_pi_config_path_are_protected(
    pi_env: PiEnv, open_sandbox: OpenSandbox, make_request: Request, exists: bool
) -> None:
    """Regression: a PI_CONFIG_PATH file inside the workspace (global settings, not tighten-only) was
    writable by extensions, so one could switch the next run to permissive + allowDangerous."""
    path = pi_env.workspace / "team-settings.json"
    if exists:
        path.write_text('{"extensionPolicy": {"profile": "safe"}}')
    box = open_sandbox(env={"PI_CONFIG_PATH": str(path)})
    evil = '{"extensionPolicy": {"profile": "permissive", "allowDangerous": true}}'
    _assert_confined(box, box.hostcall("ext.a", make_request("fs", {"op": "write", "path": path.name, "data": evil})))
    _assert_confined(box, box.hostcall("ext.a", make_request("tool", {"name": "write", "input": {
        "path": path.name, "content": evil}})))
    if exists:
        _assert_confined(box, box.hostcall("ext.a", make_request("fs", {"op": "delete", "path": path.name})))
        assert path.read_text() == '{"extensionPolicy": {"profile": "safe"}}'
    else:
        assert not path.exists()


def test_named_pipe_in_the_workspace_never_blocks_read_or_grep(
    pi_env: PiEnv, sandbox: Sandbox, make_request: Request
) -> None:
    """Regression: fs read and the grep tool opened a FIFO for reading and blocked the host forever."""
    from tests.scanner.test_findings import _finishes

    os.mkfifo(pi_env.workspace / "pipe.txt")
    (pi_env.workspace / "notes.txt").write_text("needle\n")
    results: list[HostcallResult] = []
    assert _finishes(lambda: results.append(sandbox.hostcall("ext.a", make_request(
        "fs", {"op": "read", "path": "pipe.txt"})))), "fs read blocked on a named pipe"
    assert (results[0].ok, results[0].error_code, results[0].reason) == (False, "denied", "special_file")
    assert _finishes(lambda: results.append(sandbox.hostcall("ext.a", make_request(
        "tool", {"name": "grep", "input": {"pattern": "needle", "path": "."}})))), "grep blocked on a named pipe"
    assert results[1].result["matches"] == [{"path": "notes.txt", "line": 1, "text": "needle"}]
    # Writing blocks the same way (open for writing waits for a reader): refused before any open.
    for request in (("fs", {"op": "write", "path": "pipe.txt", "data": "x"}),
                    ("tool", {"name": "write", "input": {"path": "pipe.txt", "content": "x"}}),
                    ("fs", {"op": "write", "path": "pipe.txt", "data": "x", "append": True})):
        assert _finishes(lambda r=request: results.append(sandbox.hostcall("ext.a", make_request(*r)))), request
        assert (results[-1].ok, results[-1].error_code, results[-1].reason) == (False, "denied", "special_file")
    entries = [e for e in sandbox.store.query_ledger(extension_id="ext.a", limit=50) if e.reason == "special_file"]
    assert [e.detail["stage"] for e in entries] == ["mediation"] * 4


def test_connector_refuses_special_files_even_past_mediation(tmp_path: Path) -> None:
    """Backstop: a path that became a FIFO after the mediation stage looked is still never opened blocking."""
    from pi_sandbox.connectors.fs import open_regular

    fifo = tmp_path / "late.fifo"
    os.mkfifo(fifo)
    for flags in (os.O_RDONLY, os.O_WRONLY, os.O_WRONLY | os.O_APPEND):
        try:
            open_regular(fifo, flags)
        except ConnectorError as exc:
            assert (exc.code, exc.reason) == ("denied", "special_file")
        except OSError as exc:  # no reader: a non-blocking write open fails with ENXIO instead of waiting
            assert exc.errno == errno.ENXIO and flags != os.O_RDONLY
        else:
            raise AssertionError(f"opened a FIFO with flags {flags}")


def test_reads_and_writes_are_capped(pi_env: PiEnv, open_sandbox: Callable[..., Sandbox],
                                     make_request: Request) -> None:
    box = open_sandbox(settings={"extensionRuntime": {"maxFsIoBytes": 1024}})
    ok = box.hostcall("ext.a", make_request("fs", {"op": "write", "path": "small.txt", "data": "x" * 1024}))
    assert ok.ok and ok.result == {"bytes_written": 1024}
    big = box.hostcall("ext.a", make_request("fs", {"op": "write", "path": "big.txt", "data": "é" * 600}))
    assert (big.ok, big.error_code, big.reason) == (False, "io", "too_large")  # 1200 bytes in 600 characters
    assert not (pi_env.workspace / "big.txt").exists()
    (pi_env.workspace / "large.txt").write_bytes(b"y" * 1025)
    read = box.hostcall("ext.a", make_request("fs", {"op": "read", "path": "large.txt"}))
    assert (read.ok, read.error_code, read.reason) == (False, "io", "too_large")
    assert box.hostcall("ext.a", make_request("fs", {"op": "read", "path": "small.txt"})).ok


def test_unknown_user_home_in_a_path_is_invalid_request(fs: Callable[..., HostcallResult]) -> None:
    """Regression: expanduser raised RuntimeError inside the connector (an 'internal' crash)."""
    result = fs("stat", "~nosuchuser-pi-test/x")
    assert (result.ok, result.error_code) == (False, "invalid_request")
