"""Runbook "Contain" and INC-5/INC-6: trust, kill switches, quotas and hostcall statistics.

``ext trust promote|quarantine`` and ``security kill-switch on|off`` write to the ledger (who, when, why)
and reach every running session within 100 ms; the ``show``/``history``/``status``/``stats`` commands
open the database read-only.
"""

from __future__ import annotations

from typing import Any

import click

from pi_sandbox.cli.app import command
from pi_sandbox.cli.context import CliContext, iso_ms, render_table
from pi_sandbox.cli.ledger_cmds import _anchor_copy, _open_for_reading, _since_ms, _state_dir
from pi_sandbox.errors import ExitCode

_REASON = click.option("--reason", required=True, metavar="TEXT", help="why (recorded in the ledger)")


def _history_rows(rows: list[dict[str, Any]]) -> Any:
    return render_table([{**r, "time": iso_ms(r["ts_ms"]), "actor": f"{r['actor']}:{r['actor_name']}"}
                         for r in rows], ["seq", "time", "from", "to", "reason", "actor", "note"])


@command(extension="the extension")
def trust_show(ctx: CliContext) -> int:
    """Show an extension's trust state and its last transition."""
    from pi_sandbox.trust import TrustRegistry

    extension_id = str(ctx.extension_id("ext trust show"))
    store = _open_for_reading(ctx)
    data: dict[str, Any] = {"extension_id": extension_id, "state": "unknown", "last_transition": None}
    if store is not None:
        with store:
            registry = TrustRegistry(store, ctx.config().trust)
            history = registry.history(extension_id)
            data["state"] = registry.state(extension_id)
            data["last_transition"] = history[-1].to_dict() if history else None
    ctx.emit(data, lambda d: f"{d['extension_id']}: {d['state']}" + (
        f" (since {iso_ms(d['last_transition']['ts_ms'])}: {d['last_transition']['reason']})"
        if d["last_transition"] else ""))
    return ExitCode.OK


@command(extension="the extension")
def trust_history(ctx: CliContext) -> int:
    """List every trust transition of an extension (from, to, actor, reason, time)."""
    from pi_sandbox.trust import TrustRegistry

    extension_id = str(ctx.extension_id("ext trust history"))
    store = _open_for_reading(ctx)
    rows: list[dict[str, Any]] = []
    if store is not None:
        with store:
            rows = [t.to_dict() for t in TrustRegistry(store, ctx.config().trust).history(extension_id)]
    ctx.emit(rows, _history_rows)
    return ExitCode.OK


@command(extension="the extension")
@click.option("--to", "to_state", required=True, type=click.Choice(["probation", "trusted"]),
              help="the new state")
@_REASON
def trust_promote(ctx: CliContext, to_state: str, reason: str) -> int:
    """Promote an extension to probation or trusted (also the only way out of quarantine)."""
    from pi_sandbox.trust import TrustState, promote

    transition = promote(_state_dir(ctx), ctx.config().trust, str(ctx.extension_id("ext trust promote")),
                         TrustState(to_state), reason, anchor_copy=_anchor_copy(ctx))
    ctx.emit(transition.to_dict(), lambda d: f"{d['extension_id']}: {d['from']} → {d['to']} (ledger seq {d['seq']})")
    return ExitCode.OK


@command(extension="the extension")
@_REASON
def trust_quarantine(ctx: CliContext, reason: str) -> int:
    """Quarantine an extension: every hostcall, handler, tool and command stops (running sessions too)."""
    from pi_sandbox.trust import quarantine

    extension_id = str(ctx.extension_id("ext trust quarantine"))
    warn_if_unknown(ctx, extension_id, "the quarantine")
    transition = quarantine(_state_dir(ctx), ctx.config().trust, extension_id, reason, anchor_copy=_anchor_copy(ctx))
    ctx.emit(transition.to_dict(), lambda d: f"{d['extension_id']}: {d['from']} → quarantined (ledger seq {d['seq']})")
    return ExitCode.OK


