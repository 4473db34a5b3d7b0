"""``pi security ledger verify|show`` and ``pi security alerts list``: evidence for operators.

``verify`` exits 0 when the chain and every signed checkpoint check out, 1 when anything was
tampered with or lost. ``show`` and ``alerts list`` open the database read-only: looking at the
evidence never changes it.
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from typing import Any

from pi_sandbox.audit import ALERT_CATEGORIES, SEVERITY_RANK, AuditStore, verify_ledger
from pi_sandbox.audit.db import DB_FILE
from pi_sandbox.audit.records import CATEGORY_ALIASES, normalize_category
from pi_sandbox.cli.commands import CommandTree
from pi_sandbox.cli.context import CliContext, UsageError, add_json_flag, render_table
from pi_sandbox.timeparse import parse_since_ms

_LEDGER_COLUMNS = ["seq", "time", "extension_id", "capability", "method", "decision", "layer", "reason", "call_id"]
_ALERT_COLUMNS = ["sequence_id", "time", "severity", "category", "extension_id", "action", "summary"]


def _iso(ts_ms: int) -> str:
    return datetime.fromtimestamp(ts_ms / 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a whole number") from None
    if not 1 <= value <= 2**63 - 1:  # SQLite integers are 64-bit
        raise argparse.ArgumentTypeError("must be between 1 and 9223372036854775807")
    return value


def _public_key(text: str) -> str:
    """argparse type: a raw Ed25519 public key as 64 hex digits."""
    token = text.strip().lower()
    if len(token) != 64 or any(c not in "0123456789abcdef" for c in token):
        raise argparse.ArgumentTypeError("expected 64 hex digits (the content of ledger-signing.pub)")
    return token


def _since(text: str | None) -> int | None:
    return None if text is None else parse_since_ms(text)


def _open_for_reading(ctx: CliContext) -> AuditStore | None:
    """The store opened read-only, or None when nothing has been recorded yet."""
    state_dir = ctx.config().state_dir
    if not (state_dir / DB_FILE).exists():
        return None
    return AuditStore.open_read_only(state_dir)  # refuses a path that is not a file (never "no entries")


def _render_report(data: dict[str, Any]) -> str:
    status = "VALID" if data["chain_valid"] else "INVALID (tampered or damaged)"
    last = data["last_checkpoint_seq"]
    sealed = (
        "none" if last is None
        else f"last at seq {last}; {data['unsealed_entries']} newer entr"
        f"{'y' if data['unsealed_entries'] == 1 else 'ies'} not yet sealed"
    )
    lines = [
        f"ledger:              {data['database']}",
        f"chain:               {status}",
        f"entries:             {data['entry_count']} (head seq {data['head_seq']}, hash {data['head_hash'][:16]}…)",
        f"checkpoints checked: {data['checkpoints_checked']} ({sealed})",
        f"trust anchor:        {data['trust_anchor']}",
    ]
    if data["verification_errors"]:
        lines += ["", render_table(data["verification_errors"], ["seq", "kind", "message"])]
        if data["errors_truncated"]:
            lines.append("(more findings not shown)")
        lines += ["", "Keep security.db as evidence; see the incident runbook (ledger verification failed)."]
    return "\n".join(lines)


def _verify(args: argparse.Namespace, ctx: CliContext) -> int:
    state_dir = ctx.config().state_dir
    report = verify_ledger(state_dir, public_key=args.public_key)
    data = {**report.to_dict(), "database": str(state_dir / DB_FILE)}
    ctx.emit(data, _render_report)
    return 0 if report.chain_valid else 1


def _show(args: argparse.Namespace, ctx: CliContext) -> int:
    since_ms = _since(args.since)
    store = _open_for_reading(ctx)
    entries = []
    if store is not None:
        try:
            entries = store.query_ledger(extension_id=args.extension_id, since_ms=since_ms, limit=args.limit)
        finally:
            store.close()
    rows = [e.to_dict() for e in entries]
    ctx.emit(rows, lambda r: render_table([{**x, "time": _iso(x["ts_ms"])} for x in r], _LEDGER_COLUMNS))
    return 0


def _alerts(args: argparse.Namespace, ctx: CliContext) -> int:
    category = None
    if args.category is not None:
        category = normalize_category(args.category)
        if category is None:
            known = ", ".join(sorted({*ALERT_CATEGORIES, *CATEGORY_ALIASES}))
            raise UsageError(f"unknown alert category '{args.category}'; known: {known}")
    if args.min_severity is not None and args.min_severity not in SEVERITY_RANK:
        raise UsageError(f"unknown severity '{args.min_severity}'; use one of {', '.join(SEVERITY_RANK)}")
    since_ms = _since(args.since)
    store = _open_for_reading(ctx)
    alerts = []
    if store is not None:
        try:
            alerts = store.query_alerts(category=category, extension_id=args.extension_id,
                                        min_severity=args.min_severity, since_ms=since_ms)
        finally:
            store.close()
    if args.limit is not None:
        alerts = alerts[-args.limit:]
    rows = [a.to_dict() for a in alerts]
    ctx.emit(rows, lambda r: render_table([{**x, "time": _iso(x["ts_ms"])} for x in r], _ALERT_COLUMNS))
    return 0


def register(tree: CommandTree) -> None:
    """Add ``pi security ledger verify|show`` and ``pi security alerts list``."""
    security = tree.group("security")

    ledger = security.add_parser("ledger", help="the hash-chained decision ledger")
    ledger_sub = ledger.add_subparsers(dest="ledger_command", metavar="COMMAND")
    ledger.set_defaults(handler=lambda _a, _c: (ledger.print_help(), 2)[1])

    verify = ledger_sub.add_parser(
        "verify", help="check hashes, links and signed checkpoints (exit 1 if tampered or broken)"
    )
    verify.add_argument("--public-key", type=_public_key, metavar="HEX",
                        help="check checkpoints against this Ed25519 public key (ledger-signing.pub kept "
                             "elsewhere) instead of the key files in the state dir")
    add_json_flag(verify)
    verify.set_defaults(handler=_verify)

    show = ledger_sub.add_parser("show", help="list ledger entries, oldest first")
    show.add_argument("--extension", dest="extension_id", metavar="ID", help="only this extension's entries")
    show.add_argument("--since", metavar="TIME", help="ISO 8601 time or a duration back from now (15m, 2h, 1d)")
    show.add_argument("--limit", type=_positive_int, metavar="N", help="only the newest N entries")
    add_json_flag(show)
    show.set_defaults(handler=_show)

    alerts = security.add_parser("alerts", help="security alerts (the DETECT step of the runbook)")
    alerts_sub = alerts.add_subparsers(dest="alerts_command", metavar="COMMAND")
    alerts.set_defaults(handler=lambda _a, _c: (alerts.print_help(), 2)[1])
    listing = alerts_sub.add_parser("list", help="list alerts, oldest first")
    listing.add_argument("--category", metavar="C", help=f"one of: {', '.join(sorted(ALERT_CATEGORIES))}")
    listing.add_argument("--extension", dest="extension_id", metavar="ID", help="only this extension's alerts")
    listing.add_argument("--min-severity", metavar="S", help="info, warning, error or critical")
    listing.add_argument("--since", metavar="TIME", help="ISO 8601 time or a duration back from now (15m, 2h)")
    listing.add_argument("--limit", type=_positive_int, metavar="N", help="only the newest N alerts")
    add_json_flag(listing)
    listing.set_defaults(handler=_alerts)
