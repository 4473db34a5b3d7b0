"""Turn a closed database into the schema version 1 layout, byte for byte what pi-sandbox wrote before
schema 2: forensic records in the ``ledger_forensics`` sidecar table, the kind index over every entry."""

from __future__ import annotations

import sqlite3
from pathlib import Path


def downgrade_to_v1(db_path: Path) -> int:
    """Rewrite ``db_path`` (no store open on it) into the version 1 layout; returns the records moved."""
    conn = sqlite3.connect(db_path, isolation_level=None)
    try:
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("CREATE TABLE IF NOT EXISTS ledger_forensics (seq INTEGER PRIMARY KEY, payload TEXT NOT NULL)")
        moved = conn.execute("INSERT OR REPLACE INTO ledger_forensics(seq, payload) "
                             "SELECT seq, forensic FROM ledger WHERE forensic IS NOT NULL").rowcount
        conn.execute("DROP INDEX ledger_by_other_kind")
        conn.execute("ALTER TABLE ledger DROP COLUMN forensic")
        conn.execute("CREATE INDEX ledger_by_kind ON ledger(kind, seq)")
        conn.execute("PRAGMA user_version=1")
        conn.execute("COMMIT")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()
    return moved