def known_extension_ids(ctx: CliContext) -> set[str]:
    """The ids an operator can mean: discovered here (installed, global, project, settings) or in the ledger."""
    from pi_sandbox.runtime.discover import discover

    config = ctx.config()
    found = discover(agent_dir=config.agent_dir, project_dir=config.project_dir, settings_paths=config.extensions,
                     project_settings_paths=config.project_extensions)
    ids = {s.extension_id for s in found.sources}
    store = _open_for_reading(ctx)
    if store is not None:
        with store:
            ids |= store.extension_ids()
    return ids


def warn_if_unknown(ctx: CliContext, extension_id: str | None, what: str) -> None:
    """Warn when an operator names an id nothing here knows: a typo (``word-cuont``) would contain nothing.

    Not refused: an id may be stopped before the extension is ever installed."""
    if extension_id is None:
        return
    known = known_extension_ids(ctx)
    if extension_id in known:
        return
    import difflib

    close = difflib.get_close_matches(extension_id, sorted(known), n=1, cutoff=0.6)
    hint = f"did you mean '{close[0]}'? " if close else ""
    ctx.warn(f"no extension '{extension_id}' is known here (discovered, installed or in the ledger): {hint}"
             f"{what} applies to that exact id only")


def _switch(ctx: CliContext, active: bool, reason: str) -> int:
    from pi_sandbox.trust import GLOBAL, KillSwitchBoard, set_kill_switch

    extension_id = ctx.extension_id("security kill-switch", required=False)
    warn_if_unknown(ctx, extension_id, "the kill switch")
    if not active:
        store = _open_for_reading(ctx)
        on: list[str] = []
        if store is not None:
            with store:
                on = [e.scope for e in KillSwitchBoard(store).active()]
        if (extension_id or GLOBAL) not in on:
            listed = ", ".join("all extensions" if s == GLOBAL else s for s in on) or "none"
            ctx.warn(f"no kill switch was on for {extension_id or 'all extensions'}: nothing is lifted "
                     f"(switches on: {listed})")
    event = set_kill_switch(_state_dir(ctx), active, extension_id, reason, anchor_copy=_anchor_copy(ctx))
    scope = "all extensions" if event.scope == "*" else f"extension '{event.scope}'"
    ctx.emit(event.to_dict(), lambda d: f"kill switch {'ON' if active else 'off'} for {scope} "
                                        f"(ledger seq {d['seq']}); running sessions obey within 100 ms")
    return ExitCode.OK


@command(extension="only this extension (default: all extensions)")
@_REASON
def kill_switch_on(ctx: CliContext, reason: str) -> int:
    """Stop all extensions, or one: hostcalls refused, handlers and tools not run, children killed."""
    return _switch(ctx, True, reason)


@command(extension="only this extension's switch (default: the global one)")
@_REASON
def kill_switch_off(ctx: CliContext, reason: str) -> int:
    """Lift a kill switch (recorded like setting it)."""
    return _switch(ctx, False, reason)


@command()
def kill_switch_status(ctx: CliContext) -> int:
    """List the kill switches that are on, and their history."""
    from pi_sandbox.trust import KillSwitchBoard

    store = _open_for_reading(ctx)
    data: dict[str, Any] = {"active": [], "events": []}
    if store is not None:
        with store:
            board = KillSwitchBoard(store)
            data = {"active": [e.to_dict() for e in board.active()], "events": [e.to_dict() for e in board.events()]}

    def render(d: dict[str, Any]) -> list[str]:
        if not d["active"]:
            return ["no kill switch is on"]
        return [render_table([{**e, "time": iso_ms(e["ts_ms"])} for e in d["active"]],
                             ["scope", "time", "actor", "reason"])]

    ctx.emit(data, render)
    return ExitCode.OK


