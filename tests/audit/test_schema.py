"""Schema version 2: forensic records in the entry's own row, the narrowed kind index, and the migration of
version 1 databases (whose records stay in ``ledger_forensics`` and are read from there)."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path

from pi_sandbox.audit import AuditStore, verify_ledger
from pi_sandbox.audit.db import SCHEMA_VERSION, connect
from tests.audit.conftest import draft
from tests.audit.legacy import downgrade_to_v1


def _forensic_draft(n: int, kind: str = "hostcall", extension_id: str = "ext.alpha") -> object:
    return draft(n, extension_id=extension_id, kind=kind,
                 forensic={"params": {"path": f"src/{n}.ts"}, "remediation": f"fix {n}", "command_hash": None})


def _schema(db: Path) -> tuple[int, set[str], set[str], set[str]]:
    conn = sqlite3.connect(db)
    try:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        columns = {r[1] for r in conn.execute("PRAGMA table_info(ledger)")}
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        indexes = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index' AND "
                                               "tbl_name = 'ledger'")}
    finally:
        conn.close()
    return version, columns, tables, indexes


def test_a_new_database_keeps_forensic_records_in_the_entry_row(state_dir: Path) -> None:
    with AuditStore.open(state_dir) as store:
        entries = store.append_many([_forensic_draft(i) for i in range(5)], sync=False)
        entries.append(store.append(_forensic_draft(5), sync=False))
        assert store.forensic_fields(entries[2].seq)["params"] == {"path": "src/2.ts"}
        assert set(store.forensic_records(1, 6)) == {e.seq for e in entries}
    version, columns, tables, indexes = _schema(state_dir / "security.db")
    assert version == SCHEMA_VERSION == 2
    assert "forensic" in columns and "ledger_forensics" not in tables
    assert {"ledger_by_seq", "ledger_by_extension", "ledger_by_other_kind"} <= indexes
    assert "ledger_by_kind" not in indexes
    conn = sqlite3.connect(state_dir / "security.db")
    stored = conn.execute("SELECT count(*) FROM ledger WHERE forensic IS NOT NULL").fetchone()[0]
    conn.close()
    assert stored == 6


def test_a_version_1_database_is_read_in_place_and_migrated_on_the_first_writable_open(state_dir: Path) -> None:
    with AuditStore.open(state_dir) as store:
        old = store.append_many([_forensic_draft(i) for i in range(4)], sync=False)
        old_records = store.forensic_records(1, old[-1].seq)
    assert downgrade_to_v1(state_dir / "security.db") == 4
    version, columns, tables, indexes = _schema(state_dir / "security.db")
    assert (version, "forensic" in columns, "ledger_forensics" in tables) == (1, False, True)
    # Read-only (ledger show, replay on the CLI): nothing is migrated, the sidecar records are read.
    with AuditStore.open_read_only(state_dir) as store:
        assert store.forensic_records(1, old[-1].seq) == old_records
    assert _schema(state_dir / "security.db")[0] == 1
    assert verify_ledger(state_dir).chain_valid
    # The first writer migrates; old records stay where they are and still read; new ones go in the row.
    with AuditStore.open(state_dir) as store:
        new = store.append(_forensic_draft(10), sync=False)
        records = store.forensic_records(1, new.seq)
        assert {seq: records[seq] for seq in old_records} == old_records
        assert records[new.seq]["disclosed"]["remediation"]["value"] == "fix 10"
        assert store.raw_forensic_records(new.seq, new.seq)[new.seq].startswith('{"commitments":')
    version, columns, tables, indexes = _schema(state_dir / "security.db")
    assert (version, "forensic" in columns, "ledger_forensics" in tables) == (2, True, True)
    assert "ledger_by_kind" not in indexes and "ledger_by_other_kind" in indexes
    conn = sqlite3.connect(state_dir / "security.db")
    sidecar = {r[0] for r in conn.execute("SELECT seq FROM ledger_forensics")}
    conn.close()
    assert sidecar == {e.seq for e in old}  # the new entry wrote no sidecar row
    report = verify_ledger(state_dir)
    assert report.chain_valid and report.entry_count == new.seq


def test_concurrent_first_opens_migrate_once(state_dir: Path) -> None:
    with AuditStore.open(state_dir) as store:
        store.append(_forensic_draft(1), sync=False)
    downgrade_to_v1(state_dir / "security.db")
    errors: list[BaseException] = []
    gate = threading.Barrier(4)

    def opener() -> None:
        try:
            gate.wait()
            connect(state_dir / "security.db").close()
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=opener) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert _schema(state_dir / "security.db")[0] == 2


def _plans(store: AuditStore, query: Callable[[], object]) -> str:
    """The query plans of the statements ``query`` runs on the store's connection."""
    seen: list[str] = []
    with store._db() as conn:
        conn.set_trace_callback(seen.append)  # the SQL with its parameters expanded
        try:
            query()
        finally:
            conn.set_trace_callback(None)
        return " ".join(str(r[-1]) for sql in seen if sql.startswith("SELECT")
                        for r in conn.execute("EXPLAIN QUERY PLAN " + sql))


def test_queries_by_kind_and_extension_use_an_index(state_dir: Path) -> None:
    with AuditStore.open(state_dir) as store:
        store.append_many([_forensic_draft(i, extension_id=f"ext.{i % 5}") for i in range(200)], sync=False)
        trust = store.append(_forensic_draft(999, kind="trust"), sync=False)
        assert [e.seq for e in store.query_ledger(kind="trust")] == [trust.seq]
        assert len(store.query_ledger(kind="hostcall", extension_id="ext.3")) == 40
        assert store.count_decisions("ext.3") == (40, 0)
        assert "ledger_by_other_kind" in _plans(store, lambda: store.query_ledger(kind="trust"))
        assert "ledger_by_other_kind" in _plans(store, lambda: store.query_ledger(kind="trust", after_seq=5))
        assert "ledger_by_extension" in _plans(store, lambda: store.count_decisions("ext.3", 10))
        assert "ledger_by_extension" in _plans(
            store, lambda: store.query_ledger(extension_id="ext.3", kind="hostcall", after_seq=10))
        assert "ledger_by_extension" in _plans(store, lambda: store.query_ledger(extension_id="ext.3", limit=5))
