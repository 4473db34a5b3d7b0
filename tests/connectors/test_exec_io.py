"""The exec connector's child I/O (``connectors/exec_io.py``): one thread, a pidfd and poll — and the
reader-thread fallback where pidfds are missing. Real processes through the real connector (bwrap)."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator

import pytest

from pi_sandbox.connectors import exec_io
from tests.connectors.test_exec import MakeCtx, exec_ctx  # noqa: F401  (fixture)


@pytest.fixture(params=["pidfd", "threads"])
def io_path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    if request.param == "threads":
        def no_pidfd(_pid: int) -> int:
            raise OSError(38, "Function not implemented")

        monkeypatch.setattr(exec_io.os, "pidfd_open", no_pidfd)
    yield str(request.param)


def test_a_large_stdin_is_fed_while_the_output_is_read(exec_ctx: MakeCtx, io_path: str) -> None:  # noqa: F811
    conn, ctx = exec_ctx(max_output_bytes=300_000)
    data = "".join(f"line {i:07d}\n" for i in range(100_000))  # 1.3 MB: far more than a pipe holds
    out = conn.call(ctx, {"cmd": "cat", "stdin": data})
    assert out["exit_code"] == 0 and not out["killed"]
    assert out["stdout"] == data[:300_000] and out["stdout_truncated"]


def test_a_child_that_stops_reading_its_stdin_does_not_hang_the_call(exec_ctx: MakeCtx, io_path: str) -> None:  # noqa: F811
    conn, ctx = exec_ctx()
    out = conn.call(ctx, {"cmd": "head", "args": ["-c", "5"], "stdin": "x" * 2_000_000, "timeout_ms": 60_000})
    assert out["stdout"] == "xxxxx" and out["exit_code"] == 0 and not out["timed_out"]


def test_background_writers_end_with_the_command(exec_ctx: MakeCtx, io_path: str) -> None:  # noqa: F811
    conn, ctx = exec_ctx()
    started = time.monotonic()
    out = conn.call(ctx, {"cmd": "sh", "args": ["-c", "(while :; do echo bg; sleep 0.01; done) & echo main"],
                          "timeout_ms": 60_000})
    assert "main\n" in out["stdout"] and not out["timed_out"]
    assert time.monotonic() - started < 30  # the group is killed, the pipes end: not the timeout


def test_a_timeout_kills_and_keeps_what_was_written(exec_ctx: MakeCtx, io_path: str) -> None:  # noqa: F811
    conn, ctx = exec_ctx()
    out = conn.call(ctx, {"cmd": "sh", "args": ["-c", "echo before; exec sleep 30"], "timeout_ms": 2000})
    assert out["timed_out"] and out["killed"] and out["stdout"] == "before\n"


def test_no_descriptor_is_left_open(exec_ctx: MakeCtx, io_path: str) -> None:  # noqa: F811
    conn, ctx = exec_ctx()
    conn.call(ctx, {"cmd": "true"})
    before = len(os.listdir("/proc/self/fd"))
    for _ in range(5):
        conn.call(ctx, {"cmd": "cat", "stdin": "x"})
    assert len(os.listdir("/proc/self/fd")) <= before
