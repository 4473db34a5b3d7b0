"""The control signal (``trust.control``): a change an operator signalled is applied, even when applying it
failed the first time — a reload that raises must not mark the change as seen, or the session would go on
deciding under the old trust and kill-switch state (fail open) until the next signal."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from pi_sandbox.trust import control
from pi_sandbox.trust.control import SIGNAL_FILE, TOKEN_BYTES, ControlWatcher, bump


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


def _bump_elsewhere(state_dir: Path) -> None:
    """``bump`` from another process (an operator's command)."""
    subprocess.run([sys.executable, "-c", "import sys; from pathlib import Path; "
                    "from pi_sandbox.trust.control import bump; bump(Path(sys.argv[1]))", str(state_dir)],
                   check=True, timeout=60)


def test_a_signal_from_another_process_is_seen_by_the_next_look(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """The look before each decision reads the mapped token: no poller (an hour) and no ``stat`` needed."""
    applied: list[int] = []
    watcher = ControlWatcher(tmp_path, lambda: applied.append(1), interval_s=3600)
    try:
        assert (tmp_path / SIGNAL_FILE).stat().st_size == TOKEN_BYTES  # made by the session, for mapping
        inode = (tmp_path / SIGNAL_FILE).stat().st_ino
        for rounds in range(1, 4):
            _bump_elsewhere(tmp_path)
            assert (tmp_path / SIGNAL_FILE).stat().st_ino == inode  # written in place: the mapping sees it
            with monkeypatch.context() as m:  # the look itself asks the file system nothing...
                m.setattr(control, "_fingerprint", _no_stat)
                with pytest.raises(AssertionError, match="asked the file system"):
                    watcher.check()  # ...until it has seen the change (then it reloads, under the lock)
            watcher.check()
            assert applied == [1] * rounds
            with monkeypatch.context() as m:
                m.setattr(control, "_fingerprint", _no_stat)
                watcher.check()  # nothing new: answered from memory
            assert applied == [1] * rounds
    finally:
        watcher.stop()


def _no_stat(*_: Any) -> None:
    raise AssertionError("the look before a decision asked the file system")


def test_a_replaced_signal_file_is_found_by_the_poller_and_mapped_again(tmp_path: Path) -> None:
    """A file replaced under the mapping (an older release's ``bump``, a restore of the state dir) cannot change
    the mapped token: the poller sees the new identity, applies it and maps the new file, whose in-place
    signals the next look sees again."""
    applied: list[int] = []
    watcher = ControlWatcher(tmp_path, lambda: applied.append(1), interval_s=3600)
    try:
        replacement = tmp_path / "replacement"
        replacement.write_bytes(b"f" * TOKEN_BYTES)
        os.replace(replacement, tmp_path / SIGNAL_FILE)
        watcher.poll()
        assert applied == [1]
        _bump_elsewhere(tmp_path)
        watcher.check()
        assert applied == [1, 1]
    finally:
        watcher.stop()


def test_a_signal_file_that_cannot_be_mapped_is_looked_at_with_stat(tmp_path: Path) -> None:
    """A link is never opened (nor mapped): every look is a ``stat``, and ``bump`` replaces the link with a file
    (mapped from then on), so no signal is lost either way."""
    target = tmp_path / "elsewhere"
    target.write_bytes(b"0" * TOKEN_BYTES)
    (tmp_path / SIGNAL_FILE).symlink_to(target)
    applied: list[int] = []
    watcher = ControlWatcher(tmp_path, lambda: applied.append(1), interval_s=3600)
    try:
        assert watcher._map is None
        _bump_elsewhere(tmp_path)
        assert not (tmp_path / SIGNAL_FILE).is_symlink() and target.read_bytes() == b"0" * TOKEN_BYTES
        watcher.check()
        assert applied == [1] and watcher._map is not None
        _bump_elsewhere(tmp_path)
        watcher.check()
        assert applied == [1, 1]
    finally:
        watcher.stop()
