"""The control signal (``trust.control``): a change an operator signalled is applied, even when applying it
failed the first time — a reload that raises must not mark the change as seen, or the session would go on
deciding under the old trust and kill-switch state (fail open) until the next signal."""

from __future__ import annotations

from pathlib import Path

import pytest

from pi_sandbox.trust.control import ControlWatcher, bump


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
