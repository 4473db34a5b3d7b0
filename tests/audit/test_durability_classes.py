"""Durability classes: entries are always written before ``append`` returns; ``sync=True`` entries (and
everything before them) are synced too; the rest are synced by the background group commit."""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pi_sandbox.audit import AuditStore, verify_ledger
from pi_sandbox.errors import AuditStoreError
from tests.audit.conftest import draft
from tests.audit.power_loss import model_power_loss, surviving_entries

REPO = Path(__file__).resolve().parents[2]


def _committed_seqs(state_dir: Path) -> set[int]:
    """What another connection sees (the entries are in the WAL, not buffered in this process)."""
    conn = sqlite3.connect(state_dir / "security.db")
    try:
        return {int(r[0]) for r in conn.execute("SELECT seq FROM ledger")}
    finally:
        conn.close()


def test_group_entry_is_written_at_once_and_synced_only_by_the_group_commit(state_dir: Path, tmp_path: Path) -> None:
    with AuditStore.open(state_dir, flush_interval_s=3600) as store:
        model_power_loss(store, tmp_path / "disk")
        syncs = store.syncs
        entry = store.append(draft(1), sync=False)
        assert entry.seq in _committed_seqs(state_dir)  # written: survives kill -9
        assert store.syncs == syncs and store.durable_seq < entry.seq  # no sync of its own
        assert entry.seq not in surviving_entries(tmp_path / "disk", tmp_path / "s1")
        store.sync()
        assert store.durable_seq == entry.seq
        assert surviving_entries(tmp_path / "disk", tmp_path / "s2")[entry.seq] == entry.entry_hash


def test_effect_entry_is_synced_with_everything_committed_before_it(state_dir: Path, tmp_path: Path) -> None:
    with AuditStore.open(state_dir, flush_interval_s=3600) as store:
        model_power_loss(store, tmp_path / "disk")
        reads = [store.append(draft(i), sync=False) for i in range(5)]
        syncs = store.syncs
        effect = store.append(draft(99))  # sync=True is the default
        assert store.syncs == syncs + 1 and store.durable_seq == effect.seq
        survived = surviving_entries(tmp_path / "disk", tmp_path / "s")
        for entry in (*reads, effect):
            assert survived[entry.seq] == entry.entry_hash


def test_flusher_syncs_pending_entries_within_its_interval(state_dir: Path) -> None:
    with AuditStore.open(state_dir, flush_interval_s=0.05) as store:
        entry = store.append(draft(1), sync=False)
        deadline = time.monotonic() + 10  # generous: the interval is 50 ms
        while store.durable_seq < entry.seq and time.monotonic() < deadline:
            time.sleep(0.01)
        assert store.durable_seq == entry.seq


def test_flusher_is_woken_by_the_number_of_pending_commits(state_dir: Path) -> None:
    with AuditStore.open(state_dir, flush_interval_s=3600, flush_max_commits=20) as store:
        entries = [store.append(draft(i), sync=False) for i in range(25)]
        deadline = time.monotonic() + 10
        while store.durable_seq < entries[19].seq and time.monotonic() < deadline:
            time.sleep(0.01)
        assert store.durable_seq >= entries[19].seq


def test_head_hint_never_runs_ahead_of_what_is_synced(state_dir: Path) -> None:
    with AuditStore.open(state_dir, flush_interval_s=3600) as store:
        synced = store.append(draft(1))
        store.append(draft(2), sync=False)
        hint = (state_dir / "ledger-anchor.head").read_text()
        assert f'"seq":{synced.seq},' in hint  # not the unsynced seq 2 entry
        store.sync()
        assert f'"seq":{synced.seq + 1},' in (state_dir / "ledger-anchor.head").read_text()


def test_a_failed_sync_refuses_every_later_effect(state_dir: Path) -> None:
    """After a failed fdatasync the kernel may have dropped the dirty pages: no later sync is trusted."""
    store = AuditStore.open(state_dir, flush_interval_s=3600)
    real = store._fsync_wal

    def broken() -> None:
        raise OSError(5, "Input/output error")

    store._fsync_wal = broken  # type: ignore[method-assign]
    with pytest.raises(AuditStoreError, match="refused"):
        store.append(draft(1))
    store._fsync_wal = real  # type: ignore[method-assign]
    with pytest.raises(AuditStoreError, match="refused"):
        store.append(draft(2))  # still refused: the disk is not trusted any more
    written = store.append(draft(3), sync=False)  # evidence of what is refused is still written
    assert written.seq in _committed_seqs(state_dir)
    with pytest.raises(AuditStoreError):
        store.close()
    assert verify_ledger(state_dir).chain_valid


# Two appender threads, one of effect entries (sync=True) and one of group entries: each prints
# "<class> <seq> <hash>" only after append() returned. Syncs happen only for the effect entries
# (the flusher's interval is an hour), and every sync leaves a power-loss copy (tests/audit/power_loss.py).
_CHILD = r"""
import sys, threading
from pathlib import Path
sys.path.insert(0, sys.argv[3])
from pi_sandbox.audit import AuditStore, LedgerEntryDraft
from tests.audit.power_loss import model_power_loss
store = AuditStore.open(Path(sys.argv[1]), checkpoint_interval=100000, flush_interval_s=3600)
model_power_loss(store, Path(sys.argv[2]))
out = threading.Lock()
def work(kind):
    for i in range(100000):
        entry = store.append(LedgerEntryDraft(kind="hostcall", extension_id=f"ext.{kind}", decision="allow",
                                              reason="default_caps", call_id=f"{kind}-{i}", detail={"i": i}),
                             sync=kind == "E")
        with out:
            sys.stdout.write(f"{kind} {entry.seq} {entry.entry_hash}\n")
            sys.stdout.flush()
threads = [threading.Thread(target=work, args=(k,)) for k in "EG"]
for t in threads: t.start()
for t in threads: t.join()
"""


