"""Durability: every entry acknowledged before a SIGKILL is on disk, and the chain still verifies."""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from pi_sandbox.audit import AuditStore, verify_ledger

# Two appender threads (so group commit is exercised) print each acknowledged seq, flushed,
# only after append() returned.
_CHILD = r"""
import sys, threading
from pathlib import Path
from pi_sandbox.audit import AuditStore, LedgerEntryDraft
store = AuditStore.open(Path(sys.argv[1]), checkpoint_interval=100)
out = threading.Lock()
def work(t):
    for i in range(50000):
        entry = store.append(LedgerEntryDraft(kind="hostcall", extension_id=f"ext.{t}", decision="allow",
                                              reason="default_caps", call_id=f"{t}-{i}", detail={"i": i}))
        with out:
            sys.stdout.write(f"{entry.seq}\n")
            sys.stdout.flush()
threads = [threading.Thread(target=work, args=(t,)) for t in range(2)]
for t in threads: t.start()
for t in threads: t.join()
"""


def run_and_kill(state_dir: Path, kill_after: int) -> list[int]:
    child = subprocess.Popen(
        [sys.executable, "-c", _CHILD, str(state_dir)], stdout=subprocess.PIPE, text=True, bufsize=1
    )
    assert child.stdout is not None
    acknowledged: list[int] = []
    try:
        for line in child.stdout:
            acknowledged.append(int(line))
            if len(acknowledged) >= kill_after:
                os.kill(child.pid, signal.SIGKILL)
                break
        # Lines already written to the pipe were acknowledged too.
        acknowledged.extend(int(line) for line in child.stdout.read().split())
    finally:
        child.kill()
        child.wait(timeout=30)
    assert child.returncode == -signal.SIGKILL, "child finished before it could be killed"
    return acknowledged


@pytest.mark.parametrize("round_", range(2))
def test_sigkill_loses_no_acknowledged_entry(state_dir: Path, round_: int) -> None:
    seed = random.randrange(2**32)
    kill_after = random.Random(seed).randint(300, 3000)
    acknowledged = run_and_kill(state_dir, kill_after)
    assert len(acknowledged) >= kill_after, f"seed={seed}"

    report = verify_ledger(state_dir)  # straight after the crash, before any writer recovers
    assert report.chain_valid, (seed, report.verification_errors[:5])
    conn = sqlite3.connect(state_dir / "security.db")
    stored = {row[0] for row in conn.execute("SELECT seq FROM ledger")}
    conn.close()
    missing = set(acknowledged) - stored
    assert not missing, f"seed={seed}: acknowledged but lost: {sorted(missing)[:10]}"
    assert report.entry_count == len(stored) >= len(acknowledged)

    # A restarted writer continues the same chain, first sealing the tail the crash left unsealed
    # (unless the kill happened to land right after a checkpoint).
    with AuditStore.open(state_dir) as store:
        head_seq, _ = store.head()
        if report.unsealed_entries:
            recovered = store.query_ledger()[-1]
            assert head_seq == report.head_seq + 1 and recovered.reason == "recovered_after_crash"
            assert recovered.detail["found_head_seq"] == report.head_seq
            assert store.last_checkpoint() == (head_seq, recovered.entry_hash)
        else:
            assert head_seq == report.head_seq
    assert verify_ledger(state_dir).chain_valid
