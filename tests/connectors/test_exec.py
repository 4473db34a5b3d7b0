"""The exec connector: real subprocesses, confined cwd, process-group kill, caps, broker env, redaction."""

from __future__ import annotations

import base64
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from pi_sandbox.audit import AuditStore
from pi_sandbox.audit.port import StoreEvidence
from pi_sandbox.capabilities import Capability
from pi_sandbox.connectors.base import ConnectorContext
from pi_sandbox.connectors.exec import ExecConnector, parse_exec_params
from pi_sandbox.errors import ConnectorError, PathConfinementError
from pi_sandbox.mediation.paths import PathRules
from pi_sandbox.mediation.secret_broker import SecretBroker
from pi_sandbox.sandbox.launch import ExecSandbox
from tests.conftest import MakeConfig, OpenSandbox, PiEnv

SECRET = "ghp_" + "Q7wErTy9UiOp3AsDfGh2JkLzXcVbNm45tYuI"
PY = sys.executable

MakeCtx = Callable[..., tuple[ExecConnector, ConnectorContext]]


@pytest.fixture()
def exec_ctx(make_config: MakeConfig, pi_env: PiEnv) -> Iterator[MakeCtx]:
    stores: list[AuditStore] = []

    def build(max_output_bytes: int = 1024 * 1024, call_id: str = "c1") -> tuple[ExecConnector, ConnectorContext]:
        config = make_config(
            env={
                "GITHUB_TOKEN": SECRET,
                "LD_PRELOAD": "/nonexistent/evil.so",
                "NODE_OPTIONS": "--require /nonexistent.js",
                "PLAIN_PARENT_VAR": "visible?",
            }
        )
        store = AuditStore.open(config.state_dir)
        stores.append(store)
        broker = SecretBroker(config.secret_broker, config.environ)
        ctx = ConnectorContext("ext", call_id, "exec", Capability.EXEC, PathRules((pi_env.workspace,)), config,
                               StoreEvidence(store))
        return ExecConnector(broker, ExecSandbox(config), max_output_bytes=max_output_bytes), ctx

    yield build
    for store in stores:
        store.close()


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/status", encoding="utf-8") as handle:
            return "State:\tZ" not in handle.read()
    except (FileNotFoundError, ProcessLookupError):  # gone, or exiting while its status was read (ESRCH)
        return False


