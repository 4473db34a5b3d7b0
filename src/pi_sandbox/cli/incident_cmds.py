"""``pi-sandbox incident ...``: the runbook's phases as commands, each recorded in the ledger (docs/incident.md).

``open`` starts the SLA clock, ``status`` shows the current phase and the time left, ``contain``,
``collect``, ``verify`` and ``analyze`` run the runbook's actions, ``close`` writes the postmortem draft
and ``report --html`` the self-contained HTML report.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from pi_sandbox.cli.app import command
from pi_sandbox.cli.context import CliContext, iso_ms, render_table
from pi_sandbox.errors import ExitCode

if TYPE_CHECKING:
    from pathlib import Path

    from pi_sandbox.incident import Incident

_INCIDENT = click.option("--incident", "incident_id", metavar="ID",
                         help="the incident (default: the one open incident)")
_NOTE = click.option("--note", default="", metavar="TEXT", help="a note recorded with the phase")


def _state(ctx: CliContext) -> Path:
    return ctx.config().state_dir


def _actor() -> str:
    from pi_sandbox.trust import operator_name

    return operator_name()


def _status_data(incident: Incident) -> dict[str, Any]:
    from pi_sandbox.audit.records import now_ms
    from pi_sandbox.incident import GUIDES, phase_statuses

    now = now_ms()
    return {**incident.to_dict(), "title": GUIDES[incident.kind].title, "now_ms": now,
            "sla": [s.to_dict() for s in phase_statuses(incident, now)]}


def _render_status(data: dict[str, Any]) -> list[Any]:
    from pi_sandbox.incident.clock import format_duration, sla_label

    current = data["current_phase"]
    due = next((s for s in data["sla"] if s["phase"] == current), None)
    left = ""
    if due is not None and due["remaining_ms"] is not None:
        left = (f" (due in {format_duration(due['remaining_ms'])})" if due["remaining_ms"] >= 0
                else f" (OVERDUE by {format_duration(-due['remaining_ms'])})")
    head = [f"{data['incident_id']}: {data['kind']} {data['title']}, severity {data['severity']}, "
            f"extension {data['extension_id'] or '(none named)'}",
            f"opened {iso_ms(data['opened_ms'])}; "
            + ("closed" if data["closed"] else f"current phase: {current}{left}")]
    rows = []
    for s in data["sla"]:
        rows.append({"phase": s["phase"], "sla": sla_label(s["sla_ms"]),
                     "state": s["state"] + (" (failed)" if s["ok"] is False else ""),
                     "due": iso_ms(s["due_at_ms"]) if s["due_at_ms"] else "",
                     "done": iso_ms(s["done_at_ms"]) if s["done_at_ms"] else "",
                     "time_left": format_duration(s["remaining_ms"]) if s["remaining_ms"] is not None else ""})
    return ["\n".join(head), render_table(rows, ["phase", "sla", "state", "due", "done", "time_left"])]


@command(extension="the extension the incident concerns (contain then stops only it)")
@click.option("--kind", required=True, type=click.Choice([f"INC-{n}" for n in range(1, 7)]),
              help="the runbook's class: INC-1 capability, 2 secret, 3 ledger, 4 scanner, 5 quarantine, 6 quota")
@click.option("--severity", default="error", show_default=True,
              type=click.Choice(["info", "warning", "error", "critical"]), help="the incident's severity")
@_NOTE
def open_(ctx: CliContext, kind: str, severity: str, note: str) -> int:
    """Open an incident (DETECT): recorded in the ledger; the runbook's SLA clock starts now."""
    from pi_sandbox.incident import IncidentKind, open_incident

    incident = open_incident(_state(ctx), ctx.config(), IncidentKind(kind),
                             extension_id=ctx.extension_id("incident open", required=False), severity=severity,
                             note=note, actor=_actor())
    ctx.emit(_status_data(incident), _render_status)
    return ExitCode.OK


@command()
@_INCIDENT
def status(ctx: CliContext, incident_id: str | None) -> int:
    """The incident's current phase and the time left against each of the runbook's SLAs."""
    from pi_sandbox.incident import find_incident

    ctx.emit(_status_data(find_incident(_state(ctx), incident_id)), _render_status)
    return ExitCode.OK


@command()
@_INCIDENT
@click.option("--quarantine", "use_quarantine", is_flag=True,
              help="quarantine the extension instead of setting its kill switch")
@_NOTE
def contain(ctx: CliContext, incident_id: str | None, use_quarantine: bool, note: str) -> int:
    """CONTAIN: kill switch (the incident's extension, or all) or quarantine, then verify isolation."""
    from pi_sandbox.incident import ContainMethod, find_incident
    from pi_sandbox.incident import contain as run_contain

    state_dir = _state(ctx)
    incident = find_incident(state_dir, incident_id)
    method = ContainMethod.QUARANTINE if use_quarantine else ContainMethod.KILL_SWITCH
    record = run_contain(state_dir, ctx.config(), incident, method, actor=_actor(), note=note)
    ctx.emit({"incident_id": incident.incident_id, **record.to_dict()},
             lambda d: f"{d['incident_id']}: contained by {d['detail']['action']} of {d['detail']['scope']} "
                       f"(ledger seq {d['detail']['control_seq']}); isolation verified: the trust stage refuses "
                       f"every hostcall ({d['detail']['blocked_reason']})")
    return ExitCode.OK
