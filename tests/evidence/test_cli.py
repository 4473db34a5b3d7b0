"""``security bundle export|verify`` and ``debug hostcall --dry-run`` through the real CLI entry point."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pi_sandbox.cli.main import main
from pi_sandbox.evidence import compute_bundle_hash, load_bundle


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_export_then_verify_exit_zero(incident_ledger: Path, tmp_path: Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    out_file = tmp_path / "incident.json"
    code, out, err = run(capsys, "security", "bundle", "export", "--out", str(out_file), "-e", "ext.evil",
                         "--category", "secret_exposure", "--category", "exec_mediation", "--redact", "full",
                         "--json")
    assert code == 0, err
    data = json.loads(out)
    bundle = load_bundle(out_file)
    assert data["bundle_hash"] == bundle["bundle_hash"] and bundle["filter"]["extension_id"] == "ext.evil"
    assert bundle["filter"]["alert_categories"] == ["exec_mediation", "secret_exposure"]
    assert all(bundle["redaction"].values())
    assert {a["category"] for a in bundle["alerts"]} <= {"exec_mediation", "secret_exposure"}
    key = (incident_ledger / "ledger-signing.pub").read_text().strip()
    code, out, _ = run(capsys, "security", "bundle", "verify", str(out_file), "--public-key", key)
    assert code == 0 and "VALID" in out and "the --public-key given" in out


def test_verify_names_each_failed_step_and_exits_one(incident_ledger: Path, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    out_file = tmp_path / "b.json"
    assert run(capsys, "security", "bundle", "export", "--out", str(out_file))[0] == 0
    bundle: dict[str, Any] = load_bundle(out_file)
    bundle["summary"]["counts"]["alerts"] += 1
    bundle["schema"] = "something.else"
    bundle["bundle_hash"] = compute_bundle_hash(bundle)
    out_file.write_text(json.dumps(bundle))
    code, out, _ = run(capsys, "security", "bundle", "verify", str(out_file), "--json")
    report = json.loads(out)
    assert code == 1 and report["valid"] is False and report["failed_steps"] == ["summary", "schema"]
    code, out, _ = run(capsys, "security", "bundle", "verify", str(out_file))
    assert code == 1 and "INVALID (failed: summary, schema)" in out and "FAILED" in out


@pytest.mark.parametrize("argv", [
    ["security", "bundle", "export", "--out", "x.json", "--redact", "paramz_hash"],
    ["security", "bundle", "export", "--out", "x.json", "--category", "nonsense"],
    ["security", "bundle", "export", "--out", "x.json", "--min-severity", "loud"],
    ["security", "bundle", "export", "--out", "x.json", "--since", "yesterday-ish"],
], ids=["redact", "category", "severity", "since"])
def test_bad_export_options_are_usage_errors(incident_ledger: Path, capsys: pytest.CaptureFixture[str],
                                             argv: list[str]) -> None:
    code, _, err = run(capsys, *argv)
    assert code == 2 and err.startswith("pi-sandbox") and "Traceback" not in err
    assert not Path("x.json").exists()


def test_unreadable_bundles_and_missing_ledgers_are_clear_errors(pi_env: Any, tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "security", "bundle", "export", "--out", str(tmp_path / "b.json"))
    assert code == 2 and "no ledger" in err and not (tmp_path / "b.json").exists()
    (tmp_path / "junk.json").write_text("{not json")
    code, out, err = run(capsys, "security", "bundle", "verify", str(tmp_path / "junk.json"))
    assert code == 1 and str(tmp_path / "junk.json") in out and "Traceback" not in err  # damaged evidence
    code, _, err = run(capsys, "security", "bundle", "verify", str(tmp_path / "absent.json"))
    assert code == 2 and str(tmp_path / "absent.json") in err and "Traceback" not in err  # a wrong path


def test_dry_run_records_the_decision_but_never_calls_the_connector(pi_env: Any,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    from pi_sandbox.audit import AuditStore

    target = pi_env.workspace / "written.txt"
    params = json.dumps({"op": "write", "path": "written.txt", "data": "x"})
    code, out, _ = run(capsys, "debug", "hostcall", "-e", "ext.a", "--method", "fs", "--params", params,
                       "--dry-run", "--json")
    assert code == 0 and json.loads(out)["result"] == {"dry_run": True, "decision": "allow"}
    assert not target.exists()
    code, _, _ = run(capsys, "debug", "hostcall", "-e", "ext.a", "--method", "exec", "--params",
                     json.dumps({"cmd": "touch", "args": [str(target)]}), "--dry-run")
    assert code == 1 and not target.exists()  # denied in safe, and never run either way
    with AuditStore.open(pi_env.state_dir) as store:
        allowed, denied = [e for e in store.query_ledger(extension_id="ext.a")]
        assert allowed.decision == "allow" and allowed.detail["dry_run"] is True
        assert denied.decision == "deny" and denied.detail["dry_run"] is True
        assert store.forensic_fields(allowed.seq)["params"]["path"] == "written.txt"
    assert run(capsys, "debug", "hostcall", "-e", "ext.a", "--method", "fs", "--params", params)[0] == 0
    assert target.read_text() == "x"


@pytest.mark.parametrize("damage", ["truncated", "not_utf8", "array", "empty"])
def test_a_damaged_bundle_file_is_a_failed_verification(incident_ledger: Path, tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str], damage: str) -> None:
    # It exited 2, the code of a mistyped path or option: a script reading "1 = tampered" missed it.
    out = tmp_path / "b.json"
    assert run(capsys, "security", "bundle", "export", "--out", str(out))[0] == 0
    raw = out.read_bytes()
    out.write_bytes({"truncated": raw[: len(raw) // 2], "not_utf8": b"\xff\xfe" + raw[2:], "array": b"[]",
                     "empty": b""}[damage])
    code, text, err = run(capsys, "security", "bundle", "verify", str(out), "--json")
    assert code == 1, err
    doc = json.loads(text)
    assert doc["valid"] is False and doc["failed_steps"] == ["readable"] and doc["error"]
    code, text, _ = run(capsys, "security", "bundle", "verify", str(out))
    assert code == 1 and "INVALID (failed: readable)" in text
    code, _, err = run(capsys, "security", "bundle", "verify", str(tmp_path / "missing.json"))
    assert code == 2 and "cannot read bundle" in err  # a wrong path stays an input error
