"""``pi-sandbox incident open|status|contain``: ledger-recorded phases, the SLA clock, verified containment."""

from __future__ import annotations

import json
from typing import Any

import pytest

from pi_sandbox.audit import AuditStore
from pi_sandbox.audit.records import LedgerEntryDraft
from pi_sandbox.cli.main import main
from pi_sandbox.errors import IncidentError
from pi_sandbox.incident import Incident, IncidentKind, Phase, PhaseRecord, PhaseState, phase_statuses
from pi_sandbox.incident.record import entry_detail
from pi_sandbox.incident.workflow import require_phase
from tests.conftest import PiEnv

MIN = 60_000


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def run_json(capsys: pytest.CaptureFixture[str], *argv: str) -> dict[str, Any]:
    code, out, err = run(capsys, *argv, "--json")
    assert code == 0, err
    data: dict[str, Any] = json.loads(out)
    return data


def test_open_records_detection_and_starts_the_clock(pi_env: PiEnv, capsys: pytest.CaptureFixture[str]) -> None:
    opened = run_json(capsys, "incident", "open", "--kind", "INC-2", "-e", "ext.bad", "--severity", "critical")
    assert opened["kind"] == "INC-2" and opened["current_phase"] == "contain" and not opened["closed"]
    sla = {s["phase"]: s for s in opened["sla"]}
    t0 = opened["opened_ms"]
    assert sla["detect"]["state"] == "done" and sla["detect"]["done_at_ms"] == t0
    assert [sla[p]["due_at_ms"] - t0 for p in ("contain", "collect", "verify", "analyze", "postmortem")] == [
        5 * MIN, 15 * MIN, 30 * MIN, 120 * MIN, 24 * 60 * MIN]
    assert sla["contain"]["state"] == "pending" and 0 < sla["contain"]["remaining_ms"] <= 5 * MIN
    assert sla["remediate"]["state"] == "open_ended"
    with AuditStore.open_read_only(pi_env.state_dir) as store:
        (entry,) = store.query_ledger(kind="incident")
    assert (entry.decision, entry.extension_id, entry.detail["incident_id"]) == (
        "detect", "ext.bad", opened["incident_id"])
    status = run_json(capsys, "incident", "status")
    assert status["incident_id"] == opened["incident_id"] and status["phases"] == opened["phases"]
    code, out, _ = run(capsys, "incident", "status")
    assert code == 0 and "current phase: contain (due in" in out and "Secret Exposure" in out


def test_contain_with_kill_switch_stops_the_extension_in_the_pipeline(
    pi_env: PiEnv, capsys: pytest.CaptureFixture[str], open_sandbox: Any
) -> None:
    run_json(capsys, "incident", "open", "--kind", "INC-1", "-e", "ext.bad")
    contained = run_json(capsys, "incident", "contain", "--note", "stop it")
    assert contained["phase"] == "contain" and contained["ok"] is True
    assert contained["detail"]["isolation_verified"] is True and contained["detail"]["blocked_reason"] == "kill_switch"
    box = open_sandbox()
    refused = box.hostcall("ext.bad", {"call_id": "c1", "method": "log", "params": {"message": "hi"}})
    assert not refused.ok and refused.reason == "kill_switch"
    assert box.hostcall("ext.other", {"call_id": "c2", "method": "log", "params": {"message": "hi"}}).ok
    status = run_json(capsys, "incident", "status")
    assert status["current_phase"] == "collect"
    assert {s["phase"]: s["state"] for s in status["sla"]}["contain"] == "done"
    code, _, err = run(capsys, "incident", "contain")
    assert code == 2 and "already done" in err


