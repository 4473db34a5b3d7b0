"""Reading a ledger that lies in a folder nobody may write: evidence on read-only media, a read-only mount.

SQLite cannot open a WAL database for reading where it cannot create the ``-shm`` index, so ``security
ledger verify`` / ``show`` and ``incident status`` — read-only commands — failed with exit 3 ("unable to open
database file"). They now read a private copy of the same bytes. The folder is made read-only by a real
read-only bind mount in a user+mount namespace (``unshare -rm``), so the test also runs unprivileged.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

from pi_sandbox.audit import AuditStore

from .conftest import fill


def _read_only(folder: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    """``python -m pi_sandbox ARGV`` with ``folder`` (the state dir) mounted read-only."""
    unshare = shutil.which("unshare")
    assert unshare, "unshare (util-linux) is needed for a read-only mount"
    d = str(folder)
    script = (f'mount --bind "{d}" "{d}" && mount -o remount,ro,bind "{d}" "{d}" && '
              f'touch "{d}/probe" 2>/dev/null && exit 99; exec "$@"')
    env = {**os.environ, "PI_SECURITY_DIR": d}
    return subprocess.run([unshare, "-rm", "sh", "-c", script, "sh", sys.executable, "-m", "pi_sandbox", *argv],
                          env=env, capture_output=True, text=True, timeout=120)


def test_a_ledger_on_a_read_only_mount_verifies(state_dir: Path, pi_env: object) -> None:
    # pi_env: HOME and the agent dir in the test's temp folder; PI_SECURITY_DIR is set per run below.
    with AuditStore.open(state_dir, checkpoint_interval=5) as store:
        fill(store, 12)

    done = _read_only(state_dir, "security", "ledger", "verify", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["entry_count"] == 12
    shown = _read_only(state_dir, "security", "ledger", "show", "--json")
    assert shown.returncode == 0 and len(json.loads(shown.stdout)) == 12, shown.stderr

    # A tampered ledger there is still found tampered (the copy holds the same bytes), and damage is damage.
    conn = sqlite3.connect(state_dir / "security.db", isolation_level=None)
    conn.execute("UPDATE ledger SET reason = 'x' WHERE seq = 3")
    conn.close()
    tampered = _read_only(state_dir, "security", "ledger", "verify", "--json")
    assert tampered.returncode == 1 and json.loads(tampered.stdout)["chain_valid"] is False
    (state_dir / "security.db").write_bytes(b"not sqlite" * 100)
    damaged = _read_only(state_dir, "security", "ledger", "verify")
    assert damaged.returncode == 1 and "damaged" in damaged.stderr and str(state_dir) in damaged.stderr
    assert "Traceback" not in damaged.stderr
    assert not (state_dir / "probe").exists()  # the mount really was read-only (else exit 99 above)