def _run_and_kill(state_dir: Path, disk: Path, kill_after: int) -> list[tuple[str, int, str]]:
    child = subprocess.Popen([sys.executable, "-c", _CHILD, str(state_dir), str(disk), str(REPO)],
                             stdout=subprocess.PIPE, text=True, bufsize=1)
    assert child.stdout is not None
    acknowledged: list[tuple[str, int, str]] = []
    try:
        for line in child.stdout:
            kind, seq, digest = line.split()
            acknowledged.append((kind, int(seq), digest))
            if len(acknowledged) >= kill_after:
                os.kill(child.pid, signal.SIGKILL)
                break
        for line in child.stdout.read().splitlines():  # written to the pipe before the kill: acknowledged
            kind, seq, digest = line.split()
            acknowledged.append((kind, int(seq), digest))
    finally:
        child.kill()
        child.wait(timeout=30)
    assert child.returncode == -signal.SIGKILL, "child finished before it could be killed"
    return acknowledged


@pytest.mark.parametrize("round_", range(2))
def test_crash_between_group_syncs_loses_no_acknowledged_effect_entry(state_dir: Path, tmp_path: Path,
                                                                      round_: int) -> None:
    seed = random.randrange(2**32)
    kill_after = random.Random(seed).randint(100, 400)
    acknowledged = _run_and_kill(state_dir, tmp_path / "disk", kill_after)
    effects = [(seq, digest) for kind, seq, digest in acknowledged if kind == "E"]
    assert effects and any(kind == "G" for kind, _, _ in acknowledged), f"seed={seed}"

    # kill -9 (the process dies, the kernel keeps its writes): nothing acknowledged is lost, of either class.
    assert not {seq for _, seq, _ in acknowledged} - _committed_seqs(state_dir), f"seed={seed}"
    assert verify_ledger(state_dir).chain_valid

    # Power loss (only what was synced survives): every acknowledged effect entry survives, and so does
    # every entry committed before the newest acknowledged effect (one sync covers everything before it).
    survived = surviving_entries(tmp_path / "disk", tmp_path / "after-power-loss")
    newest_effect = max(seq for seq, _ in effects)
    lost = [(kind, seq) for kind, seq, digest in acknowledged
            if (kind == "E" or seq <= newest_effect) and survived.get(seq) != digest]
    assert not lost, f"seed={seed}: acknowledged before a sync but not on disk: {lost[:10]}"
    seqs = sorted(survived)
    assert seqs == list(range(1, len(seqs) + 1)), f"seed={seed}: the surviving ledger has gaps"


def test_interval_checkpoints_are_sealed_by_the_flusher_once_synced(state_dir: Path) -> None:
    """An appender that crosses a checkpoint does not wait for the seal's signature and fsyncs: the flusher
    seals each interval checkpoint, in order, and only once a sync covers it."""
    import threading

    store = AuditStore.open(state_dir, checkpoint_interval=5, flush_interval_s=3600)
    assert store._anchor is not None
    seals: list[tuple[int, int, int]] = []  # (seq, durable seq at the time, thread)
    real = store._anchor.seal

    def watched(seq: int, head: str, reason: str):  # type: ignore[no-untyped-def]
        if reason == "interval":
            seals.append((seq, store.durable_seq, threading.get_ident()))
        return real(seq, head, reason)

    store._anchor.seal = watched  # type: ignore[method-assign]
    try:
        for i in range(12):
            store.append(draft(i), sync=False)
        deadline = time.monotonic() + 10  # generous: the flusher is woken at once
        while len(seals) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert [s[0] for s in seals] == [5, 10]
        assert all(durable >= seq for seq, durable, _ in seals)  # never ahead of what is on disk
        assert threading.get_ident() not in {thread for *_, thread in seals}
    finally:
        store.close()
    seal = (state_dir / "ledger-anchor.json").read_text()
    assert '"reason": "close"' in seal and '"seq": 12' in seal  # the close seal follows the interval ones


def test_close_seals_interval_checkpoints_the_flusher_had_no_round_for(state_dir: Path, tmp_path: Path) -> None:
    copy = tmp_path / "anchor-copy.log"
    store = AuditStore.open(state_dir, checkpoint_interval=5, flush_interval_s=3600, anchor_copy=copy)
    store.seal_later = store._seals_due.append  # type: ignore[method-assign]  # handed over, the flusher not woken
    for i in range(11):
        store.append(draft(i), sync=False)
    store.close()
    import json
    reasons = [(json.loads(line)["seq"], json.loads(line)["reason"]) for line in copy.read_text().splitlines()]
    assert [r for r in reasons if r[1] == "interval"] == [(5, "interval"), (10, "interval")]
    assert reasons[-1][1] == "close"
