"""The control signal (``trust.control``): a change an operator signalled is applied, even when applying it
failed the first time — a reload that raises must not mark the change as seen, or the session would go on
deciding under the old trust and kill-switch state (fail open) until the next signal."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import pytest

from pi_sandbox.trust.control import SIGNAL_FILE, ControlWatcher, bump


def test_a_failed_reload_is_retried_until_it_succeeds(tmp_path: Path) -> None:
    applied: list[int] = []
    failures = [RuntimeError("database is locked")]

    def on_change() -> None:
        if failures:
            raise failures.pop()
        applied.append(1)

    watcher = ControlWatcher(tmp_path, on_change, interval_s=3600)  # no background poll: checks are explicit
    try:
        bump(tmp_path)
        with pytest.raises(RuntimeError):
            watcher.check()  # the trust stage's look before a decision: that call is refused (fail closed)
        watcher.check()  # the next decision applies the change after all
        assert applied == [1]
        watcher.check()  # and only once
        assert applied == [1]
    finally:
        watcher.stop()


def test_every_signal_is_applied(tmp_path: Path) -> None:
    applied: list[int] = []
    watcher = ControlWatcher(tmp_path, lambda: applied.append(1), interval_s=3600)
    try:
        watcher.check()
        assert applied == []
        bump(tmp_path)
        watcher.check()
        bump(tmp_path)
        watcher.check()
        assert applied == [1, 1]
    finally:
        watcher.stop()


def test_each_signal_has_a_newer_mtime_than_the_one_it_replaces(tmp_path: Path) -> None:
    """The watcher compares (inode, size, mtime): a freed inode number is often reused by the next file, and
    coarse file-system clocks give equal mtimes within a tick, so only a strictly newer mtime guarantees that
    no signal ever looks like one already seen."""
    bump(tmp_path)
    signal = tmp_path / SIGNAL_FILE
    ahead = time.time_ns() + 10**10  # the clock has not moved on (or stepped back) since the last signal
    os.utime(signal, ns=(ahead, ahead))
    seen = (signal.stat().st_ino, signal.stat().st_size, signal.stat().st_mtime_ns)
    for _ in range(3):
        bump(tmp_path)
        st = signal.stat()
        assert st.st_mtime_ns > seen[2]
        seen = (st.st_ino, st.st_size, st.st_mtime_ns)


def test_one_failing_listener_does_not_spare_the_others(open_sandbox: Any) -> None:
    """Listeners kill workers and children of stopped extensions: a broken one must not keep the next one
    from running; the failure still propagates (the watcher retries, the trust stage refuses meanwhile)."""
    controls = open_sandbox().controls
    ran: list[str] = []

    def broken() -> None:
        ran.append("broken")
        raise RuntimeError("listener bug")

    controls.subscribe(broken)
    controls.subscribe(lambda: ran.append("after"))
    with pytest.raises(RuntimeError):
        controls.reload()
    assert ran == ["broken", "after"]
