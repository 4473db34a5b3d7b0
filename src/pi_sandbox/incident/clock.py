"""The SLA clock: for each phase of an incident, when it is due, when it was done, and time left."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from pi_sandbox.incident.record import Incident
from pi_sandbox.incident.runbook import PHASE_RULES, PHASES, Phase


class PhaseState(StrEnum):
    """Where a phase stands against its SLA."""

    DONE = "done"            # completed within its SLA
    LATE = "late"            # completed after its SLA
    PENDING = "pending"      # not done, still within its SLA
    OVERDUE = "overdue"      # not done, past its SLA
    OPEN_ENDED = "open_ended"  # no SLA ("varies"): remediation, tracked in the postmortem's checklist


@dataclass(frozen=True, slots=True)
class PhaseStatus:
    """One phase against the clock. ``remaining_ms`` is negative when overdue; None when done or open-ended."""

    phase: Phase
    sla_ms: int | None
    due_ms: int | None
    done_ms: int | None
    ok: bool | None
    state: PhaseState
    remaining_ms: int | None
    actions: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"phase": self.phase.value, "sla_ms": self.sla_ms, "due_at_ms": self.due_ms, "done_at_ms": self.done_ms,
                "ok": self.ok, "state": self.state.value, "remaining_ms": self.remaining_ms, "actions": self.actions}


def phase_statuses(incident: Incident, now_ms: int) -> list[PhaseStatus]:
    """Every phase of ``incident`` against its SLA (measured from detection) at ``now_ms``.

    A closed incident's clock stops at its close: nothing becomes overdue afterwards.
    """
    closed = incident.done(Phase.POSTMORTEM)
    clock = closed.ts_ms if closed is not None else now_ms
    statuses = []
    for phase in PHASES:
        rule = PHASE_RULES[phase]
        record = incident.done(phase)
        due = None if rule.sla_ms is None else incident.opened_ms + rule.sla_ms
        if record is not None:
            state = PhaseState.LATE if due is not None and record.ts_ms > due else PhaseState.DONE
            remaining = None
        elif due is None:
            state, remaining = PhaseState.OPEN_ENDED, None
        else:
            remaining = due - clock
            state = PhaseState.PENDING if remaining >= 0 else PhaseState.OVERDUE
        statuses.append(PhaseStatus(phase, rule.sla_ms, due, record.ts_ms if record else None,
                                    record.ok if record else None, state, remaining, rule.actions))
    return statuses


def format_duration(ms: int) -> str:
    """``1h 05m``, ``4m 10s``, ``12s``, ``250ms`` (a negative duration keeps its sign)."""
    sign, ms = ("-", -ms) if ms < 0 else ("", ms)
    if ms < 1000:
        return f"{sign}{ms}ms"
    seconds = ms // 1000
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{sign}{hours}h {minutes:02d}m"
    if minutes:
        return f"{sign}{minutes}m {secs:02d}s"
    return f"{sign}{secs}s"


def sla_label(sla_ms: int | None) -> str:
    """How the runbook states an SLA: ``varies``, ``automatic`` or ``< 15m 00s``."""
    if sla_ms is None:
        return "varies"
    return "automatic" if sla_ms == 0 else f"< {format_duration(sla_ms)}"
