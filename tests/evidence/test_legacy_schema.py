"""Ledgers written before schema 2 (forensic records in the ``ledger_forensics`` sidecar table) verify,
export, replay and show exactly as the same ledger does with the records in the entries' own rows; a
record edited in either place fails the bundle's chain step."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from pi_sandbox.audit import AuditStore, verify_ledger
from pi_sandbox.evidence import build_bundle, replay_bundle, replay_ledger, verify_bundle
from tests.audit.legacy import downgrade_to_v1


def _key(state_dir: Path) -> str:
    return (state_dir / "ledger-signing.pub").read_text().strip()


def _legacy_copy(incident_ledger: Path, tmp_path: Path) -> Path:
    legacy = tmp_path / "legacy-state"
    shutil.copytree(incident_ledger, legacy)
    assert downgrade_to_v1(legacy / "security.db") > 0
    return legacy


def _view(state_dir: Path) -> dict[str, Any]:
    """What an operator sees of a ledger without writing to it: verification, replay, forensic fields."""
    report = verify_ledger(state_dir)
    with AuditStore.open_read_only(state_dir) as store:
        replay = replay_ledger(store)
        head = store.head()[0]
        fields = {seq: store.forensic_fields(seq) for seq in range(1, head + 1)}
        raw = store.raw_forensic_records(1, head)
    return {"valid": report.chain_valid, "entries": report.entry_count, "head": report.head_hash,
            "replay": (replay.counts, replay.differences, replay.config_changes, replay.risk),
            "fields": fields, "raw": raw}


def test_a_version_1_ledger_reads_exports_and_replays_as_before(incident_ledger: Path, tmp_path: Path) -> None:
    legacy = _legacy_copy(incident_ledger, tmp_path)
    current, old = _view(incident_ledger), _view(legacy)
    assert current["valid"] and current["raw"] and any(current["fields"].values())
    assert old == current
    with AuditStore.open(incident_ledger) as store:
        bundle = build_bundle(store)
    with AuditStore.open(legacy) as store:  # the writable open migrates it; old records stay in the sidecar
        legacy_bundle = build_bundle(store)
    assert legacy_bundle["risk_ledger"]["forensics"] == bundle["risk_ledger"]["forensics"]
    assert legacy_bundle["risk_ledger"]["entries"] == bundle["risk_ledger"]["entries"]
    assert verify_bundle(legacy_bundle, public_key=_key(legacy)).valid
    assert replay_bundle(legacy_bundle).counts == replay_bundle(bundle).counts
    assert _view(legacy)["fields"] == current["fields"]


@pytest.mark.parametrize("layout", ["row", "sidecar"])
def test_an_edited_forensic_record_fails_the_bundle_chain(incident_ledger: Path, tmp_path: Path,
                                                          layout: str) -> None:
    state = _legacy_copy(incident_ledger, tmp_path) if layout == "sidecar" else incident_ledger
    table, column = ("ledger_forensics", "payload") if layout == "sidecar" else ("ledger", "forensic")
    conn = sqlite3.connect(state / "security.db")
    seq, text = conn.execute(f"SELECT seq, {column} FROM {table} WHERE {column} LIKE '%\"cmd\":\"curl\"%' "
                             "ORDER BY seq LIMIT 1").fetchone()
    conn.execute(f"UPDATE {table} SET {column} = ? WHERE seq = ?", (text.replace('"curl"', '"true"'), seq))
    conn.commit()
    conn.close()
    assert verify_ledger(state).chain_valid  # the chain itself is intact: the record is beside it
    with AuditStore.open(state) as store:
        assert store.forensic_fields(seq)["params"]["cmd"] == "true"
        bundle = build_bundle(store)
    report = verify_bundle(bundle, public_key=_key(state))
    assert report.failed_steps == ["chain"]
    assert any(str(seq) in error and "forensic" in error for error in report.steps[1].errors)