def _wait_dead(pid: int, seconds: float = 3.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not _alive(pid):
            return True
        time.sleep(0.02)
    return False


def _marked(marker: str) -> list[int]:
    """Host pids whose command line holds ``marker`` (children report pids of their own namespace)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as handle:
                    if marker.encode() in handle.read() and _alive(int(entry)):
                        found.append(int(entry))
            except OSError:
                continue
    return found


def _wait_none_marked(marker: str, seconds: float = 3.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not _marked(marker):
            return True
        time.sleep(0.02)
    return False


def test_runs_argv_and_reports_output_and_exit_code(exec_ctx: MakeCtx) -> None:
    conn, ctx = exec_ctx()
    out = conn.call(ctx, {"cmd": PY, "args": ["-c", "import sys; print('hi'); sys.stderr.write('err'); sys.exit(3)"]})
    assert (out["stdout"], out["stderr"], out["exit_code"], out["killed"]) == ("hi\n", "err", 3, False)
    # no shell in between: shell syntax in an argument is just text
    out = conn.call(ctx, {"cmd": "echo", "args": ["$(id)", ";", "ls"]})
    assert out["stdout"] == "$(id) ; ls\n"


def test_stdin_and_cwd_inside_roots(exec_ctx: MakeCtx, pi_env: PiEnv) -> None:
    conn, ctx = exec_ctx()
    (pi_env.workspace / "sub").mkdir()
    assert conn.call(ctx, {"cmd": "cat", "stdin": "piped\n"})["stdout"] == "piped\n"
    assert conn.call(ctx, {"cmd": "pwd", "cwd": "sub"})["stdout"].strip() == str((pi_env.workspace / "sub").resolve())
    assert conn.call(ctx, {"cmd": "pwd"})["stdout"].strip() == str(pi_env.workspace)
    for bad in ("..", "/", str(pi_env.home)):
        with pytest.raises(PathConfinementError):
            conn.call(ctx, {"cmd": "pwd", "cwd": bad})


def test_timeout_kills_the_whole_process_group(exec_ctx: MakeCtx) -> None:
    conn, ctx = exec_ctx()
    start = time.monotonic()
    marker = f"30.{os.getpid()}1"
    out = conn.call(ctx, {"cmd": "sh", "args": ["-c", f"sleep {marker} & echo $!; wait"], "timeout_ms": 400})
    assert out["killed"] and out["timed_out"] and time.monotonic() - start < 5
    assert int(out["stdout"].strip()) < 10  # a pid of the child's own PID namespace
    assert _wait_none_marked(marker)


def test_background_stragglers_do_not_outlive_the_call(exec_ctx: MakeCtx) -> None:
    conn, ctx = exec_ctx()
    start = time.monotonic()
    marker = f"30.{os.getpid()}2"
    for line in (f"sleep {marker} >/dev/null 2>&1 &", f"nohup sleep {marker} >/dev/null 2>&1 &",
                 f"setsid sleep {marker} >/dev/null 2>&1 < /dev/null &"):
        out = conn.call(ctx, {"cmd": "sh", "args": ["-c", line + " echo started"]})
        assert not out["killed"] and out["exit_code"] == 0 and time.monotonic() - start < 10
        assert _wait_none_marked(marker), line


def test_output_is_capped_and_truncation_reported(exec_ctx: MakeCtx) -> None:
    conn, ctx = exec_ctx(max_output_bytes=1000)
    out = conn.call(ctx, {"cmd": PY, "args": ["-c", "import sys; print('x' * 50000); sys.stderr.write('y' * 10)"]})
    assert len(out["stdout"]) == 1000 and out["stdout_truncated"]
    assert out["stderr"] == "y" * 10 and not out["stderr_truncated"] and out["exit_code"] == 0


def test_child_env_is_built_by_the_broker(exec_ctx: MakeCtx) -> None:
    conn, ctx = exec_ctx()
    out = conn.call(
        ctx, {"cmd": "env", "env": {"LD_PRELOAD": "/tmp/x.so", "BASH_ENV": "/tmp/x", "MY_FLAG": "on", "PATH": "/evil"}}
    )
    lines = dict(line.split("=", 1) for line in out["stdout"].splitlines() if "=" in line)
    assert lines["MY_FLAG"] == "on" and lines["PATH"] != "/evil" and lines["PWD"]
    for name in ("GITHUB_TOKEN", "LD_PRELOAD", "NODE_OPTIONS", "BASH_ENV", "PLAIN_PARENT_VAR"):
        assert name not in lines
    assert SECRET not in out["stdout"]


def test_rejected_child_env_is_recorded_by_the_mediation_stage(open_sandbox: OpenSandbox) -> None:
    box = open_sandbox(cli_profile="permissive", env={"PI_EXTENSION_ALLOW_DANGEROUS": "1"})
    env = {"LD_PRELOAD": "/tmp/x.so", "BASH_ENV": "/tmp/x", "MY_FLAG": "on", "PATH": "/evil"}
    result = box.hostcall("ext", {"call_id": "c1", "method": "exec", "params": {"cmd": "true", "env": env}})
    # injection variables are denied by exec mediation (env_injection, critical) even under permissive
    assert not result.ok and result.reason == "critical_always_denied"
    (record,) = box.store.query_records(kind="secret_broker", extension_id="ext")
    assert record.payload["rule"] == "child_env_rejected" and len(record.payload["name_hashes"]) == 3
    assert "LD_PRELOAD" not in str(record.payload)


def test_allow_env_names_reach_the_child(open_sandbox: OpenSandbox) -> None:
    box = open_sandbox(cli_profile="permissive", env={"PI_EXTENSION_ALLOW_DANGEROUS": "1"},
                       settings={"extensionPolicy": {"execMediation": {"allowEnv": ["PYTHONDONTWRITEBYTECODE",
                                                                                   "PYTHONPATH"]}}})
    params = {"cmd": PY, "args": ["-c", "import os; print(os.environ.get('PYTHONPATH'))"],
              "env": {"PYTHONPATH": "src", "MY_FLAG": "on"}}
    result = box.hostcall("ext", {"call_id": "c1", "method": "exec", "params": params})
    assert result.ok, result.message
    assert result.result["stdout"].strip() == "src"
    assert box.store.query_records(kind="secret_broker", extension_id="ext") == []
    params["env"] = {"PYTHONPATH": "src", "NODE_OPTIONS": "--require x"}
    assert not box.hostcall("ext", {"call_id": "c2", "method": "exec", "params": params}).ok


def test_output_is_redacted_raw_and_encoded(exec_ctx: MakeCtx, pi_env: PiEnv) -> None:
    conn, ctx = exec_ctx()
    (pi_env.workspace / "leak.txt").write_text(SECRET, encoding="utf-8")
    script = (
        "import base64,sys; s=open('leak.txt').read(); print(s); print(base64.b64encode(s.encode()).decode());"
        "print(s.encode().hex()); sys.stderr.write('err:'+s)"
    )
    out = conn.call(ctx, {"cmd": PY, "args": ["-c", script]})
    blob = out["stdout"] + out["stderr"]
    assert blob.count("[REDACTED]") == 4
    for form in (SECRET, base64.b64encode(SECRET.encode()).decode(), SECRET.encode().hex()):
        assert form not in blob


def test_subprocesses_are_counted_and_cancel_kills(exec_ctx: MakeCtx) -> None:
    conn, ctx = exec_ctx()
    results: list[dict[str, object]] = []
    worker = threading.Thread(
        target=lambda: results.append(conn.call(ctx, {"cmd": "sleep", "args": ["30"]})), daemon=True
    )
    worker.start()
    deadline = time.monotonic() + 5
    while conn.subprocesses.running("ext") == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert conn.subprocesses.running("ext") == 1 and conn.subprocesses.running("other") == 0
    assert conn.cancel("ext", "c1") == 1
    worker.join(timeout=5)
    assert results and results[0]["killed"] is True and not results[0]["timed_out"]
    assert conn.subprocesses.running("ext") == 0


def test_a_call_cancelled_while_starting_ends_at_once_without_running(exec_ctx: MakeCtx, pi_env: PiEnv) -> None:
    conn, ctx = exec_ctx(call_id="early")
    assert conn.cancel("ext", "early") == 0  # nothing runs yet: remembered for when it starts
    started = time.monotonic()
    out = conn.call(ctx, {"cmd": "sh", "args": ["-c", "touch ran.txt; sleep 30"], "timeout_ms": 120_000})
    assert out["killed"] is True and not out["timed_out"]
    assert time.monotonic() - started < 60  # not held until its timeout (generous bound: 2 minutes otherwise)
    assert not (pi_env.workspace / "ran.txt").exists()
    assert conn.subprocesses.running("ext") == 0


def test_spawn_failures_and_bad_params_are_typed(exec_ctx: MakeCtx, pi_env: PiEnv) -> None:
    conn, ctx = exec_ctx()
    with pytest.raises(ConnectorError) as missing:
        conn.call(ctx, {"cmd": "definitely-not-a-command-xyz"})
    assert (missing.value.code, missing.value.reason) == ("io", "not_found")
    script = pi_env.workspace / "noexec.sh"
    script.write_text("echo hi\n")
    os.chmod(script, 0o644)
    with pytest.raises(ConnectorError) as noexec:
        conn.call(ctx, {"cmd": str(script)})
    assert noexec.value.reason == "permission_denied"
    for params in (
        {},
        {"cmd": ""},
        {"cmd": "ls", "args": "x"},
        {"cmd": "ls", "args": [1]},
        {"cmd": "ls", "timeout_ms": -1},
        {"cmd": "ls", "env": {"A": 1}},
        {"cmd": "l\0s"},
    ):
        with pytest.raises(ConnectorError) as bad:
            parse_exec_params(params)
        assert bad.value.code == "invalid_request"
    (pi_env.workspace / "file").write_text("x")
    with pytest.raises(ConnectorError, match="not a directory"):
        conn.call(ctx, {"cmd": "ls", "cwd": "file"})


def test_cwd_symlink_escape_is_refused(exec_ctx: MakeCtx, pi_env: PiEnv, tmp_path: Path) -> None:
    conn, ctx = exec_ctx()
    outside = tmp_path / "outside"
    outside.mkdir()
    (pi_env.workspace / "link").symlink_to(outside)
    with pytest.raises(PathConfinementError):
        conn.call(ctx, {"cmd": "pwd", "cwd": "link"})


def test_a_command_line_too_long_for_the_system_is_a_clear_invalid_request(exec_ctx: MakeCtx) -> None:
    """E2BIG was reported as `sandbox_unavailable` ("cannot start the exec sandbox"), blaming the machine."""
    conn, ctx = exec_ctx()
    with pytest.raises(ConnectorError) as err:
        conn.call(ctx, {"cmd": "echo", "args": ["x" * 3_000_000]})
    assert (err.value.code, err.value.reason) == ("invalid_request", "too_large")
    assert "stdin" in str(err.value)
    assert conn.call(ctx, {"cmd": "echo", "args": ["ok"]})["stdout"] == "ok\n"  # the sandbox is fine
