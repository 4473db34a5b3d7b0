"""A model of what a power loss leaves of the state dir: exactly what the store's syncs covered.

:func:`model_power_loss` wraps a store's WAL fdatasync: under the store's database lock (so no commit
lands in between), it syncs and then copies ``security.db`` and its WAL into a new numbered folder under
``disk`` (renamed into place when complete, so a process killed mid-copy leaves the previous one). The
newest folder is the state a power loss right after that sync would leave in the worst case: everything
written after the last sync is gone. Real syncs, real files, real SQLite; only the loss is modelled.
"""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path
from typing import Any

_FILES = ("security.db", "security.db-wal", "ledger-signing.pub")


def model_power_loss(store: Any, disk: Path) -> None:
    """From now on every sync of ``store`` also leaves a copy of what it made durable under ``disk``."""
    disk.mkdir(parents=True, exist_ok=True)
    real_fsync = store._fsync_wal
    counter = [len(list(disk.iterdir()))]

    def fsync_and_copy() -> None:
        with store._db_lock:
            real_fsync()
            counter[0] += 1
            staging = disk / f".staging-{counter[0]}"
            staging.mkdir()
            for name in _FILES:
                source = store.state_dir / name
                if source.exists():
                    shutil.copyfile(source, staging / name)
            staging.rename(disk / f"{counter[0]:08d}")
            for old in sorted(p for p in disk.iterdir() if not p.name.startswith("."))[:-2]:
                shutil.rmtree(old, ignore_errors=True)

    store._fsync_wal = fsync_and_copy


def surviving_entries(disk: Path, scratch: Path) -> dict[int, str]:
    """``{seq: entry_hash}`` of the ledger as the newest complete copy under ``disk`` holds it."""
    copies = sorted(p for p in disk.iterdir() if not p.name.startswith("."))
    if not copies:
        return {}
    shutil.copytree(copies[-1], scratch)  # opening replays the WAL: never touch the model itself
    conn = sqlite3.connect(scratch / "security.db")
    try:
        return {int(seq): str(digest) for seq, digest in conn.execute("SELECT seq, entry_hash FROM ledger")}
    finally:
        conn.close()


def surviving_call_ids(disk: Path, scratch: Path) -> set[str]:
    """The ``call_id`` of every ledger entry in the newest complete copy under ``disk``."""
    copies = sorted(p for p in disk.iterdir() if not p.name.startswith("."))
    if not copies:
        return set()
    shutil.copytree(copies[-1], scratch)
    conn = sqlite3.connect(scratch / "security.db")
    try:
        return {str(r[0]) for r in conn.execute("SELECT call_id FROM ledger WHERE call_id IS NOT NULL")}
    finally:
        conn.close()
