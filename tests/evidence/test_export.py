"""``pi-sandbox security export``: JSON lines and OTLP logs a collector can check for continuity."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from pi_sandbox.audit import AlertDraft, AuditStore, LedgerEntryDraft
from pi_sandbox.cli.main import main
from pi_sandbox.dispatch import Sandbox
from pi_sandbox.errors import CollectorExportError
from pi_sandbox.evidence.otlp import BATCH_SIZE, logs_url
from tests.conftest import PiEnv
from tests.evidence.collector import check_chain, otlp_collector

SECRET = "sk-live-EXPORT-TEST-0123456789abcdef"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture()
def traffic(open_sandbox: Any, pi_env: PiEnv) -> Sandbox:
    """Real hostcalls through the pipeline: allowed, denied and a secret read (an alert)."""
    box: Sandbox = open_sandbox(cli_profile="permissive", env={"OPENAI_API_KEY": SECRET,
                                                               "PI_SECURITY_DIR": str(pi_env.state_dir)})
    for i in range(3):
        box.hostcall("ext.a", {"call_id": f"a{i}", "method": "env", "params": {"name": "OPENAI_API_KEY"}})
        box.hostcall("ext.b", {"call_id": f"b{i}", "method": "exec", "params": {"cmd": "rm", "args": ["-rf", "/"]}})
    box.close()
    return box


def lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines()]


def test_jsonl_streams_every_entry_and_alert_with_a_continuous_chain(
    traffic: Sandbox, pi_env: PiEnv, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, "security", "export")
    assert code == 0, err
    records = lines(out)
    entries = [r for r in records if r["type"] == "ledger_entry"]
    alerts = [r for r in records if r["type"] == "alert"]
    with AuditStore.open_read_only(pi_env.state_dir) as store:
        assert [e["seq"] for e in entries] == [e.seq for e in store.query_ledger()]
        assert len(alerts) == len(store.query_alerts()) >= 3
        ledger_id = store.meta("ledger_id")
    assert {r["ledger_id"] for r in records} == {ledger_id}
    assert entries[0]["seq"] == 1 and check_chain(entries) == []
    assert {e["decision"] for e in entries if e["kind"] == "hostcall"} == {"allow", "deny"}
    assert SECRET not in out  # the stream carries what the ledger holds: hashes and redacted text
    assert f"exported {len(entries)} entries and {len(alerts)} alerts" in err


def test_after_seq_resumes_the_chain_and_a_tampered_entry_shows(
    traffic: Sandbox, pi_env: PiEnv, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    first = tmp_path / "first.jsonl"
    code, out, _ = run(capsys, "security", "export", "--out", str(first), "--no-alerts", "--json")
    summary = json.loads(out)
    batch1 = lines(first.read_text())
    assert code == 0 and summary["entries"] == len(batch1) and summary["last_seq"] == batch1[-1]["seq"]
    with AuditStore.open(pi_env.state_dir) as store:  # the host keeps recording
        store.append(LedgerEntryDraft(kind="hostcall", extension_id="ext.c", decision="allow", reason="default_caps"))
    code, out, _ = run(capsys, "security", "export", "--after-seq", str(summary["last_seq"]), "--no-alerts")
    batch2 = lines(out)
    assert code == 0 and batch2[0]["seq"] == summary["last_seq"] + 1
    assert check_chain(batch2, prev=summary["last_entry_hash"]) == []
    assert check_chain(batch1 + batch2) == []

    denied = next(e["seq"] for e in batch1 if e["decision"] == "deny")
    conn = sqlite3.connect(pi_env.state_dir / "security.db")  # someone turns a denial into an allow
    conn.execute("UPDATE ledger SET decision = 'allow' WHERE seq = ?", (denied,))
    conn.commit()
    conn.close()
    run(capsys, "security", "export", "--out", str(first), "--no-alerts")
    assert check_chain(lines(first.read_text())) == [f"seq {denied}: hash mismatch"]


def test_extension_filter_exports_only_that_extension(
    traffic: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "security", "export", "-e", "ext.a")
    records = lines(out)
    assert code == 0 and records and {r["extension_id"] for r in records} == {"ext.a"}


def bulk(state_dir: Path, count: int) -> None:
    with AuditStore.open(state_dir, checkpoint_interval=100) as store:
        store.append_many([LedgerEntryDraft(kind="hostcall", extension_id=f"ext.{i % 3}",
                                            decision="deny" if i % 4 == 0 else "allow", reason="default_caps",
                                            call_id=f"c{i}", capability="read", method="fs", layer=4,
                                            detail={"n": i}) for i in range(count)])
        store.record_alert(AlertDraft(category="secret_exposure", severity="critical", extension_id="ext.1",
                                      summary="http request carried a withheld secret value"))


def test_otlp_logs_reach_a_local_collector_with_chain_attributes(
    pi_env: PiEnv, capsys: pytest.CaptureFixture[str]
) -> None:
    count = BATCH_SIZE + 37  # more than one OTLP request
    bulk(pi_env.state_dir, count)
    with otlp_collector() as collector:
        code, out, err = run(capsys, "security", "export", "--format", "otlp", "--endpoint", collector.url, "--json")
    assert code == 0, err
    assert json.loads(out)["entries"] == count and json.loads(out)["destination"] == collector.url + "/v1/logs"
    assert len(collector.requests) >= 2 and set(collector.requests) == {"/v1/logs"}
    entries = [log for log in collector.logs if log.attributes["pi.record_type"] == "ledger_entry"]
    (alert,) = [log for log in collector.logs if log.attributes["pi.record_type"] == "alert"]
    assert len(entries) == count
    bodies = [log.record for log in entries]
    assert check_chain(bodies) == []
    for log, body in zip(entries, bodies, strict=True):  # attributes agree with the hashed body
        assert (log.attributes["pi.ledger.seq"], log.attributes["pi.ledger.prev_hash"],
                log.attributes["pi.ledger.entry_hash"]) == (body["seq"], body["prev_hash"], body["entry_hash"])
        assert log.time_unix_nano == body["ts_ms"] * 1_000_000 and log.event_name == "pi.security.ledger_entry"
    assert {log.severity_text for log in entries} == {"INFO", "WARN"}
    assert alert.severity_text == "CRITICAL" and alert.attributes["pi.alert.category"] == "secret_exposure"
    resource = entries[0].resource
    assert resource["service.name"] == "pi-sandbox" and resource["pi.ledger_id"] == bodies[0]["ledger_id"]
    assert entries[0].scope == "pi_sandbox.security"


def test_collector_errors_fail_loudly(pi_env: PiEnv, capsys: pytest.CaptureFixture[str]) -> None:
    bulk(pi_env.state_dir, 10)
    with otlp_collector(status=503) as collector:
        code, _, err = run(capsys, "security", "export", "--format", "otlp", "--endpoint", collector.url,
                           "--timeout", "1")
    assert code == 3 and "did not accept the records" in err and "Traceback" not in err
    url = collector.url  # the server is gone now: nothing listens on that port
    code, _, err = run(capsys, "security", "export", "--format", "otlp", "--endpoint", url, "--timeout", "1")
    assert code == 3 and url in err


@pytest.mark.parametrize("argv, message", [
    (["--format", "otlp"], "needs --endpoint"),
    (["--endpoint", "http://127.0.0.1:1"], "is for --format otlp"),
    (["--format", "otlp", "--endpoint", "ftp://x", ], "not an http(s) URL"),
])
def test_bad_command_lines_are_usage_errors(
    pi_env: PiEnv, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    bulk(pi_env.state_dir, 1)
    code, out, err = run(capsys, "security", "export", *argv)
    assert code in (2, 3) and message in err and out == ""


def test_logs_url_adds_the_signal_path_once() -> None:
    assert logs_url("http://127.0.0.1:4318") == "http://127.0.0.1:4318/v1/logs"
    assert logs_url("http://127.0.0.1:4318/v1/logs") == "http://127.0.0.1:4318/v1/logs"
    with pytest.raises(CollectorExportError):
        logs_url("127.0.0.1:4318")
