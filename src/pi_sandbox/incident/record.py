"""Incidents as ledger entries: each phase an operator completes appends one entry of kind ``incident``.

The entry's ``decision`` is the phase (``detect`` for ``incident open``, ``postmortem`` for ``close``),
its ``reason`` is ``incident_<phase>`` and its ``detail`` carries the incident id, kind, severity, the
outcome and the phase's artifacts (file names, hashes, counts: never raw values). An incident's state is
what replaying those entries gives, like kill switches and trust: it is hash-chained, survives restarts
and lands in every evidence bundle.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from pi_sandbox.audit import LedgerEntry
from pi_sandbox.incident.runbook import PHASE_RULES, PHASES, IncidentKind, Phase

INCIDENT_ENTRY_KIND: Final = "incident"


@dataclass(frozen=True, slots=True)
class PhaseRecord:
    """One completed phase: when, at which ledger position, with what outcome and artifacts."""

    phase: Phase
    ts_ms: int
    seq: int
    ok: bool
    actor: str
    detail: Mapping[str, Any]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"phase": self.phase.value, "ts_ms": self.ts_ms, "seq": self.seq, "ok": self.ok, "actor": self.actor,
                "detail": dict(self.detail)}


@dataclass(frozen=True, slots=True)
class Incident:
    """An incident as its ledger entries tell it."""

    incident_id: str
    kind: IncidentKind
    severity: str
    extension_id: str | None
    note: str
    phases: tuple[PhaseRecord, ...] = field(default=())

    @property
    def opened_ms(self) -> int:
        """Detection time: the SLA clock starts here."""
        return self.phases[0].ts_ms

    @property
    def closed(self) -> bool:
        return self.done(Phase.POSTMORTEM) is not None

    def done(self, phase: Phase) -> PhaseRecord | None:
        """The latest record of ``phase``, or None when it has not been completed."""
        return next((r for r in reversed(self.phases) if r.phase is phase), None)

    @property
    def current_phase(self) -> Phase | None:
        """The first phase with a command that is not done yet (None when closed)."""
        if self.closed:
            return None
        return next((p for p in PHASES if PHASE_RULES[p].command and self.done(p) is None), Phase.POSTMORTEM)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        current = self.current_phase
        return {"incident_id": self.incident_id, "kind": self.kind.value, "severity": self.severity,
                "extension_id": self.extension_id, "note": self.note, "opened_ms": self.opened_ms,
                "closed": self.closed, "current_phase": current.value if current else None,
                "phases": [r.to_dict() for r in self.phases]}


def new_incident_id(kind: IncidentKind, now_ms: int | None = None) -> str:
    """``inc-2-20261206t131500z``: the kind and the UTC second of detection (readable, sortable)."""
    moment = time.gmtime((time.time_ns() // 1_000_000 if now_ms is None else now_ms) / 1000)
    return f"inc-{kind.value[-1]}-{time.strftime('%Y%m%dt%H%M%Sz', moment)}"


def entry_detail(incident_id: str, kind: IncidentKind, severity: str, ok: bool, actor: str,
                 artifacts: Mapping[str, Any], note: str = "") -> dict[str, Any]:
    """The ``detail`` of an incident ledger entry."""
    detail: dict[str, Any] = {"incident_id": incident_id, "inc_kind": kind.value, "severity": severity, "ok": ok,
                              "actor": actor, "artifacts": dict(artifacts)}
    if note:
        detail["note"] = note[:500]
    return detail


def incidents_from_entries(entries: Iterable[LedgerEntry | Mapping[str, Any]]) -> list[Incident]:
    """Replay incident entries (stored entries, or entry dicts from a bundle) into incidents, oldest first.

    Entries that do not parse (an unknown phase or kind) are skipped: ledger verification, not this
    reader, is what judges the ledger.
    """
    found: dict[str, Incident] = {}
    for item in entries:
        entry = item.to_dict() if isinstance(item, LedgerEntry) else item
        if entry.get("kind") != INCIDENT_ENTRY_KIND:
            continue
        detail = entry.get("detail") or {}
        try:
            phase, kind = Phase(entry["decision"]), IncidentKind(detail["inc_kind"])
            incident_id = str(detail["incident_id"])
        except (KeyError, ValueError):
            continue
        record = PhaseRecord(phase, int(entry["ts_ms"]), int(entry["seq"]), bool(detail.get("ok", True)),
                             str(detail.get("actor", "")), dict(detail.get("artifacts") or {}))
        if phase is Phase.DETECT:
            found.setdefault(incident_id, Incident(incident_id, kind, str(detail.get("severity", "")),
                                                   entry.get("extension_id"), str(detail.get("note", "")),
                                                   (record,)))
        elif incident_id in found:
            current = found[incident_id]
            found[incident_id] = Incident(current.incident_id, current.kind, current.severity, current.extension_id,
                                          current.note, (*current.phases, record))
    return list(found.values())
