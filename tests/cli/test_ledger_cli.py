"""``pi-sandbox security ledger verify|show`` and ``security alerts list`` through the real CLI entry point."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from pi_sandbox.audit import AlertDraft, AuditStore, LedgerEntryDraft
from pi_sandbox.cli.main import main
from tests.conftest import PiEnv


def populate(state_dir: Path, entries: int = 12) -> None:
    with AuditStore.open(state_dir, checkpoint_interval=5) as store:
        for i in range(entries):
            store.append(LedgerEntryDraft(
                kind="hostcall", extension_id=f"ext.{i % 2}", decision="deny" if i % 3 == 0 else "allow",
                reason="deny_caps" if i % 3 == 0 else "default_caps", call_id=f"c{i}", capability="read",
                method="fs", layer=4,
            ))
        store.record_alert(AlertDraft(category="policy_denial", severity="error", extension_id="ext.1",
                                      summary="exec denied", capability="exec"))
        store.record_alert(AlertDraft(category="quota_breach", severity="warning", extension_id="ext.0",
                                      summary="subprocess quota"))


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def tamper(state_dir: Path, sql: str) -> None:
    conn = sqlite3.connect(state_dir / "security.db")
    conn.execute(sql)
    conn.commit()
    conn.close()


def test_verify_valid_ledger_exits_zero(pi_env: PiEnv, capsys: pytest.CaptureFixture[str]) -> None:
    populate(pi_env.state_dir)
    code, out, _ = run(capsys, "security", "ledger", "verify", "--json")
    data = json.loads(out)
    assert code == 0
    assert data["chain_valid"] is True and data["entry_count"] == 12 and data["checkpoints_checked"] == 3
    code, out, _ = run(capsys, "security", "ledger", "verify")
    assert code == 0 and "VALID" in out and "entries:             12" in out


def test_verify_tampered_ledger_exits_one_naming_the_entry(
    pi_env: PiEnv, capsys: pytest.CaptureFixture[str]
) -> None:
    populate(pi_env.state_dir)
    tamper(pi_env.state_dir, "UPDATE ledger SET decision = 'allow' WHERE seq = 4")
    code, out, _ = run(capsys, "--json", "security", "ledger", "verify")
    data = json.loads(out)
    assert code == 1
    assert data["first_invalid_seq"] == 4
    assert data["verification_errors"][0]["kind"] == "hash_mismatch"
    code, out, _ = run(capsys, "security", "ledger", "verify")
    assert code == 1 and "INVALID" in out and "hash_mismatch" in out


def test_verify_truncated_ledger_exits_one(pi_env: PiEnv, capsys: pytest.CaptureFixture[str]) -> None:
    populate(pi_env.state_dir)
    tamper(pi_env.state_dir, "DELETE FROM ledger WHERE seq > 8")
    code, out, _ = run(capsys, "security", "ledger", "verify", "--json")
    assert code == 1
    assert {e["kind"] for e in json.loads(out)["verification_errors"]} == {"truncated", "rollback"}


def test_verify_on_fresh_state_dir_is_valid_and_creates_nothing(
    pi_env: PiEnv, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "security", "ledger", "verify", "--json")
    assert code == 0 and json.loads(out)["entry_count"] == 0
    assert not pi_env.db_path.exists()


def test_show_filters_by_extension_and_limit(pi_env: PiEnv, capsys: pytest.CaptureFixture[str]) -> None:
    populate(pi_env.state_dir)
    code, out, _ = run(capsys, "security", "ledger", "show", "--extension", "ext.1", "--json")
    assert code == 0
    assert [e["seq"] for e in json.loads(out)] == [2, 4, 6, 8, 10, 12]
    code, out, _ = run(capsys, "security", "ledger", "show", "--limit", "2", "--json")
    assert [e["seq"] for e in json.loads(out)] == [11, 12]
    code, out, _ = run(capsys, "security", "ledger", "show", "--limit", "3")
    lines = out.strip().splitlines()
    assert code == 0 and lines[0].startswith("SEQ") and len(lines) == 4 and "deny_caps" in out


def test_show_since_relative_and_iso(pi_env: PiEnv, capsys: pytest.CaptureFixture[str]) -> None:
    populate(pi_env.state_dir)
    code, out, _ = run(capsys, "security", "ledger", "show", "--since", "15m", "--json")
    assert code == 0 and len(json.loads(out)) == 12
    code, out, _ = run(capsys, "security", "ledger", "show", "--since", "2999-01-01T00:00:00Z", "--json")
    assert code == 0 and json.loads(out) == []
    code, out, _ = run(capsys, "security", "ledger", "show", "--since", "2000-01-01T00:00:00+00:00", "--json")
    assert len(json.loads(out)) == 12


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--since", "yesterday"], "invalid time 'yesterday'"),
        (["--since", "15x"], "invalid time"),
        (["--limit", "0"], "--limit"),
        (["--limit", "many"], "--limit"),
        # Regression: an enormous duration overflowed SQLite's integer binding (OverflowError traceback).
        (["--since", "99999999999999999999d"], "too large"),
        (["--limit", "99999999999999999999999"], "--limit"),
    ],
)
def test_show_bad_values_exit_two_without_traceback(
    pi_env: PiEnv, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    populate(pi_env.state_dir)
    code, out, err = run(capsys, "security", "ledger", "show", *args)
    assert code == 2 and message in err and "Traceback" not in err and out == ""


def test_show_is_read_only(pi_env: PiEnv, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "security", "ledger", "show", "--json")
    assert code == 0 and json.loads(out) == [] and not pi_env.state_dir.exists()
    populate(pi_env.state_dir, entries=7)  # checkpoints at 5 (interval) and 7 (close)
    tamper(pi_env.state_dir, "DELETE FROM ledger_checkpoints WHERE reason = 'close'")
    run(capsys, "security", "ledger", "show")
    conn = sqlite3.connect(pi_env.db_path)
    assert conn.execute("SELECT count(*) FROM ledger_checkpoints WHERE reason = 'close'").fetchone()[0] == 0
    conn.close()


def test_alerts_list_filters(pi_env: PiEnv, capsys: pytest.CaptureFixture[str]) -> None:
    populate(pi_env.state_dir)
    code, out, _ = run(capsys, "security", "alerts", "list", "--json")
    assert code == 0 and [a["category"] for a in json.loads(out)] == ["policy_violation", "quota_breach"]
    code, out, _ = run(capsys, "security", "alerts", "list", "--category", "policy_denial", "--json")
    assert [a["summary"] for a in json.loads(out)] == ["exec denied"]
    code, out, _ = run(capsys, "security", "alerts", "list", "--extension", "ext.0", "--json")
    assert [a["category"] for a in json.loads(out)] == ["quota_breach"]
    code, out, _ = run(capsys, "security", "alerts", "list", "--min-severity", "error")
    assert code == 0 and "exec denied" in out and "subprocess quota" not in out


def test_alerts_list_unknown_category_exits_two(pi_env: PiEnv, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "security", "alerts", "list", "--category", "bogus")
    assert code == 2 and "unknown alert category 'bogus'" in err and "quota_breach" in err


def test_corrupted_database_exits_one_with_guidance(pi_env: PiEnv, capsys: pytest.CaptureFixture[str]) -> None:
    """A damaged database is a finding (exit 1), not a usage error."""
    pi_env.state_dir.mkdir(parents=True)
    garbage = os.urandom(8192)
    pi_env.db_path.write_bytes(garbage)
    for argv in (["security", "ledger", "verify"], ["security", "ledger", "show"]):
        code, _, err = run(capsys, *argv)
        assert code == 1 and "damaged" in err and "set-aside --reason" in err and "Traceback" not in err
    assert pi_env.db_path.read_bytes() == garbage


def test_verify_in_a_real_process(pi_env: PiEnv) -> None:
    populate(pi_env.state_dir)
    tamper(pi_env.state_dir, "DELETE FROM ledger WHERE seq = 5")
    proc = subprocess.run(
        [sys.executable, "-m", "pi_sandbox.cli.main", "security", "ledger", "verify", "--json"],
        capture_output=True, text=True, timeout=60, env=os.environ.copy(),
    )
    assert proc.returncode == 1, proc.stderr
    assert json.loads(proc.stdout)["verification_errors"][0] == {
        "seq": 5, "kind": "missing", "message": "entry 5 is missing from the chain"
    }


def test_database_path_that_is_a_folder_is_an_error_not_an_empty_ledger(
    pi_env: PiEnv, capsys: pytest.CaptureFixture[str]
) -> None:
    """Regression: ``show`` and ``alerts list`` printed "(none)" and exited 0 when security.db was a folder."""
    pi_env.db_path.mkdir(parents=True)
    for argv in (["security", "ledger", "show"], ["security", "alerts", "list"], ["security", "ledger", "verify"]):
        code, out, err = run(capsys, *argv)
        assert code == 3 and str(pi_env.db_path) in err and "Traceback" not in err, argv  # environment
        assert "(none)" not in out


def test_state_dir_with_uri_characters_is_read_correctly(
    pi_env: PiEnv, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Regression: the read-only connection built a ``file:`` URI from the raw path, so a state dir
    containing '#', '?' or '%' opened another path (or failed) for ``show`` and ``verify``."""
    state_dir = pi_env.root / "state #1 ?x %41"
    monkeypatch.setenv("PI_SECURITY_DIR", str(state_dir))
    populate(state_dir)
    code, out, err = run(capsys, "security", "ledger", "verify", "--json")
    assert code == 0, err
    assert json.loads(out)["entry_count"] > 0
    code, out, err = run(capsys, "security", "ledger", "show", "--json")
    assert code == 0 and len(json.loads(out)) > 0, err


def test_verify_against_an_out_of_band_public_key(pi_env: PiEnv, capsys: pytest.CaptureFixture[str]) -> None:
    """Someone who can replace the whole state dir (ledger, key, .pub) re-seals a forged ledger with their
    own key; only a public key kept elsewhere detects it, so ``verify`` must accept one."""
    import shutil

    populate(pi_env.state_dir)
    original = (pi_env.state_dir / "ledger-signing.pub").read_text().strip()
    shutil.rmtree(pi_env.state_dir)
    populate(pi_env.state_dir)  # a forged history under a fresh key
    assert run(capsys, "security", "ledger", "verify")[0] == 0  # self-consistent on its own
    code, out, _ = run(capsys, "security", "ledger", "verify", "--public-key", original, "--json")
    data = json.loads(out)
    assert code == 1 and data["trust_anchor"] == "explicit"
    assert {e["kind"] for e in data["verification_errors"]} == {"bad_signature"}
    assert run(capsys, "security", "ledger", "verify", "--public-key", "zz")[0] == 2
