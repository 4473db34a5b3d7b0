"""The plain data an incident report shows, built from an evidence bundle (and the incident, if any).

The HTML renderer (:mod:`.html`) and the postmortem (:mod:`.postmortem`) read only this structure, so
they neither parse bundles nor query the store.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Final

from pi_sandbox.incident.clock import PhaseStatus
from pi_sandbox.incident.record import INCIDENT_ENTRY_KIND

#: Lane name of evidence that concerns no single extension (global kill switch, config events).
HOST_LANE: Final = "(host)"
_HOSTCALL_KIND: Final = "hostcall"
_ALLOWING: Final = frozenset({"allow"})


class EventKind(StrEnum):
    """What the timeline plots."""

    HOSTCALL = "hostcall"
    DENIAL = "denial"
    ALERT = "alert"


@dataclass(frozen=True, slots=True)
class TimelineEvent:
    """One plotted event. A denial is a hostcall too; it is plotted as both."""

    ts_ms: int
    lane: str
    kind: EventKind


@dataclass(frozen=True, slots=True)
class Milestone:
    """A vertical marker on the timeline: a phase completed, a kill switch, a quarantine."""

    ts_ms: int
    label: str


@dataclass(frozen=True, slots=True)
class VerificationLine:
    """One verification result shown in the report (``ok`` None = not run)."""

    name: str
    ok: bool | None
    detail: str


@dataclass(frozen=True, slots=True)
class ReportData:
    """Everything one report shows."""

    title: str
    generated_ms: int
    facts: tuple[tuple[str, str], ...]
    events: tuple[TimelineEvent, ...]
    milestones: tuple[Milestone, ...] = ()
    phases: tuple[PhaseStatus, ...] = ()
    alerts: tuple[Mapping[str, Any], ...] = ()
    exec_decisions: tuple[Mapping[str, Any], ...] = ()
    verification: tuple[VerificationLine, ...] = ()
    counts: Mapping[str, int] = field(default_factory=dict)

    @property
    def lanes(self) -> list[str]:
        """Extensions in the timeline, busiest first (the host lane last)."""
        totals: dict[str, int] = {}
        for event in self.events:
            totals[event.lane] = totals.get(event.lane, 0) + 1
        return sorted(totals, key=lambda lane: (lane == HOST_LANE, -totals[lane], lane))


def _lane(extension_id: Any) -> str:
    return str(extension_id) if extension_id else HOST_LANE


def timeline_events(entries: Sequence[Mapping[str, Any]], alerts: Sequence[Mapping[str, Any]]) -> list[TimelineEvent]:
    """Hostcalls and denials from ledger entries, plus alerts, in time order."""
    events = []
    for entry in entries:
        if entry.get("kind") != _HOSTCALL_KIND:
            continue
        lane, ts = _lane(entry.get("extension_id")), int(entry["ts_ms"])
        events.append(TimelineEvent(ts, lane, EventKind.HOSTCALL))
        if entry.get("decision") not in _ALLOWING:
            events.append(TimelineEvent(ts, lane, EventKind.DENIAL))
    events += [TimelineEvent(int(a["ts_ms"]), _lane(a.get("extension_id")), EventKind.ALERT) for a in alerts]
    return sorted(events, key=lambda e: e.ts_ms)


def milestones(entries: Sequence[Mapping[str, Any]]) -> list[Milestone]:
    """Kill switches, trust transitions to quarantine and incident phases, from ledger entries."""
    marks = []
    for entry in entries:
        kind, detail = entry.get("kind"), entry.get("detail") or {}
        scope = entry.get("extension_id") or "all extensions"
        if kind == "kill_switch":
            marks.append(Milestone(int(entry["ts_ms"]), f"kill switch {entry.get('decision')} ({scope})"))
        elif kind == "trust" and detail.get("to") == "quarantined":
            marks.append(Milestone(int(entry["ts_ms"]), f"quarantined ({scope})"))
        elif kind == INCIDENT_ENTRY_KIND:
            marks.append(Milestone(int(entry["ts_ms"]), f"{entry.get('decision')} done"))
    return marks


def exec_rows(records: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The exec mediation section as table rows."""
    rows = []
    for record in records:
        payload = record.get("payload") or {}
        rows.append({"ts_ms": record.get("ts_ms"), "extension_id": record.get("extension_id"),
                     "decision": payload.get("decision"), "command_class": payload.get("command_class"),
                     "risk_tier": payload.get("risk_tier"), "rule": payload.get("rule") or payload.get("reason"),
                     "command_hash": payload.get("command_hash")})
    return rows


def bundle_report_data(bundle: Mapping[str, Any], *, title: str, generated_ms: int,
                       verification: Sequence[VerificationLine] = (), phases: Sequence[PhaseStatus] = (),
                       facts: Sequence[tuple[str, str]] = ()) -> ReportData:
    """The report of an evidence bundle (``bundle`` as loaded from its file)."""
    entries = bundle["risk_ledger"]["entries"]
    alerts = bundle["alerts"]
    source = bundle.get("source") or {}
    summary = bundle.get("summary") or {}
    base_facts = [("bundle hash", str(bundle.get("bundle_hash", ""))), ("ledger", str(source.get("ledger_id", ""))),
                  ("entries", f"{len(entries)} (seq {summary.get('first_seq')}..{summary.get('last_seq')})")]
    return ReportData(
        title=title, generated_ms=generated_ms, facts=(*facts, *base_facts),
        events=tuple(timeline_events(entries, alerts)), milestones=tuple(milestones(entries)), phases=tuple(phases),
        alerts=tuple(alerts), exec_decisions=tuple(exec_rows(bundle.get("exec_mediation") or [])),
        verification=tuple(verification), counts=dict(summary.get("counts") or {}),
    )
