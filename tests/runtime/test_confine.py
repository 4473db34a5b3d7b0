"""Landlock confinement of workers: after boot a worker can open no file, connect nowhere, signal no one."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from pi_sandbox.sandbox.landlock import landlock_abi

PROBE = textwrap.dedent(
    """
    import os, socket
    from pi_sandbox.sandbox.landlock import confine_to_nothing
    print(confine_to_nothing())
    for attempt in (lambda: open("/etc/hostname").read(), lambda: open(os.environ["TARGET"], "w"),
                    lambda: socket.create_connection(("127.0.0.1", 9), timeout=1), lambda: os.kill(1, 0),
                    lambda: os.execv("/bin/true", ["true"])):
        try:
            attempt()
            print("allowed")
        except PermissionError:
            print("denied")
        except OSError as exc:
            print("error", exc.errno)
    print(len(os.urandom(8)))
    """
)


@pytest.mark.skipif(landlock_abi() < 6, reason="needs a kernel with Landlock ABI >= 6 (files, TCP, signals)")
def test_confined_process_can_touch_nothing(tmp_path: object) -> None:
    target = f"{tmp_path}/created-by-worker"
    proc = subprocess.run(
        [sys.executable, "-c", PROBE],
        capture_output=True,
        text=True,
        timeout=30,
        env={"TARGET": target, "PYTHONPATH": sys.path[0]},
        check=False,
    )
    lines = proc.stdout.split()
    assert lines[0].startswith("landlock-abi"), proc.stdout + proc.stderr
    assert proc.stdout.splitlines()[1:6] == ["denied"] * 5
    assert proc.stdout.splitlines()[6] == "8"  # local entropy (getrandom) still works


def test_workers_report_their_confinement() -> None:
    from pi_sandbox.runtime.modules import load_module_table
    from pi_sandbox.runtime.supervisor import ExtensionWorker, WorkerLimits
    from pi_sandbox.runtime.toolchain import default_toolchain

    table = load_module_table(default_toolchain())
    worker = ExtensionWorker("c", lambda m, p: {"ok": True, "result": None}, WorkerLimits())
    worker.spawn(
        {"modules": table.sources, "bundle": "export default () => {}", "boot": list(table.boot), "info": {}}
    )
    try:
        worker.wait_ready()
        expected = "landlock-abi" if landlock_abi() > 0 else "none"
        assert worker.confinement.startswith(expected)
        assert worker.request("load", {})["ok"]  # the extension still loads and runs confined
    finally:
        worker.close()
