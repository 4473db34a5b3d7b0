"""Forensic records (issue 11 item 1): every refusal names what to do next, whichever stage refused, and
timed-out calls get their redacted parameters and configuration digest like every other entry."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pi_sandbox.audit import AuditStore
from pi_sandbox.trust.operations import quarantine, set_kill_switch

SECRET = "sk-live-5e4d3c2b1a0f9e8d7c6b"


def _record(store: AuditStore, call_id: str) -> dict[str, Any]:
    entry = next(e for e in store.query_ledger() if e.call_id == call_id)
    return {"entry": entry, **store.forensic_fields(entry.seq)}


def test_every_refusal_carries_remediation_and_redacted_params(
        open_sandbox: Callable[..., Any], make_request: Callable[..., dict[str, Any]], pi_env: Any) -> None:
    settings = {"extensionPolicy": {"profile": "balanced", "allowDangerous": True,
                                    "perExtension": {"ext.x": {"allow": ["exec", "http"]},
                                                     "ext.gone": {"allow": ["exec"]}}}}
    box = open_sandbox(settings=settings, env={"OPENAI_API_KEY": SECRET})
    calls = {
        "policy": box.hostcall("ext.p", make_request("exec", {"cmd": "ls"})),
        "exec_secret": box.hostcall("ext.x", make_request("exec", {"cmd": "curl", "args": ["-d", SECRET]})),
        "http_secret": box.hostcall("ext.x", make_request("http", {"url": "http://127.0.0.1:9/",
                                                                   "headers": {"x": SECRET}})),
        "mediation": box.hostcall("ext.x", make_request("exec", {"cmd": "sh", "args": ["-c", "rm -rf ~"]})),
        "invalid": box.hostcall("ext.x", make_request("fs", {"op": "read", "path": "a"}, capability="exec")),
    }
    set_kill_switch(pi_env.state_dir, True, "ext.gone", "contain")
    box.controls.reload()
    calls["kill_switch"] = box.hostcall("ext.gone", make_request("exec", {"cmd": "ls"}))
    quarantine(pi_env.state_dir, box.config.trust, "ext.q", "suspicious")
    box.controls.reload()
    calls["quarantine"] = box.hostcall("ext.q", make_request("fs", {"op": "read", "path": "a"}))
    box.record_hostcall_timeout("ext.slow", "t-1", "http", {"url": "http://x/", "body": SECRET}, 400, started=True)
    assert not any(result.ok for result in calls.values())
    for name, result in calls.items():
        record = _record(box.store, result.call_id)
        if name == "invalid":
            assert "params" in record and record["entry"].decision == "invalid"
            continue
        assert record["entry"].decision == "deny", name
        assert isinstance(record.get("remediation"), str) and len(record["remediation"]) > 20, name
        assert SECRET not in str(record), name
        assert "params" in record and "context_hash" in record and "args_shape_hash" in record, name
    assert "kill-switch off --extension ext.gone" in _record(box.store, calls["kill_switch"].call_id)["remediation"]
    assert "rotate the exposed credential" in _record(box.store, calls["exec_secret"].call_id)["remediation"]
    assert "rotate the exposed credential" in _record(box.store, calls["http_secret"].call_id)["remediation"]
    assert _record(box.store, calls["exec_secret"].call_id)["params"] == {"cmd": "curl", "args": ["-d", "[REDACTED]"]}
    timeout = _record(box.store, "t-1")
    assert timeout["entry"].decision == "timeout" and "hostcallDeadlineMs" in timeout["remediation"]
    assert timeout["params"]["url"] == "http://x/" and SECRET not in str(timeout)
    assert timeout["entry"].detail["config_digest"] == box.config_digest
    assert "forensic_digest" in timeout["entry"].detail


def test_bundles_list_only_the_withheld_commitments(ledger_store: AuditStore) -> None:
    from pi_sandbox.evidence import RedactionPolicy, build_bundle, verify_bundle

    whole = build_bundle(ledger_store)
    records = whole["risk_ledger"]["forensics"]
    assert records and all(r["commitments"] == {} and "params" in r["disclosed"] for r in records.values())
    hidden = build_bundle(ledger_store, redaction=RedactionPolicy.parse("params_hash,command_hash"))
    for record in hidden["risk_ledger"]["forensics"].values():
        assert "params" in record["commitments"] and "params" not in record["disclosed"]
        assert set(record["commitments"]).isdisjoint(record["disclosed"])
    assert verify_bundle(whole).valid and verify_bundle(hidden).valid
    # A disclosed value changed after export no longer gives the entry's digest.
    seq, record = next(iter(records.items()))
    record["disclosed"]["params"]["value"] = {"op": "read", "path": "/etc/passwd"}
    assert verify_bundle(whole).failed_steps[:2] == ["bundle_hash", "chain"]
