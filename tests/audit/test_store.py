"""AuditStore: the API contract, durability settings, concurrency, bad input and damaged state."""

from __future__ import annotations

import os
import sqlite3
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from pi_sandbox import schemas
from pi_sandbox.audit import GENESIS, AlertDraft, AuditStore, LedgerEntryDraft, verify_ledger
from pi_sandbox.errors import (
    AuditRecordError,
    AuditStoreError,
    LedgerCorruptError,
    SigningKeyError,
    StateDirError,
)
from pi_sandbox.hashing import canonical_json, sha256_hex

from .conftest import draft, fill


def test_open_creates_private_state_dir_wal_db_and_key(state_dir: Path) -> None:
    with AuditStore.open(state_dir) as store:
        assert stat.S_IMODE(state_dir.stat().st_mode) == 0o700
        key = state_dir / "ledger-signing.key"
        assert stat.S_IMODE(key.stat().st_mode) == 0o600
        assert (state_dir / "ledger-signing.pub").read_text().strip()
        conn = sqlite3.connect(state_dir / "security.db")
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        conn.close()
        # NORMAL on the writing connection: commits write the WAL, the store syncs it (durability classes)
        assert store._conn.execute("PRAGMA synchronous").fetchone()[0] == 1
        assert store.append(draft(1)).seq == 1
        for name in ("security.db", "security.db-wal"):
            assert stat.S_IMODE((state_dir / name).stat().st_mode) == 0o600, name


def test_signing_key_never_stored_in_database(store: AuditStore) -> None:
    fill(store, 25)
    store.checkpoint()
    private_hex = (store.state_dir / "ledger-signing.key").read_text().strip()
    assert private_hex.encode() not in store.db_path.read_bytes()
    wal = store.db_path.with_name("security.db-wal")
    assert not wal.exists() or private_hex.encode() not in wal.read_bytes()


def test_append_chains_from_genesis_and_hash_is_canonical_json(store: AuditStore) -> None:
    first = store.append(draft(1))
    second = store.append(draft(2, detail={"z": 1, "a": "ü"}))
    assert (first.seq, second.seq) == (1, 2)
    assert first.prev_hash == GENESIS
    assert second.prev_hash == first.entry_hash
    for entry in (first, second):
        body = entry.to_dict()
        del body["entry_hash"], body["schema"]
        assert entry.entry_hash == sha256_hex(canonical_json(body))


def test_genesis_is_the_documented_derivation() -> None:
    assert sha256_hex(f"{schemas.LEDGER_SCHEMA}:genesis") == GENESIS


def test_query_ledger_filters_and_limit_keeps_newest(store: AuditStore) -> None:
    for i in range(6):
        store.append(draft(i, extension_id="ext.a" if i % 2 else "ext.b"))
    assert [e.seq for e in store.query_ledger(extension_id="ext.a")] == [2, 4, 6]
    assert [e.seq for e in store.query_ledger(limit=2)] == [5, 6]
    later = store.query_ledger()[3].ts_ms
    assert all(e.ts_ms >= later for e in store.query_ledger(since_ms=later))
    assert store.query_ledger(since_ms=later + 10**9) == []


def test_reopen_continues_the_chain_and_close_writes_signed_checkpoint(state_dir: Path) -> None:
    with AuditStore.open(state_dir, checkpoint_interval=1000) as store:
        fill(store, 5)
    with AuditStore.open(state_dir) as store:
        entry = store.append(draft(99))
        assert entry.seq == 6
        assert entry.prev_hash == store.query_ledger()[4].entry_hash
    report = verify_ledger(state_dir)
    assert report.chain_valid and report.entry_count == 6
    assert report.last_checkpoint_seq == 6 and report.unsealed_entries == 0
    assert report.checkpoints_checked == 2  # one per clean close


def test_interval_checkpoints_are_written(store: AuditStore) -> None:
    fill(store, 35)
    report = verify_ledger(store)
    assert report.checkpoints_checked == 3  # seqs 10, 20, 30
    assert report.last_checkpoint_seq == 30 and report.unsealed_entries == 5


