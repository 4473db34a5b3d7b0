"""``pi-sandbox security ledger verify|show`` and ``security alerts list``: evidence for operators.

``verify`` exits 0 when the chain and every signed checkpoint check out, 1 when anything was
tampered with or lost. It needs only the state dir, so a broken ``settings.json`` (a warning) never
stops it. ``show`` and ``alerts list`` open the database read-only: looking never changes it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from pi_sandbox.cli.app import command, suggest
from pi_sandbox.cli.context import PROG, CliContext, UsageError, iso_ms, render_table
from pi_sandbox.errors import ConfigError, ExitCode, StateDirError

if TYPE_CHECKING:
    from pi_sandbox.audit import AuditStore

_LEDGER_COLUMNS = ["seq", "time", "extension_id", "capability", "method", "decision", "layer", "reason", "call_id"]
_ALERT_COLUMNS = ["sequence_id", "time", "severity", "category", "extension_id", "action", "summary"]
_SQLITE_MAX = 2**63 - 1


def _public_key(_ctx: click.Context, _param: click.Parameter, text: str | None) -> str | None:
    """A raw Ed25519 public key as 64 hex digits."""
    if text is None:
        return None
    token = text.strip().lower()
    if len(token) != 64 or any(c not in "0123456789abcdef" for c in token):
        raise click.BadParameter("expected 64 hex digits (the content of ledger-signing.pub)")
    return token


def _since_ms(text: str | None) -> int | None:
    from pi_sandbox.timeparse import parse_since_ms

    return None if text is None else parse_since_ms(text)


def _state_dir(ctx: CliContext) -> Path:
    """The state dir from the environment alone; an invalid settings file becomes a warning."""
    from pi_sandbox.config import resolve_paths

    try:
        ctx.config()
    except ConfigError as exc:
        ctx.warn(f"settings are invalid ({exc}); the ledger does not depend on them, continuing")
    state_dir = resolve_paths().state_dir
    if state_dir.exists() and not state_dir.is_dir():  # else a file there would be read as the database
        raise StateDirError(f"security state dir {state_dir} exists but is not a directory; set PI_SECURITY_DIR")
    return state_dir


def _anchor_copy(ctx: CliContext) -> Path | None:
    """The anchor copy the settings name (``extensionPolicy.ledger.anchorCopy``), when they are valid."""
    try:
        return ctx.config().ledger.anchor_copy
    except ConfigError:
        ctx.warn("the anchor copy named in the settings (if any) is not checked while the settings are invalid")
        return None


def _open_for_reading(ctx: CliContext) -> AuditStore | None:
    """The store opened read-only, or None when nothing has been recorded yet."""
    from pi_sandbox.audit import AuditStore
    from pi_sandbox.audit.db import DB_FILE

    state_dir = _state_dir(ctx)
    if not (state_dir / DB_FILE).exists():
        return None
    return AuditStore.open_read_only(state_dir)  # refuses a path that is not a file (never "no entries")


def _render_report(data: dict[str, Any]) -> list[Any]:
    status = "VALID" if data["chain_valid"] else "INVALID (tampered or damaged)"
    last = data["last_checkpoint_seq"]
    sealed = (
        "none" if last is None
        else f"last at seq {last}; {data['unsealed_entries']} newer entr"
        f"{'y' if data['unsealed_entries'] == 1 else 'ies'} not yet sealed"
    )
    lines: list[Any] = ["\n".join([
        f"ledger:              {data['database']}",
        f"chain:               {status}",
        f"entries:             {data['entry_count']} (head seq {data['head_seq']}, hash {data['head_hash'][:16]}…)",
        f"checkpoints checked: {data['checkpoints_checked']} ({sealed})",
        f"trust anchor:        {data['trust_anchor']}",
        "head anchor:         " + (", ".join(
            f"{a['source']} at seq {a['seq']}" + (f" ({a['reason']})" if a["reason"] else "")
            for a in data["anchors"]) or "none"),
    ])]
    if data["verification_errors"]:
        lines += ["", render_table(data["verification_errors"], ["seq", "kind", "message"])]
        if data["errors_truncated"]:
            lines.append("(more findings not shown)")
        lines += ["", "Keep security.db as evidence; see the incident runbook (ledger verification failed)."]
    return lines


def _ledger_dir(text: str | None) -> Path | None:
    """A ledger folder given on the command line (``--ledger``): a set-aside folder or a copy of a state dir."""
    if text is None:
        return None
    from pi_sandbox.audit.db import DB_FILE

    path = Path(text).expanduser()
    if path.is_file() and path.name == DB_FILE:
        path = path.parent
    if not (path / DB_FILE).is_file():
        raise UsageError(f"--ledger {text}: no {DB_FILE} there (give the folder that holds it, e.g. "
                         f"<state dir>/ledger-set-aside/<time>)")
    return path


@command()
@click.option("--public-key", callback=_public_key, metavar="HEX",
              help="check checkpoints against this Ed25519 public key (ledger-signing.pub kept elsewhere) "
                   "instead of the key files in the state dir")
@click.option("--ledger", "ledger", metavar="DIR",
              help="verify the ledger in DIR (a set-aside ledger, a copy of a state dir) read-only, against the "
                   "state dir's key")
def verify(ctx: CliContext, public_key: str | None, ledger: str | None) -> int:
    """Check every entry's hash and link, every signed checkpoint and every trust transition.

    Exit 0 valid, 1 tampered, truncated or damaged (or an illegal exit from quarantine). Works even when
    settings.json is invalid."""
    from pi_sandbox.audit.db import DB_FILE
    from pi_sandbox.audit.signing import trusted_public_key
    from pi_sandbox.cli.progress import progress_bar
    from pi_sandbox.trust import verify_ledger_and_trust

    state_dir = _state_dir(ctx)
    anchor_copy = _anchor_copy(ctx)
    other = _ledger_dir(ledger)
    if other is not None:
        # The folder holds no key of its own (or one an attacker could have replaced): trust the state dir's.
        if public_key is None:
            public_key = trusted_public_key(state_dir)[0]
        state_dir, anchor_copy = other, None
    with progress_bar(ctx, "verifying the ledger", unit="entries") as bar:
        report = verify_ledger_and_trust(state_dir, public_key=public_key, anchor_copy=anchor_copy, progress=bar)
    data = {**report.to_dict(), "database": str(state_dir / DB_FILE)}
    ctx.emit(data, _render_report)
    return ExitCode.OK if report.chain_valid else ExitCode.FAILURE


@command()
@click.option("--reason", required=True, metavar="TEXT", help="why (recorded with the new ledger's kill switch)")
def set_aside(ctx: CliContext, reason: str) -> int:
    """Keep a damaged or rolled-back ledger as evidence and start a new one, with containment kept.

    Moves the ledger files byte for byte into <state dir>/ledger-set-aside/<time>/ (manifest.json lists their
    SHA-256) and starts a new ledger with the global kill switch on, plus every quarantine and kill switch still
    readable in the old one. Refused when the ledger verifies. Moving the files by hand instead would lift every
    kill switch and quarantine. Then: `pi-sandbox incident open --kind INC-3`."""
    from pi_sandbox.config.model import TrustSettings
    from pi_sandbox.trust.set_aside import set_aside_ledger

    state_dir = _state_dir(ctx)
    try:
        trust = ctx.config().trust
    except ConfigError:  # _state_dir warned; only the auto-quarantine thresholds would come from the settings
        trust = TrustSettings()
    result = set_aside_ledger(state_dir, trust, reason, anchor_copy=_anchor_copy(ctx))

    def render(d: dict[str, Any]) -> str:
        carried = ", ".join([f"quarantine of {e}" for e in d["quarantined"]]
                            + [f"kill switch of {e}" for e in d["kill_switches"]]) or "none"
        lines = [f"ledger set aside: {d['folder']} ({len(d['files'])} file(s), manifest sha256 "
                 f"{d['manifest_sha256'][:16]}…)",
                 f"problem: {d['problem']}",
                 f"new ledger: global kill switch ON (seq {d['kill_switch_seq']}); carried over: {carried}"]
        if not d["containment_read"]:
            lines.append("the old ledger could not be read: review which extensions it had contained before "
                         "lifting the global switch")
        lines += [f"next: `{PROG} incident open --kind INC-3`; `{PROG} security ledger verify --ledger "
                  f"{d['folder']}` checks the old ledger; `{PROG} security kill-switch off --reason TEXT` "
                  "once reviewed"]
        return "\n".join(lines)

    ctx.emit(result.to_dict(), render)
    return ExitCode.OK


_SINCE_HELP = "ISO 8601 time or a duration back from now (15m, 2h, 1d)"


def _limit(_ctx: click.Context, _param: click.Parameter, value: int | None) -> int | None:
    if value is not None and not 1 <= value <= _SQLITE_MAX:  # SQLite integers are 64-bit
        raise click.BadParameter(f"must be between 1 and {_SQLITE_MAX}")
    return value


@command(extension="only this extension's entries")
@click.option("--since", metavar="TIME", help=_SINCE_HELP)
@click.option("--limit", type=int, callback=_limit, metavar="N", help="only the newest N entries")
def show(ctx: CliContext, since: str | None, limit: int | None) -> int:
    """List ledger entries, oldest first (read-only)."""
    extension_id = ctx.extension_id("security ledger show", required=False)
    since_ms = _since_ms(since)
    store = _open_for_reading(ctx)
    entries = []
    if store is not None:
        try:
            entries = store.query_ledger(extension_id=extension_id, since_ms=since_ms, limit=limit)
        finally:
            store.close()
    rows = [e.to_dict() for e in entries]
    ctx.emit(rows, lambda r: render_table([{**x, "time": iso_ms(x["ts_ms"])} for x in r], _LEDGER_COLUMNS))
    return ExitCode.OK


@command(extension="only this extension's alerts")
@click.option("--category", metavar="C", help="policy_violation, secret_exposure, ... (aliases accepted)")
@click.option("--min-severity", metavar="S", help="info, warning, error or critical")
@click.option("--since", metavar="TIME", help=_SINCE_HELP)
@click.option("--until", metavar="TIME", help="ISO 8601 time or a duration back from now: nothing newer")
@click.option("--limit", type=int, callback=_limit, metavar="N", help="only the newest N alerts")
def alerts(ctx: CliContext, category: str | None, min_severity: str | None, since: str | None,
           until: str | None, limit: int | None) -> int:
    """List security alerts, oldest first (read-only)."""
    from pi_sandbox.audit import ALERT_CATEGORIES, SEVERITY_RANK
    from pi_sandbox.audit.records import CATEGORY_ALIASES, normalize_category

    extension_id = ctx.extension_id("security alerts list", required=False)
    folded = None
    if category is not None:
        folded = normalize_category(category)
        if folded is None:
            known = sorted({*ALERT_CATEGORIES, *CATEGORY_ALIASES})
            raise UsageError(f"{PROG}: unknown alert category '{category}'.{suggest(category, known)} "
                             f"Known: {', '.join(known)}")
    if min_severity is not None and min_severity not in SEVERITY_RANK:
        raise UsageError(f"{PROG}: unknown severity '{min_severity}'.{suggest(min_severity, list(SEVERITY_RANK))} "
                         f"Use one of {', '.join(SEVERITY_RANK)}")
    since_ms = _since_ms(since)
    store = _open_for_reading(ctx)
    found = []
    if store is not None:
        try:
            found = store.query_alerts(category=folded, extension_id=extension_id, min_severity=min_severity,
                                       since_ms=since_ms)
        finally:
            store.close()
    until_ms = _since_ms(until)
    if until_ms is not None:
        found = [a for a in found if a.ts_ms <= until_ms]
    if limit is not None:
        found = found[-limit:]
    rows = [a.to_dict() for a in found]
    ctx.emit(rows, lambda r: render_table([{**x, "time": iso_ms(x["ts_ms"])} for x in r], _ALERT_COLUMNS))
    return ExitCode.OK
