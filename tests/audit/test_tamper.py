"""Tampering with security.db is detected, each mode with the right finding kind.

The attacker here can edit the database with plain sqlite3 but cannot read the signing key.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from pi_sandbox.audit import GENESIS, AuditStore, verify_ledger
from pi_sandbox.audit.chain import checkpoint_payload
from pi_sandbox.hashing import canonical_json, sha256_hex

from .conftest import fill

COLUMNS = ("seq", "ts_ms", "kind", "extension_id", "call_id", "capability", "method", "params_hash",
           "decision", "layer", "reason", "detail", "prev_hash")


@pytest.fixture()
def sealed(state_dir: Path) -> Path:
    """A closed ledger of 35 entries: interval checkpoints at 10, 20, 30 and a close checkpoint at 35."""
    with AuditStore.open(state_dir, checkpoint_interval=10) as store:
        fill(store, 35)
    report = verify_ledger(state_dir)
    assert report.chain_valid and report.entry_count == 35 and report.checkpoints_checked == 4
    return state_dir


def attacker(state_dir: Path) -> sqlite3.Connection:
    return sqlite3.connect(state_dir / "security.db", isolation_level=None)


def kinds(state_dir: Path) -> list[tuple[int, str]]:
    report = verify_ledger(state_dir)
    assert not report.chain_valid
    assert report.first_invalid_seq == min(e.seq for e in report.verification_errors)
    return [(e.seq, e.kind) for e in report.verification_errors]


def honest_hash(row: dict[str, object]) -> str:
    """What an attacker who knows the format (but not the key) computes: RFC 8785 + SHA-256."""
    body = dict(row)
    body["detail"] = json.loads(str(body["detail"]))
    return sha256_hex(canonical_json(body))


def rewrite_chain(conn: sqlite3.Connection) -> None:
    """Re-link every entry from GENESIS with correct hashes (a consistent rewrite)."""
    prev = GENESIS
    rows = conn.execute(f"SELECT id, {', '.join(COLUMNS)} FROM ledger ORDER BY seq").fetchall()
    for row in rows:
        body = dict(zip(COLUMNS, row[1:], strict=True))
        body["prev_hash"] = prev
        digest = honest_hash(body)
        conn.execute("UPDATE ledger SET prev_hash = ?, entry_hash = ? WHERE id = ?", (prev, digest, row[0]))
        prev = digest


def test_untouched_ledger_verifies(sealed: Path) -> None:
    report = verify_ledger(sealed)
    assert report.to_dict()["verification_errors"] == []
    assert report.head_seq == 35 and report.trust_anchor == "private_key"


def test_edited_field_is_hash_mismatch(sealed: Path) -> None:
    attacker(sealed).execute("UPDATE ledger SET decision = 'deny' WHERE seq = 7")
    assert kinds(sealed) == [(7, "hash_mismatch")]


def test_edited_detail_is_hash_mismatch(sealed: Path) -> None:
    attacker(sealed).execute("""UPDATE ledger SET detail = '{"bytes":0,"codes":["ok"]}' WHERE seq = 12""")
    assert kinds(sealed) == [(12, "hash_mismatch")]


def test_deleted_row_is_missing(sealed: Path) -> None:
    attacker(sealed).execute("DELETE FROM ledger WHERE seq = 7")
    assert kinds(sealed) == [(7, "missing")]


def test_deleted_prefix_is_missing_from_seq_one(sealed: Path) -> None:
    attacker(sealed).execute("DELETE FROM ledger WHERE seq <= 3")
    assert kinds(sealed) == [(1, "missing")]


def test_inserted_row_is_duplicate(sealed: Path) -> None:
    conn = attacker(sealed)
    conn.execute("DROP INDEX ledger_by_seq")  # the attacker removes the uniqueness guard first
    prev = conn.execute("SELECT entry_hash FROM ledger WHERE seq = 6").fetchone()[0]
    forged = {"seq": 7, "ts_ms": 1, "kind": "hostcall", "extension_id": "ext.alpha", "call_id": "forged",
              "capability": "read", "method": "fs", "params_hash": None, "decision": "allow", "layer": 4,
              "reason": "default_caps", "detail": "{}", "prev_hash": prev}
    conn.execute(
        f"INSERT INTO ledger({', '.join(COLUMNS)}, entry_hash) VALUES ({', '.join('?' * 14)})",
        (*forged.values(), honest_hash(forged)),
    )
    assert kinds(sealed) == [(7, "duplicate")]


def test_moved_row_is_reordered(sealed: Path) -> None:
    attacker(sealed).execute("UPDATE ledger SET id = (SELECT max(id) + 1 FROM ledger) WHERE seq = 7")
    assert kinds(sealed) == [(7, "reordered")]


def test_swapped_rows_are_reordered(sealed: Path) -> None:
    conn = attacker(sealed)
    conn.execute("UPDATE ledger SET id = -1 WHERE seq = 4")
    conn.execute("UPDATE ledger SET id = 4 WHERE seq = 5")
    conn.execute("UPDATE ledger SET id = 5 WHERE seq = 4")
    assert kinds(sealed) == [(4, "reordered")]


def test_truncated_tail_is_truncated(sealed: Path) -> None:
    attacker(sealed).execute("DELETE FROM ledger WHERE seq > 31")
    # The close checkpoint still seals seq 35, and so does the anchor outside the database.
    assert kinds(sealed) == [(35, "rollback"), (35, "truncated")]


def test_consistent_rewrite_without_key_is_bad_signature(sealed: Path) -> None:
    conn = attacker(sealed)
    conn.execute("UPDATE ledger SET decision = 'allow', reason = 'permissive' WHERE seq = 3")
    rewrite_chain(conn)
    found = kinds(sealed)
    # The chain itself is self-consistent; every checkpoint and the anchor outside the database disagree.
    assert found == [(10, "bad_signature"), (20, "bad_signature"), (30, "bad_signature"),
                     (35, "bad_signature"), (35, "rollback")]


def test_rewrite_resealed_with_attackers_own_key_is_bad_signature(sealed: Path) -> None:
    conn = attacker(sealed)
    conn.execute("UPDATE ledger SET decision = 'allow' WHERE seq = 3")
    rewrite_chain(conn)
    fake = Ed25519PrivateKey.generate()
    fake_pub = fake.public_key().public_bytes_raw().hex()
    for cp_id, seq, ts in conn.execute("SELECT id, seq, ts_ms FROM ledger_checkpoints").fetchall():
        head = conn.execute("SELECT entry_hash FROM ledger WHERE seq = ?", (seq,)).fetchone()[0]
        signature = fake.sign(checkpoint_payload(seq, head, ts)).hex()
        conn.execute(
            "UPDATE ledger_checkpoints SET head_hash = ?, public_key = ?, signature = ? WHERE id = ?",
            (head, fake_pub, signature, cp_id),
        )
    assert {kind for _, kind in kinds(sealed)} == {"bad_signature"}


def test_checkpoint_head_edited_without_resigning_is_bad_signature(sealed: Path) -> None:
    attacker(sealed).execute("UPDATE ledger_checkpoints SET head_hash = ? WHERE seq = 20", ("ab" * 32,))
    assert kinds(sealed) == [(20, "bad_signature")]


def test_broken_link_is_link_broken(sealed: Path) -> None:
    conn = attacker(sealed)
    # Re-hash entry 9 honestly after pointing it elsewhere: only the link is wrong.
    row = conn.execute(f"SELECT {', '.join(COLUMNS)} FROM ledger WHERE seq = 9").fetchone()
    body = dict(zip(COLUMNS, row, strict=True))
    body["prev_hash"] = "00" * 32
    conn.execute("UPDATE ledger SET prev_hash = ?, entry_hash = ? WHERE seq = 9",
                 (body["prev_hash"], honest_hash(body)))
    found = kinds(sealed)
    assert (9, "link_broken") in found


def test_deleted_database_with_key_present_is_missing(sealed: Path) -> None:
    for name in ("security.db", "security.db-wal", "security.db-shm", "ledger-anchor.json", "ledger-anchor.head"):
        (sealed / name).unlink(missing_ok=True)
    assert kinds(sealed) == [(0, "missing")]


def test_verification_needs_only_the_public_key(sealed: Path) -> None:
    (sealed / "ledger-signing.key").unlink()
    report = verify_ledger(sealed / "security.db")
    assert report.chain_valid and report.trust_anchor == "public_key_file"
    attacker(sealed).execute("UPDATE ledger SET reason = 'x' WHERE seq = 2")
    rewrite_chain(attacker(sealed))
    assert not verify_ledger(sealed).chain_valid


def test_report_dict_has_the_documented_fields(sealed: Path) -> None:
    attacker(sealed).execute("DELETE FROM ledger WHERE seq = 2")
    data = verify_ledger(sealed).to_dict()
    assert data["schema"] == "pi.security.ledger_verification_report.v1"
    assert {"chain_valid", "entry_count", "checkpoints_checked", "head_hash", "first_invalid_seq",
            "verification_errors"} <= set(data)
    assert data["verification_errors"][0] == {
        "seq": 2, "kind": "missing", "message": "entry 2 is missing from the chain"
    }
    assert data["entry_count"] == 34 and data["first_invalid_seq"] == 2


def test_forged_row_with_huge_seq_is_reported_without_exhausting_memory(sealed: Path) -> None:
    conn = attacker(sealed)
    prev = conn.execute("SELECT entry_hash FROM ledger WHERE seq = 35").fetchone()[0]
    forged = {"seq": 10**15, "ts_ms": 1, "kind": "hostcall", "extension_id": "x", "call_id": None,
              "capability": None, "method": None, "params_hash": None, "decision": "allow", "layer": None,
              "reason": "r", "detail": "{}", "prev_hash": prev}
    conn.execute(
        f"INSERT INTO ledger({', '.join(COLUMNS)}, entry_hash) VALUES ({', '.join('?' * 14)})",
        (*forged.values(), honest_hash(forged)),
    )
    report = verify_ledger(sealed)
    assert [(e.seq, e.kind) for e in report.verification_errors] == [(36, "missing")]
    assert report.verification_errors[0].message == f"entries 36..{10**15 - 1} are missing from the chain"


def test_seq_rewritten_as_text_is_hash_mismatch(sealed: Path) -> None:
    attacker(sealed).execute("UPDATE ledger SET seq = 'seven' WHERE seq = 7")
    found = kinds(sealed)
    assert (0, "hash_mismatch") in found and (7, "missing") in found


def test_malformed_checkpoint_row_is_bad_signature(sealed: Path) -> None:
    attacker(sealed).execute("UPDATE ledger_checkpoints SET ts_ms = 'noon' WHERE seq = 20")
    assert kinds(sealed) == [(20, "bad_signature")]


def test_dropped_ledger_table_is_missing(sealed: Path) -> None:
    attacker(sealed).execute("DROP TABLE ledger")
    assert kinds(sealed) == [(0, "missing")]


def test_many_findings_are_capped(state_dir: Path) -> None:
    with AuditStore.open(state_dir, checkpoint_interval=100_000) as store:
        fill(store, 1500)
    attacker(state_dir).execute("UPDATE ledger SET reason = 'edited'")
    report = verify_ledger(state_dir)
    assert len(report.verification_errors) == 1000 and report.errors_truncated
    assert report.first_invalid_seq == 1


def test_shuffled_ledger_without_seq_index_reports_each_moved_row(state_dir: Path) -> None:
    with AuditStore.open(state_dir, checkpoint_interval=100_000) as store:
        fill(store, 400)
    conn = attacker(state_dir)
    conn.execute("DROP INDEX ledger_by_seq")
    # Reverse the physical order of every row: ids 1..400 become 400..1.
    conn.execute("UPDATE ledger SET id = -id")
    conn.execute("UPDATE ledger SET id = 401 + id")
    found = kinds(state_dir)
    assert {kind for _, kind in found} == {"reordered"}
    assert [seq for seq, _ in found] == list(range(1, 400))  # every row but the first one read (seq 400)


_EDITABLE = (*COLUMNS, "entry_hash")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    seq=st.integers(1, 35),
    column=st.sampled_from(_EDITABLE),
    value=st.none() | st.integers(-3, 10**6) | st.text(max_size=12) | st.sampled_from(["ab" * 32, "{}"]),
)
def test_any_single_value_edit_is_detected(
    sealed: Path, tmp_path_factory: pytest.TempPathFactory, seq: int, column: str, value: object
) -> None:
    copy = tmp_path_factory.mktemp("edit")
    for name in ("security.db", "security.db-wal", "ledger-signing.key", "ledger-signing.pub"):
        if (sealed / name).exists():
            shutil.copy2(sealed / name, copy / name)
    conn = attacker(copy)
    before = conn.execute(f"SELECT {column} FROM ledger WHERE seq = ?", (seq,)).fetchone()[0]
    try:
        conn.execute(f"UPDATE ledger SET {column} = ? WHERE seq = ?", (value, seq))
    except sqlite3.IntegrityError:  # NOT NULL / UNIQUE refused the edit: nothing changed
        assume(False)
    after_row = conn.execute(f"SELECT {column} FROM ledger WHERE rowid = ?", (seq,)).fetchone()
    assume(after_row is not None and after_row[0] != before)
    conn.close()
    assert not verify_ledger(copy).chain_valid
