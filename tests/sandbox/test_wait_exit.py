"""``wait_exit``: the exec connector's wait for its bwrap child (a pidfd, not Popen's sleep loop)."""

from __future__ import annotations

import subprocess

from pi_sandbox.sandbox.process import wait_exit


def test_an_exited_child_is_reaped_with_its_status() -> None:
    proc = subprocess.Popen(["sh", "-c", "exit 7"])
    assert wait_exit(proc, 30) is True
    assert proc.returncode == 7


def test_a_child_still_running_at_the_deadline_is_reported_and_left_running() -> None:
    proc = subprocess.Popen(["sleep", "30"])
    try:
        assert wait_exit(proc, 0.2) is False
        assert proc.poll() is None
    finally:
        proc.kill()
        proc.wait()


def test_a_child_reaped_already_falls_back_to_popen() -> None:
    proc = subprocess.Popen(["true"])
    proc.wait()
    assert wait_exit(proc, 5) is True and proc.returncode == 0
