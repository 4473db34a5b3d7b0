"""The postmortem draft: built from the incident's real bundle, with the runbook's prompts and checklists."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pi_sandbox.audit import AlertDraft, AuditStore
from pi_sandbox.audit.records import now_ms
from pi_sandbox.dispatch import Sandbox
from pi_sandbox.evidence import load_bundle
from pi_sandbox.incident import GUIDES, IncidentKind, find_incident, phase_statuses
from pi_sandbox.incident.phases import recorded_verification
from pi_sandbox.incident.postmortem import render_postmortem
from pi_sandbox.incident.workflow import incident_files
from tests.conftest import PiEnv
from tests.incident.test_inc2_end_to_end import ATTACKER, SECRET, run_json, scenario  # noqa: F401 (fixture)


def draft(pi_env: PiEnv, make_config: Any) -> tuple[str, dict[str, Any]]:
    incident = find_incident(pi_env.state_dir)
    config = make_config()
    bundle = load_bundle(incident_files(pi_env.state_dir, incident).bundle)
    now = now_ms()
    text = render_postmortem(incident, bundle, phase_statuses(incident, now),
                             recorded_verification(pi_env.state_dir, config, incident),
                             bundle_file="bundle.json", now_ms=now)
    return text, bundle


def test_inc2_postmortem_is_built_from_the_bundle(
    scenario: Sandbox, pi_env: PiEnv, make_config: Any, capsys: pytest.CaptureFixture[str]  # noqa: F811
) -> None:
    with AuditStore.open(pi_env.state_dir) as store:  # evidence text that could break a Markdown table
        store.record_alert(AlertDraft(category="secret_exposure", severity="error", extension_id=ATTACKER,
                                      summary="a | b\n# not a heading"))
    run_json(capsys, "incident", "open", "--kind", "INC-2", "-e", ATTACKER, "--severity", "critical")
    contained = run_json(capsys, "incident", "contain")
    run_json(capsys, "incident", "collect")
    run_json(capsys, "incident", "verify")
    text, bundle = draft(pi_env, make_config)

    assert text.startswith("# Postmortem (draft): INC-2 Secret Exposure")
    assert f"bundle_hash `{bundle['bundle_hash']}`" in text
    timeline = text.split("## Timeline (from the bundle)")[1].split("## Verification")[0]
    rows = [line for line in timeline.splitlines() if line.startswith("| 20")]
    assert len(rows) == len(bundle["alerts"]) + sum(
        1 for e in bundle["risk_ledger"]["entries"]
        if (e["kind"] == "hostcall" and e["decision"] != "allow") or e["kind"] in ("kill_switch", "incident", "trust"))
    assert any("denied http" in r for r in rows) and any("kill_switch on" in r for r in rows)
    assert "a \\| b # not a heading" in timeline  # escaped, one row
    contained_part = text.split("## What was contained when")[1].split("##")[0]
    assert f"seq {contained['detail']['control_seq']}" in contained_part and "isolation verified" in contained_part
    artifacts = text.split("## Expected artifacts (runbook)")[1].split("##")[0]
    assert artifacts.count("- [x]") == len(GUIDES[IncidentKind.INC_2].artifacts) and "- [ ]" not in artifacts
    for prompt in GUIDES[IncidentKind.INC_2].root_cause_prompts:
        assert prompt in text
    assert "- [ ] Immediate: rotate the exposed credential" in text
    assert "Invariant INV-009" in text
    assert "| contain | < 5m 00s |" in text and "| done |" in text
    assert SECRET not in text


def test_missing_artifacts_stay_unchecked(
    pi_env: PiEnv, make_config: Any, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """An INC-6 opened on a ledger without any quota evidence: the draft says what is missing."""
    run_json(capsys, "incident", "open", "--kind", "INC-6", "-e", "quiet")
    run_json(capsys, "incident", "contain")
    run_json(capsys, "incident", "collect")
    text, _ = draft(pi_env, make_config)
    artifacts = text.split("## Expected artifacts (runbook)")[1].split("##")[0]
    assert ("- [ ] Quota breach events in the incident evidence bundle — 0 item(s) in section quota_breaches"
            in artifacts)
    assert "- [ ] Alert with category `quota_breach` — 0 alert(s)" in artifacts
    assert "Tighten the quota for the offending extension" in text
