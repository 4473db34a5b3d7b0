"""The head anchor outside the database: rollback, replacement and deletion are never "valid".

Each test damages the evidence the way an attacker with file access would (plain sqlite3, cp, rm)
and checks both the verifier's finding and that a writer refuses to carry on on top of it.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from pi_sandbox.audit import AuditStore, verify_ledger
from pi_sandbox.audit.anchor import HEAD_FILE, SEAL_FILE, Witness
from pi_sandbox.errors import LedgerRollbackError

from .conftest import fill

DB_FILES = ("security.db", "security.db-wal", "security.db-shm")


def kinds(state_dir: Path, copy: Path | None = None) -> set[tuple[int, str]]:
    report = verify_ledger(state_dir, anchor_copy=copy)
    assert not report.chain_valid
    return {(e.seq, e.kind) for e in report.verification_errors}


def delete_sql(state_dir: Path, *statements: str) -> None:
    conn = sqlite3.connect(state_dir / "security.db", isolation_level=None)
    for sql in statements:
        conn.execute(sql)
    conn.close()


def snapshot(state_dir: Path, into: Path, names: tuple[str, ...] = DB_FILES) -> None:
    into.mkdir(parents=True, exist_ok=True)
    for name in names:
        if (state_dir / name).exists():
            shutil.copy2(state_dir / name, into / name)


def restore(state_dir: Path, frm: Path, names: tuple[str, ...] = DB_FILES) -> None:
    for name in names:
        (state_dir / name).unlink(missing_ok=True)
        if (frm / name).exists():
            shutil.copy2(frm / name, state_dir / name)


def closed_ledger(state_dir: Path, entries: int = 35, interval: int = 10) -> None:
    with AuditStore.open(state_dir, checkpoint_interval=interval) as store:
        fill(store, entries)
    assert verify_ledger(state_dir).chain_valid


def assert_writer_refuses(state_dir: Path, copy: Path | None = None) -> None:
    # (-shm is SQLite's shared-memory index, rebuilt by any reader; it holds no evidence.)
    before = {p.name: p.read_bytes() for p in state_dir.iterdir() if p.is_file() and not p.name.endswith("-shm")}
    with pytest.raises(LedgerRollbackError, match="ledger verify"):
        AuditStore.open(state_dir, anchor_copy=copy)
    after = {p.name: p.read_bytes() for p in state_dir.iterdir() if p.is_file() and p.name in before}
    assert after == before  # nothing was written on top of the evidence
    assert {p.name for p in state_dir.iterdir() if p.name in ("security.db", "security.db-wal")} <= set(before)


def test_clean_ledger_has_a_signed_seal_at_its_head(state_dir: Path) -> None:
    closed_ledger(state_dir)
    seal = json.loads((state_dir / SEAL_FILE).read_text())
    report = verify_ledger(state_dir)
    assert seal["seq"] == report.head_seq == 35 and seal["head_hash"] == report.head_hash
    assert seal["reason"] == "close" and len(seal["signature"]) == 128
    assert {a.source for a in report.anchors} == {"seal", "head"}
    assert oct((state_dir / SEAL_FILE).stat().st_mode & 0o777) == "0o600"


def test_tail_deleted_with_its_checkpoints_is_rollback(state_dir: Path) -> None:
    # The rollback the chain and the checkpoints alone cannot see: the newest entries and every
    # checkpoint after them are gone, leaving a shorter, consistent, correctly signed ledger.
    closed_ledger(state_dir)
    delete_sql(state_dir, "DELETE FROM ledger WHERE seq > 20", "DELETE FROM ledger_checkpoints WHERE seq > 20")
    assert kinds(state_dir) == {(35, "rollback")}
    assert_writer_refuses(state_dir)


def test_tail_deleted_while_the_writer_runs_is_rollback(state_dir: Path) -> None:
    # No checkpoint covers these entries yet: the head anchor, moved after every commit, does.
    store = AuditStore.open(state_dir, checkpoint_interval=1000)
    try:
        for i in range(12):
            fill(store, 1, start=i)
        delete_sql(state_dir, "DELETE FROM ledger WHERE seq > 9")
        assert kinds(state_dir) == {(12, "rollback")}
    finally:
        store._release()  # the "crash": nothing sealed on the way out


def test_database_replaced_by_an_older_copy_is_rollback(state_dir: Path, tmp_path: Path) -> None:
    with AuditStore.open(state_dir, checkpoint_interval=10) as store:
        fill(store, 15)
    snapshot(state_dir, tmp_path / "old")
    with AuditStore.open(state_dir, checkpoint_interval=10) as store:
        fill(store, 20, start=15)
    restore(state_dir, tmp_path / "old")
    found = kinds(state_dir)
    assert (35, "rollback") in found and {k for _, k in found} == {"rollback"}
    assert_writer_refuses(state_dir)


def test_database_replaced_by_an_empty_one_is_rollback(state_dir: Path, tmp_path: Path) -> None:
    closed_ledger(state_dir)
    other = tmp_path / "elsewhere"
    with AuditStore.open(other):
        pass  # a fresh, valid, empty ledger (its own id)
    restore(state_dir, other)
    report = verify_ledger(state_dir)
    assert not report.chain_valid and report.entry_count == 0
    # Its checkpoint is signed by another key too (bad_signature); the anchor says what happened.
    rollback = [e for e in report.verification_errors if e.kind == "rollback"]
    assert len(rollback) == 1 and "replaced" in rollback[0].message
    assert_writer_refuses(state_dir)


def test_database_emptied_in_place_is_rollback(state_dir: Path) -> None:
    closed_ledger(state_dir)
    delete_sql(state_dir, "DELETE FROM ledger", "DELETE FROM ledger_checkpoints")
    assert kinds(state_dir) == {(35, "rollback")}


def test_deleted_database_is_missing_and_never_recreated_empty(state_dir: Path) -> None:
    closed_ledger(state_dir)
    for name in DB_FILES:
        (state_dir / name).unlink(missing_ok=True)
    report = verify_ledger(state_dir)
    assert not report.chain_valid and {e.kind for e in report.verification_errors} == {"missing"}
    assert "35 entries" in report.verification_errors[0].message
    assert_writer_refuses(state_dir)
    assert not (state_dir / "security.db").exists()


def test_deleted_seal_is_missing(state_dir: Path) -> None:
    closed_ledger(state_dir)
    (state_dir / SEAL_FILE).unlink()
    (state_dir / HEAD_FILE).unlink()
    assert kinds(state_dir) == {(0, "missing")}
    assert_writer_refuses(state_dir)


def test_damaged_seal_is_missing(state_dir: Path) -> None:
    closed_ledger(state_dir)
    (state_dir / SEAL_FILE).write_text("{}\n")
    assert (0, "missing") in kinds(state_dir)


def test_seal_forged_with_another_key_is_bad_signature(state_dir: Path) -> None:
    closed_ledger(state_dir)
    seal = json.loads((state_dir / SEAL_FILE).read_text())
    forged = Witness("seal", seal["ledger_id"], 3, seal["head_hash"], seal["ts_ms"], "close")
    key = Ed25519PrivateKey.generate()
    seal.update(seq=3, public_key=key.public_key().public_bytes_raw().hex(), signature=key.sign(forged.payload()).hex())
    (state_dir / SEAL_FILE).write_text(json.dumps(seal))
    assert (3, "bad_signature") in kinds(state_dir)


def test_whole_state_dir_rolled_back_is_caught_by_the_anchor_copy(state_dir: Path, tmp_path: Path) -> None:
    copy = tmp_path / "other-mount" / "ledger-anchor.log"
    copy.parent.mkdir()
    with AuditStore.open(state_dir, checkpoint_interval=10, anchor_copy=copy) as store:
        fill(store, 12)
    everything = tuple(p.name for p in state_dir.iterdir() if p.is_file())
    snapshot(state_dir, tmp_path / "old", everything)
    with AuditStore.open(state_dir, checkpoint_interval=10, anchor_copy=copy) as store:
        fill(store, 30, start=12)
    restore(state_dir, tmp_path / "old", everything)  # database *and* anchor files rolled back together
    assert verify_ledger(state_dir).chain_valid  # consistent in itself: only the copy knows better
    assert kinds(state_dir, copy) == {(42, "rollback")}
    assert_writer_refuses(state_dir, copy)
    lines = copy.read_text().splitlines()
    assert [json.loads(line)["reason"] for line in lines][-1] == "close" and len(lines) >= 5


def test_anchor_copy_emptied_is_missing(state_dir: Path, tmp_path: Path) -> None:
    copy = tmp_path / "anchor-copy.log"
    with AuditStore.open(state_dir, anchor_copy=copy) as store:
        fill(store, 3)
    copy.write_text("")
    assert kinds(state_dir, copy) == {(0, "missing")}


def test_a_second_writer_does_not_mistake_a_live_tail_for_a_crash(state_dir: Path) -> None:
    first = AuditStore.open(state_dir, checkpoint_interval=1000)
    try:
        fill(first, 7)
        with AuditStore.open(state_dir, checkpoint_interval=1000) as second:
            assert second.head()[0] == 7  # no recovery entry: the first writer is alive
            assert second.last_checkpoint() is None
        fill(first, 1, start=7)
    finally:
        first.close()
    assert [e.reason for e in AuditStore.open_read_only(state_dir).query_ledger()].count("recovered_after_crash") == 0


_CHILD = r"""
import sys, time
from pathlib import Path
from pi_sandbox.audit import AuditStore, LedgerEntryDraft
store = AuditStore.open(Path(sys.argv[1]), checkpoint_interval=1000)
for i in range(int(sys.argv[2])):
    store.append(LedgerEntryDraft(kind="hostcall", extension_id=f"ext.{i % 3}", decision="deny" if i % 4 else "allow",
                                  reason="deny_caps", call_id=f"c{i}"))
