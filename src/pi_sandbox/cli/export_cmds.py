"""``pi-sandbox security export``: ledger entries and alerts for a fleet's collector (docs/incident.md).

JSON lines go to stdout (or ``--out FILE``); ``--format otlp --endpoint URL`` sends OpenTelemetry logs
over OTLP/HTTP. The summary (counts, last seq and hash for the next ``--after-seq``) goes to stderr, or
to stdout as JSON when the records went to a file or a collector.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TextIO, TypeVar

import click

from pi_sandbox.cli.app import command
from pi_sandbox.cli.context import CliContext, UsageError
from pi_sandbox.cli.ledger_cmds import _open_for_reading, _since_ms
from pi_sandbox.cli.progress import progress_bar
from pi_sandbox.errors import ExitCode, OutputWriteError

_T = TypeVar("_T")


def _write_file(path: Path, write: Callable[[TextIO], _T]) -> _T:
    """Run ``write`` on a temp file next to ``path``, then rename it into place: a collector never imports a
    file cut off by a full disk or a file size limit (the summary's resume point would be wrong)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with tmp.open("w", encoding="utf-8") as handle:
            result = write(handle)
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise OutputWriteError.of(str(path), exc) from None
    return result


@command(extension="only this extension's entries and alerts (leaves gaps in the chain)")
@click.option("--format", "fmt", type=click.Choice(["jsonl", "otlp"]), default="jsonl", show_default=True,
              help="JSON lines, or OpenTelemetry logs over OTLP/HTTP (needs --endpoint)")
@click.option("--endpoint", metavar="URL", help="OTLP/HTTP collector, e.g. http://127.0.0.1:4318 (/v1/logs added)")
@click.option("--out", type=click.Path(dir_okay=False), help="write JSON lines to FILE instead of stdout")
@click.option("--after-seq", type=click.IntRange(min=0), default=0, metavar="N",
              help="only entries after seq N (resume where the collector's chain ends)")
@click.option("--since", metavar="TIME", help="ISO 8601 time or a duration back from now (15m, 2h, 1d)")
@click.option("--no-alerts", is_flag=True, help="ledger entries only")
@click.option("--timeout", type=click.FloatRange(min=0.1, max=600), default=10.0, show_default=True, metavar="S",
              help="seconds the collector may take per request, retries included")
def export(ctx: CliContext, fmt: str, endpoint: str | None, out: str | None, after_seq: int, since: str | None,
           no_alerts: bool, timeout: float) -> int:
    """Stream ledger entries (with their chain fields) and alerts as JSON lines or OTLP logs.

    Every entry keeps seq, prev_hash and entry_hash, so the receiving side can recompute each hash and check
    that the chain continues from the last entry it holds."""
    from pi_sandbox.evidence.stream import ExportFormat, ExportScope, write_jsonl

    if fmt == ExportFormat.OTLP and endpoint is None:
        raise UsageError("--format otlp needs --endpoint URL (the collector's OTLP/HTTP address)")
    if fmt == ExportFormat.JSONL and endpoint is not None:
        raise UsageError("--endpoint is for --format otlp; JSON lines go to stdout or --out FILE")
    if fmt == ExportFormat.OTLP and out is not None:
        raise UsageError("--out is for --format jsonl; OTLP records go to --endpoint")
    scope = ExportScope(after_seq=after_seq, since_ms=_since_ms(since),
                        extension_id=ctx.extension_id("security export", required=False), include_alerts=not no_alerts)
    store = _open_for_reading(ctx)
    if store is None:
        ctx.warn("nothing has been recorded yet: no ledger to export")
        return ExitCode.OK
    with store, progress_bar(ctx, "exporting", unit="entries") as bar:
        if fmt == ExportFormat.OTLP:
            from pi_sandbox.evidence.otlp import send_otlp

            summary = send_otlp(store, scope, str(endpoint), timeout_s=timeout, progress=bar)
        elif out is not None:
            summary = _write_file(Path(out), lambda handle: write_jsonl(store, scope, handle, destination=out,
                                                                        progress=bar))
        else:
            summary = write_jsonl(store, scope, sys.stdout, progress=bar)
    data = summary.to_dict()
    line = (f"exported {data['entries']} entries and {data['alerts']} alerts to {data['destination']}"
            + (f" (last seq {data['last_seq']}; resume with --after-seq {data['last_seq']})"
               if data["last_seq"] is not None else ""))
    if fmt == ExportFormat.JSONL and out is None:
        click.echo(line, err=True)  # stdout carries the records
    else:
        ctx.emit(data, lambda _d: line)
    return ExitCode.OK