def test_a_live_session_refuses_the_first_call_after_contain_returns(
    pi_env: PiEnv, capsys: pytest.CaptureFixture[str], open_sandbox: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The background poller is slowed to an hour: only the trust stage's own look at the control signal
    # can make the next call see the switch (CI once decided a call between the operator's command and
    # the poller's next turn).
    monkeypatch.setattr("pi_sandbox.trust.control.POLL_S", 3600.0)
    monkeypatch.setattr("pi_sandbox.trust.control.ControlWatcher.__init__.__defaults__", (3600.0,))
    box = open_sandbox()
    assert box.hostcall("ext.live", {"call_id": "c0", "method": "log", "params": {"message": "before"}}).ok
    run_json(capsys, "incident", "open", "--kind", "INC-1", "-e", "ext.live")
    run_json(capsys, "incident", "contain")
    refused = box.hostcall("ext.live", {"call_id": "c1", "method": "log", "params": {"message": "after"}})
    assert not refused.ok and refused.reason == "kill_switch"
    assert box.hostcall("ext.other", {"call_id": "c2", "method": "log", "params": {"message": "hi"}}).ok
    run_json(capsys, "security", "kill-switch", "off", "-e", "ext.live", "--reason", "cleared")
    assert box.hostcall("ext.live", {"call_id": "c3", "method": "log", "params": {"message": "lifted"}}).ok


def test_contain_by_quarantine(pi_env: PiEnv, capsys: pytest.CaptureFixture[str], open_sandbox: Any) -> None:
    run_json(capsys, "incident", "open", "--kind", "INC-5", "-e", "ext.q")
    contained = run_json(capsys, "incident", "contain", "--quarantine")
    assert contained["detail"]["action"] == "quarantine" and contained["detail"]["blocked_reason"] == "quarantined"
    shown = run_json(capsys, "ext", "trust", "show", "-e", "ext.q")
    assert shown["state"] == "quarantined"
    refused = open_sandbox().hostcall("ext.q", {"call_id": "c1", "method": "log", "params": {"message": "x"}})
    assert refused.reason == "quarantined"


def test_without_an_extension_contain_is_the_global_switch(
    pi_env: PiEnv, capsys: pytest.CaptureFixture[str]
) -> None:
    run_json(capsys, "incident", "open", "--kind", "INC-3")
    code, _, err = run(capsys, "incident", "contain", "--quarantine")
    assert code == 2 and "quarantine needs the incident's extension" in err
    contained = run_json(capsys, "incident", "contain")
    assert contained["detail"]["scope"] == "all extensions"
    assert run_json(capsys, "security", "kill-switch", "status")["active"][0]["scope"] == "*"


def test_two_open_incidents_need_an_id(pi_env: PiEnv, capsys: pytest.CaptureFixture[str]) -> None:
    first = run_json(capsys, "incident", "open", "--kind", "INC-6", "-e", "a")["incident_id"]
    second = run_json(capsys, "incident", "open", "--kind", "INC-6", "-e", "b")["incident_id"]
    assert first != second
    code, _, err = run(capsys, "incident", "status")
    assert code == 2 and "2 incidents are open" in err and "Traceback" not in err
    assert run_json(capsys, "incident", "status", "--incident", second)["extension_id"] == "b"
    code, _, err = run(capsys, "incident", "status", "--incident", "inc-9-nope")
    assert code == 2 and "no incident 'inc-9-nope'" in err


def test_no_incident_is_a_clear_error(pi_env: PiEnv, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "incident", "status")
    assert code == 2 and "no incident is open" in err and out == ""
    assert "incident open --kind INC-N" in err and "incident status` shows" not in err  # not circular


def test_after_close_status_names_the_closed_incident(pi_env: PiEnv, capsys: pytest.CaptureFixture[str]) -> None:
    opened = run_json(capsys, "incident", "open", "--kind", "INC-6", "-e", "hog")["incident_id"]
    with AuditStore.open(pi_env.state_dir) as store:  # closed as `incident close` records it
        store.append(LedgerEntryDraft(kind="incident", extension_id="hog", decision="postmortem",
                                      reason="incident_postmortem",
                                      detail=entry_detail(opened, IncidentKind.INC_6, "error", True, "op", {})))
    code, _, err = run(capsys, "incident", "status")
    assert code == 2 and f"the latest, {opened}, is closed" in err
    assert f"incident status --incident {opened}" in err
    assert run_json(capsys, "incident", "status", "--incident", opened)["closed"] is True


def _incident(*done: tuple[Phase, int, bool]) -> Incident:
    records = tuple(PhaseRecord(phase, ts, i + 1, ok, "op", {}) for i, (phase, ts, ok) in enumerate(done))
    return Incident("inc-2-x", IncidentKind.INC_2, "error", "e", "", records)


def test_clock_marks_late_overdue_and_stops_at_close() -> None:
    t0 = 1_000_000
    incident = _incident((Phase.DETECT, t0, True), (Phase.CONTAIN, t0 + 7 * MIN, True))
    states = {s.phase: s for s in phase_statuses(incident, now_ms=t0 + 20 * MIN)}
    assert states[Phase.CONTAIN].state is PhaseState.LATE
    assert states[Phase.COLLECT].state is PhaseState.OVERDUE and states[Phase.COLLECT].remaining_ms == -5 * MIN
    assert states[Phase.VERIFY].state is PhaseState.PENDING and states[Phase.VERIFY].remaining_ms == 10 * MIN
    closed = _incident((Phase.DETECT, t0, True), (Phase.POSTMORTEM, t0 + MIN, True))
    later = {s.phase: s for s in phase_statuses(closed, now_ms=t0 + 48 * 60 * MIN)}
    assert later[Phase.ANALYZE].state is PhaseState.PENDING  # the clock stopped when it closed
    assert closed.current_phase is None


def test_phases_run_in_runbook_order_and_a_failed_phase_may_rerun() -> None:
    t0 = 1_000_000
    opened = _incident((Phase.DETECT, t0, True))
    with pytest.raises(IncidentError, match="contain comes before collect"):
        require_phase(opened, Phase.COLLECT)
    failed = _incident((Phase.DETECT, t0, True), (Phase.CONTAIN, t0 + 1, False))
    require_phase(failed, Phase.CONTAIN)  # not verified: may run again
    require_phase(failed, Phase.COLLECT)  # evidence is collected either way
    done = _incident((Phase.DETECT, t0, True), (Phase.CONTAIN, t0 + 1, True))
    with pytest.raises(IncidentError, match="already done"):
        require_phase(done, Phase.CONTAIN)
