"""VERIFY checks the bundle COLLECT recorded, not just any bundle that passes the five steps.

Before: an older (smaller) bundle of the same ledger copied over ``bundle.json`` verified as "verified"
(every step passes: it is a genuine bundle, signed with the ledger's key), and a truncated ``bundle.json``
made ``incident verify`` exit 2 ("check the filter and redaction options") with nothing recorded, so the
incident could never get past VERIFY. Now both are a recorded, failed verification (exit 1), and COLLECT may
run again, keeping the file it found as evidence.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pi_sandbox.dispatch import Sandbox
from tests.conftest import PiEnv
from tests.incident.test_inc2_end_to_end import ATTACKER, SECRET, run, run_json, scenario  # noqa: F401 (fixture)


def collected(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> tuple[Path, Path]:
    """An INC-2 up to COLLECT, and an earlier genuine bundle of the same ledger (exported before)."""
    older = tmp_path / "older.json"
    assert run(capsys, "security", "bundle", "export", "--out", str(older), "-e", ATTACKER)[0] == 0
    run_json(capsys, "incident", "open", "--kind", "INC-2", "-e", ATTACKER)
    run_json(capsys, "incident", "contain")
    bundle = Path(run_json(capsys, "incident", "collect")["report"]["bundle_path"])
    return bundle, older


def test_a_swapped_genuine_bundle_fails_verify(
    scenario: Sandbox, pi_env: PiEnv, capsys: pytest.CaptureFixture[str], tmp_path: Path  # noqa: F811
) -> None:
    bundle, older = collected(capsys, tmp_path)
    assert run(capsys, "security", "bundle", "verify", str(older))[0] == 0  # a valid bundle in its own right
    bundle.write_bytes(older.read_bytes())

    verified = run_json(capsys, "incident", "verify", code=1)
    assert verified["ok"] is False and verified["detail"]["bundle_as_collected"] is False
    assert verified["detail"]["bundle_valid"] is True  # the five steps alone would have passed it
    assert "the file was replaced" in verified["detail"]["bundle_error"]
    code, out, _ = run(capsys, "incident", "verify")
    assert code == 1 and "bundle: the one collect recorded" in out and "incident collect" in out
    code, _, err = run(capsys, "incident", "analyze")  # nothing is analysed from the wrong bundle
    assert code == 2 and "not the bundle collect recorded" in err and "Traceback" not in err

    # COLLECT runs again; the swapped file is kept; VERIFY then passes and the incident closes.
    again = run_json(capsys, "incident", "collect")
    kept = list(bundle.parent.glob("bundle.replaced-*.json"))
    assert len(kept) == 1 and kept[0].read_bytes() == older.read_bytes()
    assert json.loads(bundle.read_text())["bundle_hash"] == again["report"]["bundle_hash"]
    assert run_json(capsys, "incident", "verify")["ok"] is True
    run_json(capsys, "incident", "analyze")
    run_json(capsys, "incident", "close")
    code, _, err = run(capsys, "incident", "collect", "--incident", again["incident_id"])
    assert code == 2 and "closed" in err


@pytest.mark.parametrize("damage", ["truncated", "not_utf8", "empty", "array"])
def test_a_damaged_bundle_is_a_recorded_failed_verify(
    scenario: Sandbox, pi_env: PiEnv, capsys: pytest.CaptureFixture[str], tmp_path: Path,  # noqa: F811
    damage: str,
) -> None:
    bundle, _ = collected(capsys, tmp_path)
    raw = bundle.read_bytes()
    bundle.write_bytes({"truncated": raw[: len(raw) // 3], "not_utf8": b"\xff\xfe" + raw[2:], "empty": b"",
                        "array": b"[]"}[damage])

    verified: dict[str, Any] = run_json(capsys, "incident", "verify", code=1)
    assert verified["ok"] is False and verified["detail"]["bundle_as_collected"] is False
    error = verified["detail"]["bundle_error"]
    assert error.startswith("bundle.json no longer reads") and str(pi_env.state_dir) not in error
    code, out, err = run(capsys, "incident", "verify")
    assert code == 1 and "VERIFICATION FAILED" in out and "Traceback" not in err
    run_json(capsys, "incident", "collect")  # a new bundle from the ledger
    assert run_json(capsys, "incident", "verify")["ok"] is True
    # The ledger kept only names, hashes and counts: the new bundle's redaction step passes.
    assert run(capsys, "security", "bundle", "verify", str(bundle))[0] == 0
    assert SECRET not in bundle.read_text()