@command(extension="only this extension")
def quota_status(ctx: CliContext) -> int:
    """Usage against limits per extension, as the sessions last recorded it, with breaches."""
    from pi_sandbox.quota import quota_status as status

    store = _open_for_reading(ctx)
    rows: list[dict[str, Any]] = []
    if store is not None:
        with store:
            rows = status(store, ctx.extension_id("security quota status", required=False))

    def render(data: list[dict[str, Any]]) -> list[str]:
        out: list[str] = []
        for ext in data:
            when = iso_ms(ext["as_of_ms"]) if ext["as_of_ms"] else "never"
            out.append(f"{ext['extension_id']} (as of {when}; {len(ext['breaches'])} breach(es))")
            out.append(render_table(ext["resources"], ["resource", "used", "limit"]))
        return out or ["no quota usage recorded yet"]

    ctx.emit(rows, render)
    return ExitCode.OK


@command(extension="only this extension")
def risk_status(ctx: CliContext) -> int:
    """The risk controller's settings and threshold; per extension its scores, refusals and alarms."""
    from pi_sandbox.risk.status import risk_status as status

    store = _open_for_reading(ctx)
    settings = ctx.config().risk
    extension_id = ctx.extension_id("security risk status", required=False)
    if store is not None:
        with store:
            data = status(store, settings, extension_id)
    else:
        data = status(None, settings, extension_id)

    def render(d: dict[str, Any]) -> list[str]:
        s = d["settings"]
        if not s["enabled"]:
            head = "risk controller: OFF (extensionRisk.enabled is false)"
        else:
            head = (f"risk controller: {'ENFORCE' if s['enforce'] else 'SHADOW (records, never refuses)'}; "
                    f"alpha {s['alpha']} → threshold {s['threshold']} over windows of {s['window_size']} calls "
                    f"(calibrated on {s['calibration']['windows']} benign windows); failClosed {s['fail_closed']}")
        rows = [{"extension_id": e["extension_id"], "as_of": iso_ms(e["as_of_ms"]) if e["as_of_ms"] else "never",
                 "mode": e.get("mode", ""), "scored": e.get("scored", 0), "denied": e.get("denied", 0),
                 "shadow_denied": e.get("shadow_denied", 0), "faults": e.get("faults", 0),
                 "max_score": e.get("max_score", 0)} for e in d["extensions"]]
        out = [head]
        out.append(render_table(rows, ["extension_id", "as_of", "mode", "scored", "denied", "shadow_denied",
                                       "faults", "max_score"]) if rows else "no risk decisions recorded yet")
        alarms = [{**a, "time": iso_ms(a["ts_ms"]), "extension_id": e["extension_id"],
                   "features": ", ".join(f"{k} {v}" for k, v in (a.get("features") or {}).items())
                   or a.get("fault", "")} for e in d["extensions"] for a in e["alarms"]]
        if alarms:
            out.append(render_table(alarms, ["time", "extension_id", "action", "method", "score", "threshold",
                                             "features"]))
        return out

    ctx.emit(data, render)
    return ExitCode.OK


@command(extension="only this extension")
@click.option("--since", metavar="TIME", help="ISO 8601 time or a duration back from now (15m, 2h, 1d)")
def stats(ctx: CliContext, since: str | None) -> int:
    """Hostcall statistics from telemetry: counts by method, decision and stage; bytes; stage timings."""
    from pi_sandbox.audit.telemetry import summarize

    store = _open_for_reading(ctx)
    data: dict[str, Any] = {"extensions": {}, "hostcalls": 0}
    if store is not None:
        with store:
            data = summarize(store, ctx.extension_id("security stats", required=False), _since_ms(since))

    def render(d: dict[str, Any]) -> list[str]:
        rows = [{"extension_id": ext, "hostcalls": e["hostcalls"], "allowed": e["by_decision"].get("allow", 0),
                 "denied": e["hostcalls"] - e["by_decision"].get("allow", 0),
                 "p50_us": e["total_us"]["p50"], "p95_us": e["total_us"]["p95"], "bytes_in": e["bytes_in"],
                 "bytes_out": e["bytes_out"]} for ext, e in d["extensions"].items()]
        return [render_table(rows, ["extension_id", "hostcalls", "allowed", "denied", "p50_us", "p95_us",
                                    "bytes_in", "bytes_out"])] if rows else ["no telemetry recorded yet"]

    ctx.emit(data, render)
    return ExitCode.OK
