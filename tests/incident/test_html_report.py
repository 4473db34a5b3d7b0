"""The HTML incident report in a real headless Chromium: loads clean, plots, shows a screenshot."""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any

import pytest

from pi_sandbox.audit import AlertDraft, AuditStore
from pi_sandbox.dispatch import Sandbox
from pi_sandbox.incident import phase_statuses
from pi_sandbox.incident.html import render_html
from pi_sandbox.incident.record import incidents_from_entries
from pi_sandbox.incident.report_data import (
    ReportData,
    VerificationLine,
    exec_rows,
    milestones,
    timeline_events,
)
from pi_sandbox.incident.runbook import IncidentKind
from pi_sandbox.incident.workflow import ContainMethod, contain, open_incident
from tests.conftest import PiEnv
from tests.incident.browser import load_page

SECRET = "sk-live-HTMLREPORT-0123456789abcdef"
HOSTILE = '<script>document.title="pwned"</script><img src="http://127.0.0.1:9/x.png">'

#: What the page shows, measured in the browser.
PROBE = """JSON.stringify((() => {
  const svg = document.querySelector('svg#timeline'), box = svg ? svg.getBoundingClientRect() : null;
  return {
    title: document.title,
    svgWidth: box ? box.width : 0, svgHeight: box ? box.height : 0,
    hostcalls: document.querySelectorAll('#timeline .mark.hostcall').length,
    denials: document.querySelectorAll('#timeline .mark.denial').length,
    alerts: document.querySelectorAll('#timeline .mark.alert').length,
    paintedMarks: [...document.querySelectorAll('#timeline .mark')].filter(m => {
      const r = m.getBoundingClientRect(); return r.width > 0 && r.height > 0; }).length,
    slaBars: document.querySelectorAll('#sla .sla-bar').length,
    alertRows: document.querySelectorAll('#alerts tbody tr').length,
    execRows: document.querySelectorAll('#exec tbody tr').length,
    verification: [...document.querySelectorAll('#verification tbody tr')].map(r => r.innerText),
    scripts: document.scripts.length, images: document.images.length,
    alertText: document.querySelector('#alerts') ? document.querySelector('#alerts').innerText : ''
  };
})())"""


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


@pytest.fixture()
def report(open_sandbox: Any, make_config: Any, pi_env: PiEnv) -> ReportData:
    """A report from real evidence: two extensions' hostcalls through the pipeline, alerts, exec decisions,
    and an incident opened and contained."""
    env = {"OPENAI_API_KEY": SECRET, "PI_SECURITY_DIR": str(pi_env.state_dir)}
    box: Sandbox = open_sandbox(cli_profile="permissive", env=env)
    for i in range(6):
        box.hostcall("ext.good", {"call_id": f"g{i}", "method": "log", "params": {"message": f"line {i}"}})
    box.hostcall("ext.bad", {"call_id": "b1", "method": "env", "params": {"name": "OPENAI_API_KEY"}})
    box.hostcall("ext.bad", {"call_id": "b2", "method": "exec", "params": {"cmd": "bash", "args": ["-c", "rm -rf ~"]}})
    box.hostcall("ext.bad", {"call_id": "b3", "method": "exec", "params": {"cmd": "echo", "args": [SECRET]}})
    box.close()
    config = make_config(cli_profile="permissive", env=env)
    with AuditStore.open(pi_env.state_dir) as store:
        store.record_alert(AlertDraft(category="anomaly_denial", severity="warning", extension_id="ext.bad",
                                      summary=HOSTILE))
    incident = open_incident(pi_env.state_dir, config, IncidentKind.INC_2, extension_id="ext.bad",
                             severity="critical", note="", actor="tester")
    contain(pi_env.state_dir, config, incident, ContainMethod.KILL_SWITCH, actor="tester")
    with AuditStore.open_read_only(pi_env.state_dir) as store:
        entries = [e.to_dict() for e in store.query_ledger()]
        alerts = [a.to_dict() for a in store.query_alerts()]
        records = [r.to_dict() for r in store.query_records(kind="exec_mediation")]
    (incident,) = incidents_from_entries(entries)
    return ReportData(
        title="Incident inc-2 — Secret Exposure", generated_ms=entries[-1]["ts_ms"],
        facts=(("incident", incident.incident_id),), events=tuple(timeline_events(entries, alerts)),
        milestones=tuple(milestones(entries)), phases=tuple(phase_statuses(incident, entries[-1]["ts_ms"])),
        alerts=tuple(alerts), exec_decisions=tuple(exec_rows(records)),
        verification=(VerificationLine("bundle hash", True, "ok"), VerificationLine("chain", False, "seq 4 broken")),
        counts={"alerts": len(alerts)})


def test_report_renders_in_headless_chromium(report: ReportData, tmp_path: Path) -> None:
    page = tmp_path / "report.html"
    page.write_text(render_html(report), encoding="utf-8")
    shot = tmp_path / "report.png"
    run = load_page(page, shot, PROBE)
    import json

    seen = json.loads(run.probe)
    assert run.errors == []  # no console error, exception, CSP violation or failed load
    assert run.requests == [page.resolve().as_uri()]  # nothing fetched but the file itself
    assert seen["svgWidth"] > 500 and seen["svgHeight"] > 60
    hostcalls = sum(1 for e in report.events if e.kind == "hostcall")
    assert 0 < seen["hostcalls"] <= hostcalls and seen["denials"] >= 1 and seen["alerts"] >= 1
    assert seen["paintedMarks"] == seen["hostcalls"] + seen["denials"] + seen["alerts"]
    assert seen["slaBars"] == 5  # contain, collect, verify, analyze, postmortem
    assert seen["alertRows"] == len(report.alerts) and seen["execRows"] == len(report.exec_decisions) >= 2
    assert any("FAIL" in row for row in seen["verification"]) and any("pass" in row for row in seen["verification"])
    # hostile text from the evidence is shown as text, never run or fetched
    assert seen["scripts"] == 0 and seen["images"] == 0 and seen["title"] == report.title
    assert "<script>" in seen["alertText"] and SECRET not in page.read_text()
    width, height = png_size(shot)
    assert width >= 1000 and height > 900  # the whole page, beyond the first screen


def test_the_harness_sees_what_a_broken_page_does(tmp_path: Path) -> None:
    """The checks above can fail: a page that fetches, throws and logs an error is caught."""
    page = tmp_path / "bad.html"
    page.write_text('<!DOCTYPE html><html><body><img src="http://127.0.0.1:9/x.png">'
                    '<script>console.error("boom"); undefined_function();</script></body></html>')
    run = load_page(page, tmp_path / "bad.png", "1 + 1")
    assert run.probe == 2
    assert any("boom" in e for e in run.errors) and any("undefined_function" in str(x) for x in run.exceptions)
    assert "http://127.0.0.1:9/x.png" in run.requests


def test_empty_evidence_still_renders(tmp_path: Path) -> None:
    html = render_html(ReportData(title="empty", generated_ms=0, facts=(), events=()))
    assert 'id="timeline-empty"' in html and "<svg" not in html and "None." in html
