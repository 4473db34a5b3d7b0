"""Forensic replay on the live ledger and on bundles: policy changes, differing decisions, chain breaks."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from pi_sandbox.audit import AuditStore
from pi_sandbox.cli.main import main
from pi_sandbox.evidence import BundleFilter, RedactionPolicy, build_bundle, replay_bundle, replay_ledger


@pytest.fixture()
def policy_change(open_sandbox: Callable[..., Any], make_request: Callable[..., dict[str, Any]],
                  make_config: Callable[..., Any], pi_env: Any) -> Path:
    """ext.x reads a file (allowed), the operator denies 'read' for it, the next read is refused."""
    (pi_env.workspace / "a.txt").write_text("a")
    box = open_sandbox(settings={})
    assert box.hostcall("ext.x", make_request("fs", {"op": "read", "path": "a.txt"})).ok
    box.close()
    box = open_sandbox(settings={"extensionPolicy": {"perExtension": {"ext.x": {"deny": ["read"]}}}})
    assert not box.hostcall("ext.x", make_request("fs", {"op": "read", "path": "a.txt"})).ok
    assert box.hostcall("ext.y", make_request("fs", {"op": "read", "path": "a.txt"})).ok
    box.close()
    return Path(pi_env.state_dir)


def test_replay_finds_the_policy_change_between_two_entries(policy_change: Path, make_config: Any) -> None:
    with AuditStore.open_read_only(policy_change) as store:
        report = replay_ledger(store)
        first, second = [e for e in store.query_ledger(extension_id="ext.x")]
    assert report.counts == {"match": 3, "differs": 0, "stateful": 0, "not_replayable": 0}
    (change,) = report.config_changes
    assert change["from_digest"] == first.detail["config_digest"]
    assert change["to_digest"] == second.detail["config_digest"]
    assert first.seq < change["seq"] <= second.seq
    assert change["changed"] == ["per_extension.ext.x.deny"]
    # Under today's configuration the first read would have been refused: replay says so.
    current = make_config(settings={"extensionPolicy": {"perExtension": {"ext.x": {"deny": ["read"]}}}})
    with AuditStore.open_read_only(policy_change) as store:
        against = replay_ledger(store, against=current)
    (diff,) = against.differences
    assert (diff.seq, diff.recorded, diff.replayed, diff.replayed_reason) == (first.seq, "allow", "deny",
                                                                              "extension_deny")


def test_an_edited_decision_differs_and_the_chain_break_marks_later_entries_untrusted(policy_change: Path) -> None:
    with AuditStore.open_read_only(policy_change) as store:
        denied = next(e for e in store.query_ledger(extension_id="ext.x") if e.decision == "deny")
        total = len([e for e in store.query_ledger() if e.kind == "hostcall"])
    conn = sqlite3.connect(policy_change / "security.db")  # an insider flips the refusal into an allow
    conn.execute("UPDATE ledger SET decision = 'allow', reason = 'default_caps' WHERE seq = ?", (denied.seq,))
    conn.commit()
    conn.close()
    with AuditStore.open_read_only(policy_change) as store:
        report = replay_ledger(store)
    assert report.chain_break_seq == denied.seq and report.chain_findings
    (diff,) = report.differences
    assert (diff.seq, diff.recorded, diff.replayed, diff.trusted) == (denied.seq, "allow", "deny", False)
    assert report.untrusted == total - 1  # the first read stays trusted; the edited one and everything after not
    assert all(not s.trusted for s in report.listed)


def test_replay_until_seq_and_extension(policy_change: Path) -> None:
    with AuditStore.open_read_only(policy_change) as store:
        seqs = [e.seq for e in store.query_ledger() if e.kind == "hostcall"]
        assert replay_ledger(store, until_seq=seqs[0]).replayed == 1
        assert replay_ledger(store, extension_id="ext.y").replayed == 1


def test_exec_decisions_are_re_derived_from_the_forensic_record(ledger_store: AuditStore) -> None:
    """The incident ledger's `rm -rf ~` was refused by exec mediation; replay re-classifies the kept command."""
    report = replay_ledger(ledger_store)
    assert report.difference_count == 0 and report.chain_break_seq is None
    bundle = build_bundle(ledger_store)
    replayed = replay_bundle(bundle)
    assert replayed.counts == report.counts and replayed.config_changes == report.config_changes
    assert bundle["risk_replay"] == replayed.to_dict()
    assert report.counts["match"] > report.counts["stateful"] > 0  # secret-in-args and path refusals are stateful


