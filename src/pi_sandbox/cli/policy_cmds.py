"""``pi-sandbox --explain-extension-policy`` and ``pi-sandbox policy ...``: what the policy says and why."""

from __future__ import annotations

import time
from typing import Any

import click

from pi_sandbox.cli.app import command
from pi_sandbox.cli.context import PROG, CliContext, Rendered, UsageError, iso_ms, render_table
from pi_sandbox.errors import ExitCode

_ONE_EXTENSION = "the extension id"


def render_explanation(doc: dict[str, Any]) -> list[Rendered]:
    """The explanation for people: a summary block, then one row per capability with its remediation."""
    lines = [
        f"effective profile : {doc['effective_profile']} (source: {doc['profile_source']})",
        f"mode              : {doc['mode']}",
        f"allow dangerous   : {'yes' if doc['allow_dangerous'] else 'no'} (source: {doc['allow_dangerous_source']})",
        f"exec mediation    : {'on' if doc['exec_mediation_enabled'] else 'OFF'}, deny >= "
        f"{doc['exec_mediation']['deny_threshold']}",
        f"secret broker     : {'on' if doc['secret_broker_enabled'] else 'OFF'}",
    ]
    if doc["extension_id"]:
        lines.append(f"extension         : {doc['extension_id']}")
    for ext, override in sorted(doc["per_extension_overrides"].items()):
        parts = [f"{key} {', '.join(value)}" for key, value in (("allow", override["allow"]),
                                                                ("deny", override["deny"])) if value]
        if override["mode"]:
            parts.append(f"mode {override['mode']}")
        if override["quota"]:
            parts.append("quota " + ", ".join(f"{k}={v}" for k, v in override["quota"].items() if v is not None))
        lines.append(f"override {ext:<9}: {'; '.join(parts) or '(none)'}")
    hosts = doc["http_hosts"]
    lines += [f"http hosts        : unlisted hosts: {hosts['unlisted_hosts']}",
              f"                    non-public addresses: {hosts['non_public_addresses']}"]
    entries = [{"rule": kind, **e} for kind in ("allow", "deny") for e in hosts[kind]]
    host_table = render_table(entries, ["rule", "pattern", "key", "source"]) if entries else "(no host entries)"
    rows = doc["capability_decisions"]
    return ["\n".join(lines) + "\n", host_table, "",
            render_table(rows, ["capability", "decision", "layer", "reason"]), "",
            render_table(rows, ["capability", "remediation"], headers={"remediation": "HOW TO CHANGE IT"})]


def run_explain(ctx: CliContext) -> int:
    """``pi-sandbox --explain-extension-policy [-e/--extension ID] [--json]``."""
    from pi_sandbox.policy import explain_policy

    if len(ctx.extensions) > 1:
        raise UsageError(f"{PROG}: --explain-extension-policy takes at most one --extension ID")
    extension_id = ctx.extensions[0] if ctx.extensions else None
    ctx.emit(explain_policy(ctx.config(), extension_id), render_explanation)
    return ExitCode.OK


@command(extension="only this extension (its overrides and decisions)")
def explain(ctx: CliContext) -> int:
    """The effective extension policy: profile and its source, every capability's decision and why,
    each with the settings change that would alter it. Same as ``--explain-extension-policy``."""
    return run_explain(ctx)


def _capability(value: str) -> str:
    from pi_sandbox.capabilities import parse_capability
    from pi_sandbox.errors import InvalidRequestError

    try:
        return parse_capability(value).value
    except InvalidRequestError as exc:
        raise UsageError(f"{PROG}: {exc}") from None


@command(extension=_ONE_EXTENSION)
@click.option("--capability", required=True, metavar="CAP", help="read, write, http, exec, env, ...")
def check(ctx: CliContext, capability: str) -> int:
    """Evaluate one capability for one extension: decision, the layer that decided, the reason."""
    from pi_sandbox.policy import evaluate_capability

    extension_id = ctx.extension_id("policy check")
    assert extension_id is not None
    decision = evaluate_capability(ctx.config(), _capability(capability), extension_id)
    ctx.emit(decision.to_dict(), lambda d: f"{d['decision']} (layer {d['layer']}, reason {d['reason']})")
    return ExitCode.OK


@command(extension=_ONE_EXTENSION)
@click.option("--capability", required=True, metavar="CAP")
@click.option("--deny", is_flag=True, help="remember a deny instead of an allow")
@click.option("--expires", metavar="DURATION", help="e.g. 30m, 8h, 7d")
def grant(ctx: CliContext, capability: str, deny: bool, expires: str | None) -> int:
    """Remember an 'always' answer for an extension (used where the policy would prompt)."""
    from pi_sandbox.policy import PermissionStore, StoredDecision
    from pi_sandbox.timeparse import parse_duration_ms

    extension_id = ctx.extension_id("policy grant")
    assert extension_id is not None
    cap = _capability(capability)
    now = int(time.time() * 1000)
    expires_at = None
    if expires is not None:
        duration = parse_duration_ms(expires)
        if duration <= 0:
            raise UsageError(f"{PROG} policy grant: --expires must be a positive duration (e.g. 30m, 8h, 7d)")
        expires_at = now + duration
    decision = StoredDecision(extension_id, cap, not deny, "always", now, expires_at)
    PermissionStore(ctx.config().state_dir).put(decision)

    def render(d: dict[str, Any]) -> str:
        until = f" until {iso_ms(d['expires_at_ms'], seconds=True)}" if d["expires_at_ms"] else ""
        answer = "allow" if d["allow"] else "deny"
        return f"recorded: {answer} {d['capability']} for {d['extension_id']}{until} (applies where the policy " \
               "would prompt)"

    ctx.emit(vars(decision), render)
    return ExitCode.OK


@command(extension=_ONE_EXTENSION)
@click.option("--capability", metavar="CAP", help="only this capability (default: all)")
def revoke(ctx: CliContext, capability: str | None) -> int:
    """Forget remembered prompt decisions of an extension."""
    from pi_sandbox.policy import PermissionStore

    extension_id = ctx.extension_id("policy revoke")
    assert extension_id is not None
    cap = _capability(capability) if capability else None
    removed = PermissionStore(ctx.config().state_dir).revoke(extension_id, cap)
    ctx.emit({"revoked": removed}, lambda d: f"revoked {d['revoked']} decision(s)")
    return ExitCode.OK


@command()
def decisions(ctx: CliContext) -> int:
    """List remembered prompt decisions (scopes: once, session, always)."""
    from pi_sandbox.policy import PermissionStore

    rows: list[dict[str, Any]] = [vars(d) for d in PermissionStore(ctx.config().state_dir)]

    def render(items: list[dict[str, Any]]) -> Any:
        shown = [{**r, "allow": "allow" if r["allow"] else "deny",
                  "expires": iso_ms(r["expires_at_ms"], seconds=True) or "never"} for r in items]
        return render_table(shown, ["extension_id", "capability", "allow", "scope", "expires"],
                            headers={"allow": "ANSWER"})

    ctx.emit(rows, render)
    return ExitCode.OK
