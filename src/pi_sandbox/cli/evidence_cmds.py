"""``pi-sandbox security bundle export|verify`` and ``security replay``: the runbook's COLLECT, VERIFY, ANALYZE.

``bundle export`` seals the ledger head and writes an evidence bundle (docs/evidence.md); ``bundle
verify`` runs the five verification steps on a bundle file and exits 1 naming each failed step;
``replay`` re-evaluates recorded decisions under the configuration in force when they were made.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from pi_sandbox.cli.app import command
from pi_sandbox.cli.context import PROG, CliContext, UsageError, render_table
from pi_sandbox.cli.ledger_cmds import _public_key, _since_ms
from pi_sandbox.cli.progress import progress_bar
from pi_sandbox.errors import ConfigError, ExitCode

if TYPE_CHECKING:
    from pi_sandbox.audit import AuditStore
    from pi_sandbox.config import SecurityConfig


def _config_or_none(ctx: CliContext) -> SecurityConfig | None:
    """The resolved settings, or None (with a warning) when they are invalid: evidence never needs them."""
    try:
        return ctx.config()
    except ConfigError as exc:
        ctx.warn(f"settings are invalid ({exc}); the bundle will carry no current configuration snapshot")
        return None


def _open_existing_store(ctx: CliContext, config: SecurityConfig | None, *, writable: bool = True) -> AuditStore:
    """The store of the configured state dir (export writes: it seals the head); never creates a ledger."""
    from pi_sandbox.audit import AuditStore
    from pi_sandbox.audit.db import DB_FILE
    from pi_sandbox.config import resolve_paths
    from pi_sandbox.errors import EvidenceError

    state_dir = config.state_dir if config is not None else resolve_paths().state_dir
    if not (state_dir / DB_FILE).exists():
        raise EvidenceError(f"no ledger at {state_dir / DB_FILE}: nothing has been recorded here "
                            "(set PI_SECURITY_DIR to the state dir of the incident)")
    if not writable:
        return AuditStore.open_read_only(state_dir)
    return AuditStore.open(state_dir, anchor_copy=config.ledger.anchor_copy if config is not None else None)


def _render_export(data: dict[str, Any]) -> str:
    counts = data["summary"]["counts"]
    return "\n".join([
        f"bundle:      {data['path']} ({data['size_bytes']} bytes)",
        f"bundle_hash: {data['bundle_hash']}",
        "sections:    " + ", ".join(f"{name} {n}" for name, n in counts.items()),
        f"verify with: {PROG} security bundle verify {data['path']}",
    ])


@command(extension="only this extension's evidence (host-wide entries stay)")
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False), metavar="FILE",
              help="where to write the bundle")
@click.option("--since", metavar="TIME", help="ISO 8601 time or a duration back (15m, 2h): nothing older")
@click.option("--until", metavar="TIME", help="ISO 8601 time or a duration back: nothing newer")
@click.option("--category", "categories", multiple=True, metavar="C",
              help="alert categories to keep (repeatable; aliases accepted)")
@click.option("--min-severity", metavar="S", help="keep alerts at this severity or above")
@click.option("--until-seq", type=click.IntRange(min=0), metavar="N", help="end the ledger at chain position N")
@click.option("--redact", default="none", metavar="none|full|FIELD,...", show_default=True,
              help="blank fields: params_hash, context_hash, args_shape_hash, command_hash, name_hash, remediation")
def export(ctx: CliContext, out: str, since: str | None, until: str | None, categories: tuple[str, ...],
           min_severity: str | None, until_seq: int | None, redact: str) -> int:
    """Export an incident evidence bundle (seals the ledger head first; verifiable offline).

    The same ledger and options always give a byte-identical bundle. See docs/evidence.md."""
    from pi_sandbox.config.snapshot import snapshot
    from pi_sandbox.errors import EvidenceError
    from pi_sandbox.evidence import BundleFilter, RedactionPolicy, export_bundle

    try:
        chosen = BundleFilter(start_ms=_since_ms(since), end_ms=_since_ms(until),
                              extension_id=ctx.extension_id("security bundle export", required=False),
                              alert_categories=categories, min_severity=min_severity, until_seq=until_seq)
        policy = RedactionPolicy.parse(redact)
    except EvidenceError as exc:
        raise UsageError(f"{PROG} security bundle export: {exc}") from None
    config = _config_or_none(ctx)
    store = _open_existing_store(ctx, config)
    try:
        with progress_bar(ctx, "exporting", unit="entries") as bar:
            result = export_bundle(store, Path(out), bundle_filter=chosen, redaction=policy,
                                   config_snapshot=snapshot(config) if config is not None else None, progress=bar)
    finally:
        store.close()
    ctx.emit(result.to_dict(), _render_export)
    return ExitCode.OK


def _render_verify(data: dict[str, Any]) -> list[Any]:
    status = "VALID" if data["valid"] else "INVALID (failed: " + ", ".join(data["failed_steps"]) + ")"
    lines: list[Any] = ["\n".join([
        f"bundle:       {data['file']}",
        f"result:       {status}",
        f"schema:       {data['schema']}",
        f"bundle_hash:  {data['bundle_hash']}",
        "trust anchor: " + ("the --public-key given" if data["trust_anchor"] == "explicit" else
                            "the key recorded in the bundle (pass --public-key to check against your own copy)"),
    ])]
    rows = [{"step": s["step"], "check": s["name"], "result": "ok" if s["ok"] else "FAILED",
             "finding": s["errors"][0] if s["errors"] else ""} for s in data["steps"]]
    lines += ["", render_table(rows, ["step", "check", "result", "finding"])]
    more = [f"{s['name']}: {e}" for s in data["steps"] for e in s["errors"][1:]]
    if more:
        lines += ["", "\n".join(more)]
    return lines


@command()
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--public-key", callback=_public_key, metavar="HEX",
              help="the ledger's Ed25519 public key (ledger-signing.pub) the checkpoints must be signed with")
def verify(ctx: CliContext, file: str, public_key: str | None) -> int:
    """Run the five verification steps on a bundle: hash, chain + signatures, summary, schema, redaction.

    Exit 0 when every step passes, 1 naming each failed step. Values the local secret broker withholds
    are searched for too (when the settings are valid)."""
    from pi_sandbox.evidence import verify_bundle

    scanner = None
    config = _config_or_none(ctx)
    if config is not None:
        from pi_sandbox.mediation.secret_broker import SecretBroker

        broker = SecretBroker(config.secret_broker, config.environ)
        scanner = broker.secret_fingerprint if broker.withheld_count() else None
    from pi_sandbox.errors import EvidenceError

    path = Path(file)
    try:
        with progress_bar(ctx, "verifying", unit="%") as bar:
            report = verify_bundle(path, public_key=public_key, secret_scanner=scanner, progress=bar)
    except EvidenceError as exc:
        if not (path.is_file() and os.access(path, os.R_OK)):
            raise  # a wrong path is an input error (exit 2)
        # A file that is there but is no longer a whole JSON bundle (truncated, edited, not UTF-8) is damaged
        # evidence: a failed verification (exit 1), which scripts tell apart from a mistyped path.
        ctx.emit({"file": file, "valid": False, "failed_steps": ["readable"], "error": str(exc)},
                 lambda d: f"bundle:       {d['file']}\nresult:       INVALID (failed: readable)\n"
                           f"finding:      {d['error']}")
        return ExitCode.FAILURE
    ctx.emit({**report.to_dict(), "file": file}, _render_verify)
    return ExitCode.OK if report.valid else ExitCode.FAILURE



def _render_replay(data: dict[str, Any]) -> list[Any]:
    counts = data["counts"]
    head = [
        f"source:      {data['source']} (decisions re-made under the "
        f"{'current configuration' if data['against'] == 'current' else 'configuration in force at each entry'})",
        f"replayed:    {data['replayed']} hostcalls: {counts['match']} match, {counts['differs']} differ, "
        f"{counts['stateful']} decided by runtime state, {counts['not_replayable']} without a config version",
    ]
    if data["chain_break_seq"] is not None:
        head.append(f"chain:       BROKEN at seq {data['chain_break_seq']}: entries from there on are untrusted "
                    f"({data['untrusted']} replayed); {'; '.join(data['chain_findings'][:3])}")
    else:
        head.append("chain:       intact")
    risk = data.get("risk") or {}
    if risk.get("scored") or risk.get("alarms"):
        peak = risk.get("peak_score")
        head.append(f"risk stage:  {risk['scored']} calls scored (peak {peak if peak is None else round(peak, 3)}), "
                    f"{risk['denied']} refused, {risk['shadow_would_deny']} would-deny in shadow mode, "
                    f"{risk['faults']} faults")
    lines: list[Any] = ["\n".join(head)]
    if data["config_changes"]:
        rows = [{"seq": c["seq"], "from": c["from_digest"][:12], "to": c["to_digest"][:12],
                 "changed": ", ".join(c["changed"]) or "(version unknown)"} for c in data["config_changes"]]
        lines += ["", "configuration changes:", render_table(rows, ["seq", "from", "to", "changed"])]
    if data["differences"]:
        rows = [{**d, "recorded": f"{d['recorded']} ({d['recorded_reason']})",
                 "replayed": f"{d['replayed']} ({d['replayed_reason']})"} for d in data["differences"]]
        lines += ["", "decisions that differ:", render_table(
            rows, ["seq", "extension_id", "method", "capability", "recorded", "replayed", "trusted"])]
    if risk.get("alarms"):
        rows = [{**a, "score": a["score"] if a["score"] is None else round(a["score"], 3),
                 "threshold": a["threshold"] if not isinstance(a["threshold"], float) else round(a["threshold"], 3)}
                for a in risk["alarms"]]
        lines += ["", "risk alarms:", render_table(
            rows, ["seq", "extension_id", "method", "decision", "reason", "score", "threshold", "mode"])]
    return lines


@command(extension="only this extension's calls")
@click.option("--until-seq", type=click.IntRange(min=0), metavar="N", help="replay up to chain position N")
@click.option("--bundle", "bundle_file", type=click.Path(dir_okay=False), metavar="FILE",
              help="replay an evidence bundle instead of the live ledger")
@click.option("--against-current", is_flag=True,
              help="re-decide every call under today's configuration instead of the one in force then")
def replay(ctx: CliContext, until_seq: int | None, bundle_file: str | None, against_current: bool) -> int:
    """Forensic replay: re-decide recorded calls under the configuration in force, report what differs.

    Also lists configuration changes between entries and where the chain breaks (entries after the break
    are untrusted). Exit 0 when every decision is explained and the chain is intact, 1 otherwise."""
    from pi_sandbox.evidence import load_bundle, replay_bundle, replay_ledger

    extension_id = ctx.extension_id("security replay", required=False)
    config = _config_or_none(ctx)
    if against_current and config is None:
        raise UsageError(f"{PROG} security replay --against-current: the current settings are invalid")
    against = config if against_current else None
    with progress_bar(ctx, "replaying", unit="entries") as bar:
        if bundle_file is not None:
            result = replay_bundle(load_bundle(bundle_file), until_seq=until_seq, extension_id=extension_id,
                                   against=against, progress=bar)
        else:
            store = _open_existing_store(ctx, config, writable=False)
            try:
                result = replay_ledger(store, until_seq=until_seq, extension_id=extension_id, against=against,
                                       progress=bar)
            finally:
                store.close()
    ctx.emit(result.to_dict(), _render_replay)
    return ExitCode.OK if result.difference_count == 0 and result.chain_break_seq is None else ExitCode.FAILURE
