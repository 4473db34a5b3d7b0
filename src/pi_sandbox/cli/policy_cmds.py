"""``pi --explain-extension-policy`` and ``pi policy ...``: what the policy says and why."""

from __future__ import annotations

import argparse
import time
from typing import Any

from pi_sandbox.capabilities import parse_capability
from pi_sandbox.cli.commands import CommandTree
from pi_sandbox.cli.context import CliContext, UsageError, add_json_flag, render_table
from pi_sandbox.errors import InvalidRequestError
from pi_sandbox.policy import (
    PermissionStore,
    StoredDecision,
    evaluate_capability,
    explain_policy,
    render_explanation,
)
from pi_sandbox.policy.prompts import SCOPES
from pi_sandbox.timeparse import parse_duration_ms


def run_explain(args: argparse.Namespace, ctx: CliContext) -> int:
    """``pi --explain-extension-policy [-e/--extension ID] [--json]``."""
    if len(ctx.extensions) > 1:
        raise UsageError("--explain-extension-policy takes at most one --extension ID")
    extension_id = ctx.extensions[0] if ctx.extensions else None
    ctx.emit(explain_policy(ctx.config(), extension_id), render_explanation)
    return 0


def _extension_id(value: str) -> str:
    """argparse type: a non-blank extension id."""
    if not value.strip():
        raise argparse.ArgumentTypeError("extension id must not be empty")
    return value


def _capability(value: str) -> str:
    try:
        return parse_capability(value).value
    except InvalidRequestError as exc:
        raise UsageError(str(exc)) from None


def _check(args: argparse.Namespace, ctx: CliContext) -> int:
    decision = evaluate_capability(ctx.config(), _capability(args.capability), args.extension_id)
    ctx.emit(decision.to_dict(), lambda d: f"{d['decision']} (layer {d['layer']}, reason {d['reason']})")
    return 0


def _grant(args: argparse.Namespace, ctx: CliContext) -> int:
    store = PermissionStore(ctx.config().state_dir)
    now = int(time.time() * 1000)
    expires = None
    if args.expires is not None:
        duration = parse_duration_ms(args.expires)
        if duration <= 0:
            raise UsageError("--expires must be a positive duration (e.g. 30m, 8h, 7d)")
        expires = now + duration
    decision = StoredDecision(args.extension_id, _capability(args.capability), not args.deny, "always", now, expires)
    store.put(decision)
    ctx.emit(vars(decision), lambda d: f"recorded: {'allow' if d['allow'] else 'deny'} {d['capability']} for "
             f"{d['extension_id']} (applies when the policy would prompt)")
    return 0


def _revoke(args: argparse.Namespace, ctx: CliContext) -> int:
    capability = _capability(args.capability) if args.capability else None
    removed = PermissionStore(ctx.config().state_dir).revoke(args.extension_id, capability)
    ctx.emit({"revoked": removed}, lambda d: f"revoked {d['revoked']} decision(s)")
    return 0


def _decisions(args: argparse.Namespace, ctx: CliContext) -> int:
    rows: list[dict[str, Any]] = [vars(d) for d in PermissionStore(ctx.config().state_dir)]
    ctx.emit(rows, lambda r: render_table(r, ["extension_id", "capability", "allow", "scope", "expires_at_ms"]))
    return 0


def register(tree: CommandTree) -> None:
    group = tree.group("policy")
    check = group.add_parser("check", help="evaluate one capability for one extension")
    check.add_argument("--extension", dest="extension_id", required=True, metavar="ID", type=_extension_id)
    check.add_argument("--capability", required=True, metavar="CAP")
    add_json_flag(check)
    check.set_defaults(handler=_check)

    grant = group.add_parser("grant", help="remember an 'always' prompt decision for an extension")
    grant.add_argument("--extension", dest="extension_id", required=True, metavar="ID", type=_extension_id)
    grant.add_argument("--capability", required=True, metavar="CAP")
    grant.add_argument("--deny", action="store_true", help="remember a deny instead of an allow")
    grant.add_argument("--expires", metavar="DURATION", help="e.g. 30m, 8h, 7d")
    add_json_flag(grant)
    grant.set_defaults(handler=_grant)

    revoke = group.add_parser("revoke", help="forget remembered prompt decisions")
    revoke.add_argument("--extension", dest="extension_id", required=True, metavar="ID", type=_extension_id)
    revoke.add_argument("--capability", metavar="CAP")
    add_json_flag(revoke)
    revoke.set_defaults(handler=_revoke)

    decisions = group.add_parser("decisions", help=f"list remembered prompt decisions (scopes: {', '.join(SCOPES)})")
    add_json_flag(decisions)
    decisions.set_defaults(handler=_decisions)
