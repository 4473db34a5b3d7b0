"""Side records noted through the evidence port ride in the next ledger commit instead of a transaction of
their own, and none is lost: not to ``kill -9`` once the call that noted it has returned, not on close."""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from pi_sandbox.audit import AuditStore
from pi_sandbox.audit.port import EvidenceLimits, StoreEvidence
from pi_sandbox.errors import AuditRecordError
from tests.audit.conftest import draft


def _unlimited(store: AuditStore) -> StoreEvidence:
    return StoreEvidence(store, EvidenceLimits(records_per_window=10**9))


def test_records_noted_before_an_entry_are_committed_with_it(state_dir: Path) -> None:
    with AuditStore.open(state_dir, flush_interval_s=3600) as store:  # no flusher round in between
        port = _unlimited(store)
        before = store._wal.commit_count
        port.note("exec_mediation", {"command_hash": "ab" * 32, "decision": "allow"}, "ext.a")
        port.note("secret_broker", {"op": "get", "verdict": "visible"}, "ext.a")
        assert store._wal.commit_count == before  # queued, no transaction of its own
        seq = port.append_decision(draft(1), sync=False)
        assert store._wal.commit_count == before + 1  # one transaction: the entry and both records
        conn = sqlite3.connect(state_dir / "security.db")  # another connection sees them committed
        kinds = [r[0] for r in conn.execute("SELECT kind FROM records ORDER BY record_id")]
        conn.close()
        assert kinds == ["exec_mediation", "secret_broker"] and seq >= 1


def test_records_noted_after_the_entry_are_written_by_write_notes_close_and_queries(state_dir: Path) -> None:
    store = AuditStore.open(state_dir, flush_interval_s=3600)  # no flusher round during the test
    port = _unlimited(store)
    port.append_decision(draft(1), sync=False)
    port.note("quota_usage", {"usage": {"calls": 1}}, "ext.a")
    assert port.write_notes()
    assert [r.kind for r in store.query_records()] == ["quota_usage"]
    port.note("quota_usage", {"usage": {"calls": 2}}, "ext.a")
    assert [r.payload["usage"]["calls"] for r in store.query_records(kind="quota_usage")] == [1, 2]
    port.note("risk_state", {"scored": 3}, "ext.a")
    store.close()
    with AuditStore.open_read_only(state_dir) as reader:
        assert [r.kind for r in reader.query_records()] == ["quota_usage", "quota_usage", "risk_state"]


def test_the_flusher_writes_records_no_commit_picked_up(state_dir: Path) -> None:
    import time

    with AuditStore.open(state_dir, flush_interval_s=0.01) as store:
        store.record_later("risk_state", {"scored": 1}, "ext.a")
        conn = sqlite3.connect(state_dir / "security.db")  # another connection: sees only what is committed
        try:
            deadline = time.monotonic() + 30
            count = 0
            while time.monotonic() < deadline and count == 0:
                time.sleep(0.01)
                count = conn.execute("SELECT count(*) FROM records").fetchone()[0]
        finally:
            conn.close()
        assert count == 1 and store._pending_records == []


def test_a_bad_payload_is_refused_when_noted(state_dir: Path) -> None:
    with AuditStore.open(state_dir) as store:
        with pytest.raises(AuditRecordError):
            store.record_later("x", {"v": object()})
        with pytest.raises(AuditRecordError):
            store.record_later("", {})
        assert store._pending_records == []


# Two threads make calls the way the pipeline does: a record while deciding, the entry, a record after
# it, write_notes() at the end of the call; then print the call as acknowledged (flushed).
_CHILD = r"""
import sys, threading
from pathlib import Path
from pi_sandbox.audit import AuditStore, LedgerEntryDraft
from pi_sandbox.audit.port import EvidenceLimits, StoreEvidence
store = AuditStore.open(Path(sys.argv[1]), checkpoint_interval=100, flush_interval_s=3600)
port = StoreEvidence(store, EvidenceLimits(records_per_window=10**9))
out = threading.Lock()
def work(t):
    for i in range(50000):
        port.note("exec_mediation", {"t": t, "i": i}, f"ext.{t}")
        port.append_decision(LedgerEntryDraft(kind="hostcall", extension_id=f"ext.{t}", decision="allow",
                                              reason="default_caps", call_id=f"{t}-{i}"), sync=False)
        port.note("quota_usage", {"t": t, "i": i}, f"ext.{t}")
        assert port.write_notes()
        with out:
            sys.stdout.write(f"{t} {i}\n")
            sys.stdout.flush()
threads = [threading.Thread(target=work, args=(t,)) for t in range(2)]
for t in threads: t.start()
for t in threads: t.join()
"""


@pytest.mark.parametrize("round_", range(2))
def test_sigkill_loses_no_record_of_a_returned_call(state_dir: Path, round_: int) -> None:
    seed = random.randrange(2**32)
    kill_after = random.Random(seed).randint(200, 2000)
    child = subprocess.Popen([sys.executable, "-c", _CHILD, str(state_dir)], stdout=subprocess.PIPE, text=True,
                             bufsize=1)
    assert child.stdout is not None
    acknowledged: list[tuple[int, int]] = []
    try:
        for line in child.stdout:
            t, i = line.split()
            acknowledged.append((int(t), int(i)))
            if len(acknowledged) >= kill_after:
                os.kill(child.pid, signal.SIGKILL)
                break
        rest = child.stdout.read().split()
        acknowledged.extend((int(rest[k]), int(rest[k + 1])) for k in range(0, len(rest) - 1, 2))
    finally:
        child.kill()
        child.wait(timeout=30)
    assert child.returncode == -signal.SIGKILL, "child finished before it could be killed"
    conn = sqlite3.connect(state_dir / "security.db")
    stored: dict[str, set[tuple[int, int]]] = {"exec_mediation": set(), "quota_usage": set()}
    for kind, t, i in conn.execute("SELECT kind, json_extract(payload, '$.t'), json_extract(payload, '$.i') "
                                   "FROM records"):
        stored[kind].add((int(t), int(i)))
    calls = {str(r[0]) for r in conn.execute("SELECT call_id FROM ledger WHERE call_id IS NOT NULL")}
    conn.close()
    for kind, seen in stored.items():
        missing = set(acknowledged) - seen
        assert not missing, f"seed={seed}: {kind} records of returned calls lost: {sorted(missing)[:10]}"
    assert {f"{t}-{i}" for t, i in acknowledged} <= calls
    # Every record noted before an entry that was written is there too (it rode in that entry's commit).
    assert {tuple(map(int, c.split("-"))) for c in calls} <= stored["exec_mediation"]
