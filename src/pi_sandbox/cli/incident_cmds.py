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
    from collections.abc import Callable
    from pathlib import Path

    from pi_sandbox.incident import Incident
    from pi_sandbox.incident.phases import PhaseOutcome

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
    from pi_sandbox.cli.controls_cmds import warn_if_unknown
    from pi_sandbox.incident import IncidentKind, open_incident

    extension_id = ctx.extension_id("incident open", required=False)
    warn_if_unknown(ctx, extension_id, "the incident's containment")
    incident = open_incident(_state(ctx), ctx.config(), IncidentKind(kind), extension_id=extension_id,
                             severity=severity, note=note, actor=_actor())
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


def _run_phase(ctx: CliContext, incident_id: str | None, run: Callable[..., PhaseOutcome], label: str,
               render: Callable[[dict[str, Any]], Any]) -> bool:
    """Run an evidence phase (``incident.phases``) with a progress bar; emit its record and report.
    Returns whether the phase succeeded."""
    from pi_sandbox.cli.progress import progress_bar
    from pi_sandbox.incident import find_incident

    state_dir = _state(ctx)
    incident = find_incident(state_dir, incident_id)
    with progress_bar(ctx, label, unit="entries") as bar:
        outcome = run(state_dir, ctx.config(), incident, actor=_actor(), progress=bar)
    ctx.emit({"incident_id": incident.incident_id, **outcome.record.to_dict(), "report": dict(outcome.report)}, render)
    return bool(outcome.record.ok)


@command()
@_INCIDENT
def collect(ctx: CliContext, incident_id: str | None) -> int:
    """COLLECT: export the evidence bundle (the incident's extension, or all) and snapshot the config."""
    from pi_sandbox.incident import phases

    _run_phase(ctx, incident_id, phases.collect, "collecting", lambda d: (
        f"{d['incident_id']}: bundle {d['report']['bundle_path']} (bundle_hash {d['report']['bundle_hash'][:16]}…, "
        f"{d['report']['bundle_bytes']} bytes); config snapshot {d['report']['config_digest'][:16]}…"))
    return ExitCode.OK


def _render_verify(data: dict[str, Any]) -> list[Any]:
    report = data["report"]
    rows = [{"check": f"bundle: {s['name']}", "result": "ok" if s["ok"] else "FAILED",
             "finding": s["errors"][0] if s["errors"] else ""} for s in report["bundle"]["steps"]]
    rows.append({"check": "bundle: the one collect recorded", "result": "ok" if report["bundle_as_collected"]
                 else "FAILED", "finding": report["bundle_error"] or ""})
    rows.append({"check": "ledger chain + checkpoints + trust log",
                 "result": "ok" if report["chain_valid"] else "FAILED", "finding": report["first_finding"] or ""})
    verdict = "verified" if data["ok"] else "VERIFICATION FAILED (runbook INC-3: keep the evidence, run analyze)"
    out = [f"{data['incident_id']}: {verdict}", render_table(rows, ["check", "result", "finding"])]
    if not report["bundle_as_collected"]:
        out.append("the collected bundle is lost: `pi-sandbox incident collect` exports a new one (the file found is "
                   "kept as bundle.replaced-<seq>.json), then run verify again")
    return out


@command()
@_INCIDENT
def verify(ctx: CliContext, incident_id: str | None) -> int:
    """VERIFY: the bundle's five steps against the ledger's own key, and the live ledger chain. Exit 1 on failure."""
    from pi_sandbox.incident import phases

    ok = _run_phase(ctx, incident_id, phases.verify, "verifying", _render_verify)
    return ExitCode.OK if ok else ExitCode.FAILURE


@command()
@_INCIDENT
@_NOTE
def close(ctx: CliContext, incident_id: str | None, note: str) -> int:
    """POSTMORTEM: write the Markdown postmortem draft from the bundle and close the incident."""
    from pi_sandbox.incident import find_incident
    from pi_sandbox.incident.phases import close as run_close

    state_dir = _state(ctx)
    incident = find_incident(state_dir, incident_id)
    outcome = run_close(state_dir, ctx.config(), incident, actor=_actor(), note=note)
    ctx.emit({"incident_id": incident.incident_id, **outcome.record.to_dict(), "report": dict(outcome.report)},
             lambda d: f"{d['incident_id']}: closed; postmortem draft {d['report']['postmortem_path']}")
    return ExitCode.OK


_HTML = click.option("--html", "html_out", required=True, type=click.Path(dir_okay=False), metavar="FILE",
                     help="write the self-contained HTML report here")


@command()
@_INCIDENT
@_HTML
def report(ctx: CliContext, incident_id: str | None, html_out: str) -> int:
    """Write the incident's HTML report: timeline, phase SLA bars, alerts, exec decisions, verification."""
    from pathlib import Path

    from pi_sandbox.audit.records import now_ms
    from pi_sandbox.incident import find_incident, load_incidents
    from pi_sandbox.incident.phases import incident_report_data, write_report

    state_dir = _state(ctx)
    if incident_id is None and not any(not i.closed for i in load_incidents(state_dir)):
        closed = load_incidents(state_dir)
        incident_id = closed[-1].incident_id if closed else None  # a closed incident's report is still wanted
    incident = find_incident(state_dir, incident_id)
    size = write_report(Path(html_out), incident_report_data(state_dir, ctx.config(), incident, now_ms()))
    ctx.emit({"incident_id": incident.incident_id, "html": html_out, "bytes": size},
             lambda d: f"{d['incident_id']}: report written to {d['html']} ({d['bytes']} bytes, self-contained)")
    return ExitCode.OK


@command()
@click.argument("file", type=click.Path(dir_okay=False))
@_HTML
@click.option("--public-key", metavar="HEX", help="the ledger's Ed25519 public key to check checkpoints against")
def bundle_report(ctx: CliContext, file: str, html_out: str, public_key: str | None) -> int:
    """Write the HTML report of an evidence bundle FILE (verified first; the report shows the result)."""
    from pathlib import Path

    from pi_sandbox.audit.records import now_ms
    from pi_sandbox.incident.phases import bundle_file_report_data, write_report

    data = bundle_file_report_data(Path(file), public_key=public_key, now=now_ms())
    size = write_report(Path(html_out), data)
    ctx.emit({"bundle": file, "html": html_out, "bytes": size},
             lambda d: f"report of {d['bundle']} written to {d['html']} ({d['bytes']} bytes, self-contained)")
    return ExitCode.OK


@command()
@_INCIDENT
def analyze(ctx: CliContext, incident_id: str | None) -> int:
    """ANALYZE: forensic replay of the bundle; differences, config changes and chain breaks for the postmortem."""
    from pi_sandbox.incident import phases

    _run_phase(ctx, incident_id, phases.analyze, "replaying", lambda d: (
        f"{d['incident_id']}: replayed {d['detail']['replayed']} entries: {d['detail']['difference_count']} differ "
        f"from the record, {d['detail']['config_changes']} config change(s), chain break: "
        f"{d['detail']['chain_break_seq'] or 'none'}; {d['report']['replay_path']}"))
    return ExitCode.OK
