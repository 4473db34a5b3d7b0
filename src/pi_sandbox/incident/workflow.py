"""The incident workflow's state and first phases: open (DETECT), status, contain (CONTAIN).

Every phase appends its ``incident`` ledger entry (:mod:`.record`) once its actions succeeded; the
phases run in the runbook's order, each once. Files an incident produces (bundle, config snapshot,
replay, postmortem) live in ``<state dir>/incidents/<incident id>/``, which no extension can see.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any, Final

from pi_sandbox.audit import AuditStore, LedgerEntryDraft
from pi_sandbox.audit.db import DB_FILE
from pi_sandbox.config.model import SecurityConfig
from pi_sandbox.errors import IncidentError
from pi_sandbox.incident.record import (
    INCIDENT_ENTRY_KIND,
    Incident,
    PhaseRecord,
    entry_detail,
    incidents_from_entries,
    new_incident_id,
)
from pi_sandbox.incident.runbook import GUIDES, PHASE_RULES, PHASES, IncidentKind, Phase
from pi_sandbox.vocabulary import Severity

INCIDENTS_DIR: Final = "incidents"


class ContainMethod(StrEnum):
    """How CONTAIN stops the extension."""

    KILL_SWITCH = "kill-switch"
    QUARANTINE = "quarantine"


@dataclass(frozen=True, slots=True)
class IncidentFiles:
    """Where an incident's artifacts are written."""

    root: Path

    @property
    def bundle(self) -> Path:
        return self.root / "bundle.json"

    @property
    def config_snapshot(self) -> Path:
        return self.root / "config-snapshot.json"

    @property
    def replay(self) -> Path:
        return self.root / "replay.json"

    @property
    def postmortem(self) -> Path:
        return self.root / "postmortem.md"


def incident_files(state_dir: Path, incident: Incident) -> IncidentFiles:
    """The artifact paths of ``incident`` (the folder is created when the first artifact is written)."""
    return IncidentFiles(state_dir / INCIDENTS_DIR / incident.incident_id)


def load_incidents(state_dir: Path) -> list[Incident]:
    """Every incident recorded in the ledger of ``state_dir``, oldest first (read-only)."""
    if not (state_dir / DB_FILE).exists():
        return []
    with AuditStore.open_read_only(state_dir) as store:
        return incidents_from_entries(store.query_ledger(kind=INCIDENT_ENTRY_KIND))


def find_incident(state_dir: Path, incident_id: str | None = None) -> Incident:
    """The incident named ``incident_id``, or else the one open incident."""
    incidents = load_incidents(state_dir)
    if incident_id is not None:
        found = next((i for i in incidents if i.incident_id == incident_id), None)
        if found is None:
            known = ", ".join(i.incident_id for i in incidents[-5:]) or "none recorded"
            raise IncidentError(f"no incident '{incident_id}' in the ledger (recent: {known})")
        return found
    open_ = [i for i in incidents if not i.closed]
    if not open_:
        if incidents:  # just closed one? name it: its status, report and files stay available by id
            latest = incidents[-1].incident_id
            raise IncidentError(f"no incident is open (the latest, {latest}, is closed)",
                                remediation=f"`pi-sandbox incident status --incident {latest}` shows it; "
                                            "`pi-sandbox incident open --kind INC-N` starts a new one")
        raise IncidentError("no incident is open", remediation="start one with `pi-sandbox incident open --kind "
                            "INC-N` (1 capability, 2 secret, 3 ledger, 4 scanner, 5 quarantine, 6 quota)")
    if len(open_) > 1:
        raise IncidentError(f"{len(open_)} incidents are open ({', '.join(i.incident_id for i in open_)}); "
                            f"name one with --incident ID")
    return open_[0]


def record_phase(state_dir: Path, config: SecurityConfig, incident: Incident, phase: Phase, *, ok: bool,
                 artifacts: Mapping[str, Any], actor: str, note: str = "") -> PhaseRecord:
    """Append the ledger entry that marks ``phase`` of ``incident`` completed."""
    with AuditStore.open(state_dir, anchor_copy=config.ledger.anchor_copy) as store:
        entry = store.append(LedgerEntryDraft(
            kind=INCIDENT_ENTRY_KIND, extension_id=incident.extension_id, decision=phase.value,
            reason=f"incident_{phase.value}",
            detail=entry_detail(incident.incident_id, incident.kind, incident.severity, ok, actor, artifacts, note)))
    return PhaseRecord(phase, entry.ts_ms, entry.seq, ok, actor, dict(artifacts))