def test_a_mediation_refusal_the_rules_do_not_explain_is_found(ledger_store: AuditStore) -> None:
    bundle = build_bundle(ledger_store)
    from pi_sandbox.evidence.canon import entry_hash_of

    entries = bundle["risk_ledger"]["entries"]
    victim = next(e for e in entries if e["method"] == "exec" and e["reason"] == "critical_always_denied")
    # The recorded command is changed into a harmless one in the forensic record...
    record = bundle["risk_ledger"]["forensics"][str(victim["seq"])]
    record["disclosed"]["params"]["value"] = {"cmd": "ls", "args": []}
    assert replay_bundle(bundle).difference_count == 1
    # ...and a re-hashed entry is a chain break from there on.
    victim["reason"] = "policy_says_so"
    victim["entry_hash"] = entry_hash_of(victim)
    report = replay_bundle(bundle)
    assert report.chain_break_seq is not None and report.chain_break_seq > victim["seq"]


def test_filtered_and_redacted_bundles_replay_what_they_carry(ledger_store: AuditStore) -> None:
    bundle = build_bundle(ledger_store, bundle_filter=BundleFilter(extension_id="ext.evil"),
                          redaction=RedactionPolicy.full())
    report = replay_bundle(bundle)
    assert report.chain_break_seq is None and report.difference_count == 0
    assert report.replayed == sum(1 for e in bundle["risk_ledger"]["entries"] if e["kind"] == "hostcall")


def test_cli_replay_exit_codes(policy_change: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["security", "replay", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["counts"]["match"] == 3 and data["config_changes"]
    assert main(["security", "replay", "-e", "ext.x", "--against-current"]) == 1  # today ext.x may not read
    out = capsys.readouterr().out
    assert "1 differ" in out and "decisions that differ" in out
    assert main(["security", "bundle", "export", "--out", str(tmp_path / "b.json")]) == 0
    capsys.readouterr()
    assert main(["security", "replay", "--bundle", str(tmp_path / "b.json")]) == 0
    assert "configuration changes" in capsys.readouterr().out


def test_risk_stage_decisions_are_picked_up_in_the_replay_and_the_bundle(pi_env: Any, tmp_path: Path) -> None:
    """Entries the risk stage decided (detail.risk: score, threshold, features; enforce or shadow) show up in
    the replay's risk timeline, live and in a bundle's risk_replay section, with float scores intact."""
    from pi_sandbox.audit import AuditStore, LedgerEntryDraft
    from pi_sandbox.evidence import export_bundle, load_bundle, replay_bundle, replay_ledger, verify_bundle

    def call(seq: int, decision: str, stage: str, reason: str, risk: dict[str, Any]) -> LedgerEntryDraft:
        return LedgerEntryDraft(kind="hostcall", extension_id="ext.r", decision=decision, reason=reason,
                                call_id=f"r{seq}", capability="read", method="fs", params_hash="0" * 64,
                                detail={"stage": stage, "risk": risk}, forensic={"params": {"path": f"f{seq}"}})

    features = {"rate": 12.0, "distinct_paths": 3, "deny_ratio": 0.25}
    scored = {"threshold": 0.8, "features": features}
    with AuditStore.open(pi_env.state_dir) as store:
        store.append_many([
            call(1, "allow", "policy", "default_caps", {**scored, "score": 0.12, "p": 0.5}),
            call(2, "allow", "policy", "default_caps", {**scored, "score": 0.91, "p": 0.01, "mode": "shadow",
                                                        "would_deny": True}),
            call(3, "deny", "risk", "risk_denied", {**scored, "score": 0.97, "p": 0.001}),
            call(4, "deny", "risk", "risk_fail_closed", {"threshold": 0.8, "fault": "timeout"}),
        ])
        live = replay_ledger(store).to_dict()["risk"]
        export_bundle(store, tmp_path / "b.json")
    assert (live["scored"], live["denied"], live["shadow_would_deny"], live["faults"]) == (3, 2, 1, 1)
    assert live["peak_score"] == 0.97
    assert [(a["seq"], a["mode"], a["reason"]) for a in live["alarms"]] == [
        (2, "shadow", "default_caps"), (3, "enforce", "risk_denied"), (4, "enforce", "risk_fail_closed")]
    assert live["alarms"][1]["features"] == features and live["alarms"][1]["threshold"] == 0.8
    bundle = load_bundle(tmp_path / "b.json")
    assert bundle["risk_replay"]["risk"] == live == replay_bundle(bundle).to_dict()["risk"]
    assert verify_bundle(tmp_path / "b.json").valid