def test_concurrent_appenders_get_contiguous_unique_seqs(store: AuditStore) -> None:
    results: list[int] = []
    lock = threading.Lock()

    def worker(t: int) -> None:
        for i in range(60):
            seq = store.append(draft(t * 1000 + i)).seq
            with lock:
                results.append(seq)

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == list(range(1, 361))
    assert verify_ledger(store).chain_valid


_WRITER = """
import sys
from pathlib import Path
from pi_sandbox.audit import AuditStore, LedgerEntryDraft
store = AuditStore.open(Path(sys.argv[1]), checkpoint_interval=50)
for i in range(int(sys.argv[2])):
    store.append(LedgerEntryDraft(kind="hostcall", extension_id=sys.argv[3], decision="allow", reason="r"))
store.close()
"""


def test_two_processes_share_one_chain(state_dir: Path) -> None:
    AuditStore.open(state_dir).close()  # create key and db before the race
    procs = [
        subprocess.Popen([sys.executable, "-c", _WRITER, str(state_dir), "150", f"ext.{n}"]) for n in range(2)
    ]
    assert [p.wait(timeout=60) for p in procs] == [0, 0]
    report = verify_ledger(state_dir)
    assert report.chain_valid, report.verification_errors
    assert report.entry_count == 300


def test_alerts_have_sequence_schema_and_filters(store: AuditStore) -> None:
    a1 = store.record_alert(AlertDraft(category="policy_denial", severity="error", extension_id="e1",
                                       summary="exec denied", reason_codes=("deny_caps",), capability="exec"))
    a2 = store.record_alert(AlertDraft(category="quota_breach", severity="warning", extension_id="e2",
                                       summary="too many subprocesses"))
    a3 = store.record_alert(AlertDraft(category="quarantine", severity="critical", extension_id="e1",
                                       summary="terminated", action="terminate"))
    assert (a1.sequence_id, a2.sequence_id, a3.sequence_id) == (1, 2, 3)
    assert a1.category == "policy_violation" and a1.schema == schemas.SECURITY_ALERT
    assert [a.sequence_id for a in store.query_alerts(category="policy_violation")] == [1]
    assert [a.sequence_id for a in store.query_alerts(category="policy_denial")] == [1]
    assert [a.sequence_id for a in store.query_alerts(extension_id="e1")] == [1, 3]
    assert [a.sequence_id for a in store.query_alerts(min_severity="error")] == [1, 3]
    assert store.query_alerts(since_ms=a3.ts_ms + 10**9) == []
    assert store.query_alerts(category="quarantine")[0].to_dict()["reason_codes"] == []


@pytest.mark.parametrize(
    ("category", "severity"), [("nonsense", "error"), ("runtime", "fatal")]
)
def test_bad_alert_is_a_typed_error(store: AuditStore, category: str, severity: str) -> None:
    with pytest.raises(AuditRecordError):
        store.record_alert(AlertDraft(category=category, severity=severity, extension_id=None, summary="x"))
    assert store.query_alerts() == []


def test_side_records_round_trip_and_filter(store: AuditStore) -> None:
    r1 = store.record("exec_mediation", {"command_hash": "ab" * 32, "verdict": "deny"}, extension_id="e1")
    r2 = store.record("install", {"content_hash": "cd" * 32})
    assert r2 > r1
    assert [r.record_id for r in store.query_records(kind="exec_mediation")] == [r1]
    assert store.query_records(extension_id="e1")[0].payload == {"command_hash": "ab" * 32, "verdict": "deny"}
    assert len(store.query_records()) == 2


@pytest.mark.parametrize(
    "bad",
    [
        draft(detail={"x": float("nan")}),
        draft(kind=""),
        draft(decision=None),
        draft(layer=True),
        draft(extension_id="\ud800"),
        draft(detail=["not", "a", "mapping"]),
    ],
)
def test_malformed_entry_rejected_without_touching_chain(store: AuditStore, bad: LedgerEntryDraft) -> None:
    store.append(draft(1))
    with pytest.raises(AuditRecordError):
        store.append(bad)
    assert store.append(draft(2)).seq == 2


def test_closed_store_refuses_work(state_dir: Path) -> None:
    store = AuditStore.open(state_dir)
    store.close()
    store.close()  # idempotent
    with pytest.raises(AuditStoreError, match="closed"):
        store.append(draft(1))
    with pytest.raises(AuditStoreError, match="closed"):
        store.query_ledger()