print("ready", flush=True)
time.sleep(600)
"""


def crash_after(state_dir: Path, entries: int) -> None:
    """A writer process appends ``entries`` (all acknowledged) and is SIGKILLed before it can close."""
    child = subprocess.Popen([sys.executable, "-c", _CHILD, str(state_dir), str(entries)],
                             stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "ready"
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)


def test_crashed_tail_is_sealed_with_what_was_found(state_dir: Path) -> None:
    closed_ledger(state_dir, entries=5)
    crash_after(state_dir, 9)
    report = verify_ledger(state_dir)
    assert report.chain_valid and report.unsealed_entries == 9 and report.head_seq == 14
    with AuditStore.open(state_dir) as store:
        recovered = store.query_ledger()[-1]
        assert store.last_checkpoint() == (15, recovered.entry_hash)
    assert (recovered.kind, recovered.reason, recovered.seq) == ("recovery", "recovered_after_crash", 15)
    assert recovered.detail["last_checkpoint_seq"] == 5 and recovered.detail["found_head_seq"] == 14
    assert recovered.detail["unsealed_entries"] == 9 and recovered.detail["head_anchor_seq"] == 14
    assert recovered.detail["found_head_hash"] == report.head_hash
    assert recovered.detail["tail"] == {"by_kind_decision": {"hostcall:allow": 3, "hostcall:deny": 6},
                                        "extensions": ["ext.0", "ext.1", "ext.2"]}
    conn = sqlite3.connect(state_dir / "security.db")
    reasons = [r[0] for r in conn.execute("SELECT reason FROM ledger_checkpoints ORDER BY id")]
    conn.close()
    assert "recovered_after_crash" in reasons
    after = verify_ledger(state_dir)
    assert after.chain_valid and after.unsealed_entries == 0
    assert json.loads((state_dir / SEAL_FILE).read_text())["seq"] == 15


def test_crashed_tail_deleted_before_recovery_is_refused(state_dir: Path) -> None:
    crash_after(state_dir, 12)
    delete_sql(state_dir, "DELETE FROM ledger WHERE seq > 8")
    assert kinds(state_dir) == {(12, "rollback")}
    assert_writer_refuses(state_dir)


def test_cli_verify_exits_one_naming_the_kind(state_dir: Path, tmp_path: Path) -> None:
    closed_ledger(state_dir)
    delete_sql(state_dir, "DELETE FROM ledger WHERE seq > 20", "DELETE FROM ledger_checkpoints WHERE seq > 20")
    env = {**os.environ, "PI_SECURITY_DIR": str(state_dir), "HOME": str(tmp_path)}
    done = subprocess.run([sys.executable, "-m", "pi_sandbox.cli.main", "security", "ledger", "verify", "--json"],
                          capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
    assert done.returncode == 1, done.stderr
    assert {e["kind"] for e in json.loads(done.stdout)["verification_errors"]} == {"rollback"}