def require_phase(incident: Incident, phase: Phase) -> None:
    """Refuse ``phase`` unless the incident is open, the phases before it ran and it has not succeeded yet
    (a phase that failed, e.g. containment that could not be verified, may run again)."""
    if incident.closed:
        raise IncidentError(f"incident {incident.incident_id} is closed")
    done = incident.done(phase)
    if done is not None and done.ok:
        raise IncidentError(f"{phase.value} of {incident.incident_id} was already done (ledger seq {done.seq}); "
                            f"each phase runs once")
    for earlier in PHASES[:PHASES.index(phase)]:
        command = PHASE_RULES[earlier].command
        if command and incident.done(earlier) is None:
            raise IncidentError(f"{earlier.value} comes before {phase.value}: run `pi-sandbox incident {command}` "
                                f"first (runbook order)")


def open_incident(state_dir: Path, config: SecurityConfig, kind: IncidentKind, *, extension_id: str | None,
                  severity: str, note: str, actor: str) -> Incident:
    """DETECT: record the incident; the SLA clock starts now."""
    if severity not in {s.value for s in Severity}:
        raise IncidentError(f"unknown severity '{severity}'; use one of {', '.join(s.value for s in Severity)}")
    existing = {i.incident_id for i in load_incidents(state_dir)}
    incident_id = new_incident_id(kind)
    suffix = 2
    while incident_id in existing:  # two incidents of one kind opened within a second
        incident_id = f"{new_incident_id(kind)}-{suffix}"
        suffix += 1
    draft = Incident(incident_id, kind, severity, extension_id, note)
    record = record_phase(state_dir, config, draft, Phase.DETECT, ok=True, actor=actor, note=note,
                          artifacts={"title": GUIDES[kind].title})
    return Incident(incident_id, kind, severity, extension_id, note, (record,))


def contain(state_dir: Path, config: SecurityConfig, incident: Incident, method: ContainMethod, *, actor: str,
            note: str = "") -> PhaseRecord:
    """CONTAIN: kill switch (the extension's, or the global one) or quarantine, then verify isolation.

    Isolation is verified with the same check the pipeline's trust stage makes before every hostcall
    (``Controls.blocked``), on the ledger as a fresh session would read it.
    """
    from pi_sandbox.trust import Controls, quarantine, set_kill_switch

    require_phase(incident, Phase.CONTAIN)
    reason = f"incident {incident.incident_id} ({incident.kind.value} {GUIDES[incident.kind].title})" + (
        f": {note}" if note else "")
    if method is ContainMethod.QUARANTINE:
        if incident.extension_id is None:
            raise IncidentError("quarantine needs the incident's extension (open it with --extension ID); "
                                "without one, contain with the global kill switch")
        control_seq = quarantine(state_dir, config.trust, incident.extension_id, reason,
                                 anchor_copy=config.ledger.anchor_copy).seq
    else:
        control_seq = set_kill_switch(state_dir, True, incident.extension_id, reason,
                                      anchor_copy=config.ledger.anchor_copy).seq
    probe = incident.extension_id or "*"  # any id is stopped by the global switch
    with AuditStore.open_read_only(state_dir) as store:
        controls = Controls(store, config.trust, state_dir, watch=False)
        try:
            blocked = controls.blocked(probe)
        finally:
            controls.close()
    artifacts = {"action": method.value, "scope": incident.extension_id or "all extensions",
                 "control_seq": control_seq, "isolation_verified": blocked is not None,
                 "blocked_reason": blocked[0].value if blocked else None}
    if blocked is None:
        record_phase(state_dir, config, incident, Phase.CONTAIN, ok=False, artifacts=artifacts, actor=actor, note=note)
        raise IncidentError(f"{method.value} was recorded (seq {control_seq}) but the trust stage does not refuse "
                            f"'{probe}': containment is NOT verified; use `pi-sandbox security kill-switch on` "
                            f"(global) and investigate (runbook INC-5)")
    return record_phase(state_dir, config, incident, Phase.CONTAIN, ok=True, artifacts=artifacts, actor=actor,
                        note=note)