def test_unwritable_state_dir_is_state_dir_error(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    with pytest.raises(StateDirError, match="PI_SECURITY_DIR"):
        AuditStore.open(blocker / "security")
    with pytest.raises(StateDirError, match="not a directory"):
        AuditStore.open(blocker)


def test_corrupted_database_is_reported_and_left_untouched(state_dir: Path) -> None:
    state_dir.mkdir(parents=True, mode=0o700)
    damaged = b"this is not sqlite " * 500
    (state_dir / "security.db").write_bytes(damaged)
    with pytest.raises(LedgerCorruptError) as info:
        AuditStore.open(state_dir)
    message = str(info.value)
    assert str(state_dir / "security.db") in message and "set it aside" in message
    assert (state_dir / "security.db").read_bytes() == damaged
    with pytest.raises(LedgerCorruptError):
        verify_ledger(state_dir)
    assert (state_dir / "security.db").read_bytes() == damaged


def test_key_readable_by_others_is_refused(state_dir: Path) -> None:
    AuditStore.open(state_dir).close()
    key = state_dir / "ledger-signing.key"
    os.chmod(key, 0o644)
    with pytest.raises(SigningKeyError, match="chmod 600"):
        AuditStore.open(state_dir)


def test_replaced_public_key_file_is_refused(state_dir: Path) -> None:
    AuditStore.open(state_dir).close()
    (state_dir / "ledger-signing.pub").write_text("00" * 32 + "\n")
    with pytest.raises(SigningKeyError, match="does not match"):
        AuditStore.open(state_dir)


def test_garbage_key_file_is_refused(state_dir: Path) -> None:
    state_dir.mkdir(parents=True, mode=0o700)
    key = state_dir / "ledger-signing.key"
    key.write_text("not hex")
    os.chmod(key, 0o600)
    with pytest.raises(SigningKeyError, match="not a 32-byte"):
        AuditStore.open(state_dir)
    assert key.read_text() == "not hex"


def test_append_many_is_atomic_and_contiguous(store: AuditStore) -> None:
    entries = store.append_many([draft(i) for i in range(25)])
    assert [e.seq for e in entries] == list(range(1, 26))
    assert all(b.prev_hash == a.entry_hash for a, b in zip(entries, entries[1:], strict=False))
    assert store.append_many([]) == []


def test_draft_default_detail_is_empty(store: AuditStore) -> None:
    entry = store.append(LedgerEntryDraft(kind="config", extension_id=None, decision="allow", reason="x"))
    assert entry.detail == {} and entry.layer is None


def test_read_only_store_reads_and_refuses_writes(state_dir: Path) -> None:
    with pytest.raises(AuditStoreError, match="no audit database"):
        AuditStore.open_read_only(state_dir)
    assert not state_dir.exists()
    with AuditStore.open(state_dir) as writer:
        fill(writer, 3)
    reader = AuditStore.open_read_only(state_dir)
    assert [e.seq for e in reader.query_ledger()] == [1, 2, 3]
    for write in (lambda: reader.append(draft(9)), lambda: reader.record("install", {}),
                  lambda: reader.checkpoint()):
        with pytest.raises(AuditStoreError, match="read-only"):
            write()
    reader.close()
    assert verify_ledger(state_dir).checkpoints_checked == 1  # the reader sealed nothing


def test_verify_runs_on_a_consistent_snapshot_while_appending(state_dir: Path) -> None:
    store = AuditStore.open(state_dir, checkpoint_interval=7)
    stop, started = threading.Event(), threading.Event()

    def writer() -> None:
        i = 0
        while not stop.is_set():
            store.append_many([draft(i + k) for k in range(5)])
            started.set()
            i += 5

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        assert started.wait(timeout=30)
        counts = []
        for _ in range(15):
            report = verify_ledger(store)
            assert report.chain_valid, report.verification_errors[:3]
            counts.append(report.entry_count)
    finally:
        stop.set()
        thread.join()
        store.close()
    assert counts == sorted(counts) and counts[-1] > 0


def test_close_commits_a_ticket_whose_thread_gave_up(state_dir: Path) -> None:
    from pi_sandbox.audit.group_commit import Ticket
    from pi_sandbox.audit.records import prepare_entry

    store = AuditStore.open(state_dir)
    store.append(draft(1))
    orphan = Ticket([prepare_entry(draft(2))])
    with store._group._cond:  # what an appender interrupted while queued leaves behind
        store._group._queue.append(orphan)
    store.close()  # must neither hang nor drop the queued entry
    assert orphan.done and orphan.error is None and AuditStore._result(orphan)[0].seq == 2
    report = verify_ledger(state_dir)
    assert report.chain_valid and report.entry_count == 2 and report.unsealed_entries == 0


def test_two_stores_on_one_file_take_turns_without_forking_the_chain(state_dir: Path) -> None:
    """Each store trusts the head it committed last; the other's appends in between must not fork the chain
    (the unique seq makes a stale head fail before anything is written, and the commit starts over)."""
    first = AuditStore.open(state_dir, checkpoint_interval=7)
    second = AuditStore.open(state_dir, checkpoint_interval=7)
    try:
        entries = []
        for i in range(12):
            writer = (first, second)[i % 2]
            batch = [draft(i * 10 + j, forensic={"params": {"n": i * 10 + j}}) for j in range(1 + i % 3)]
            entries += writer.append_many(batch, sync=bool(i % 4 == 0))
        assert [e.seq for e in entries] == list(range(1, len(entries) + 1))
        for before, after in zip(entries, entries[1:], strict=False):
            assert after.prev_hash == before.entry_hash
        assert len(first.forensic_records(1, len(entries))) == len(entries)
    finally:
        first.close()
        second.close()
    report = verify_ledger(state_dir)
    assert report.chain_valid, report.verification_errors[:3]
    assert report.entry_count == len(entries)


def test_a_database_without_the_unique_seq_index_reads_the_head_at_every_commit(state_dir: Path) -> None:
    AuditStore.open(state_dir).close()
    conn = sqlite3.connect(state_dir / "security.db")
    conn.execute("DROP INDEX ledger_by_seq")
    conn.commit()
    conn.close()
    first = AuditStore.open(state_dir)
    second = AuditStore.open(state_dir)
    try:
        assert not first._seq_unique
        entries = [(first, second)[i % 2].append(draft(i), sync=False) for i in range(6)]
        assert [e.seq for e in entries] == [e.seq for e in sorted(entries, key=lambda e: e.seq)]
        for before, after in zip(entries, entries[1:], strict=False):
            assert (after.seq, after.prev_hash) == (before.seq + 1, before.entry_hash)
    finally:
        first.close()
        second.close()


def test_entry_fields_are_in_column_order() -> None:
    """entry_from_row builds the returned entry positionally: its fields must stay in LEDGER_COLUMNS order."""
    import dataclasses

    from pi_sandbox.audit.queries import LEDGER_COLUMNS, entry_from_row
    from pi_sandbox.audit.records import LedgerEntry

    names = [c.strip() for c in LEDGER_COLUMNS.split(",")]
    assert [f.name for f in dataclasses.fields(LedgerEntry)] == names
    row = [f"v{i}" for i in range(len(names))]
    row[names.index("detail")] = '{"k":1}'
    entry = entry_from_row(row)
    assert all(getattr(entry, n) == (row[i] if n != "detail" else {"k": 1}) for i, n in enumerate(names))


def test_lone_appender_after_another_writer_chains_onto_the_real_head(state_dir: Path) -> None:
    """The single-INSERT commit trusts the head it wrote last; another connection's append in between makes
    that INSERT fail on the unique seq (rolled back by itself) and the commit starts over on the real head."""
    first = AuditStore.open(state_dir, checkpoint_interval=1000)
    second = AuditStore.open(state_dir, checkpoint_interval=1000)
    try:
        a = first.append(draft(1), sync=False)
        b = second.append(draft(2), sync=False)
        c = first.append(draft(3), sync=False)  # first's hint is stale: seq 2 is taken
        assert (a.seq, b.seq, c.seq) == (1, 2, 3) and c.prev_hash == b.entry_hash
    finally:
        first.close()
        second.close()
    assert verify_ledger(state_dir).chain_valid
