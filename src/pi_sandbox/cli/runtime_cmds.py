"""The extension runtime: ``setup``, ``demo``, ``ext list``, ``tool call``, ``command run``, ``events emit``,
``rpc``. All of them honour the global ``-e/--extension PATH`` (repeatable) and ``--no-extensions``.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click

from pi_sandbox.cli.app import command
from pi_sandbox.cli.context import PROG, CliContext, Rendered, UsageError, parse_json_arg, render_table
from pi_sandbox.cli.progress import progress_bar
from pi_sandbox.errors import ExitCode

_LOAD_HELP = "load this extension file or folder too (repeatable)"


@contextmanager
def _host(ctx: CliContext, *, only: str | None = None, start_session: bool = False,
          sandboxed_only: bool = False) -> Iterator[tuple[Any, Any]]:
    """An ExtensionHost over the configured sandbox, with the discovered extensions loaded.

    ``start_session`` emits ``session_start`` after loading, as pi does, so extensions that set up
    their state there (most do) behave as in a real session.
    """
    from pi_sandbox.runtime.host import ExtensionHost
    from pi_sandbox.runtime.loading import discover_and_load

    sandbox = ctx.open_sandbox()
    host = ExtensionHost(sandbox)
    try:
        with progress_bar(ctx, "loading extensions"):
            report = discover_and_load(host, cli_paths=tuple(ctx.extensions), no_extensions=ctx.no_extensions,
                                       cwd=Path.cwd(), only=only, sandboxed_only=sandboxed_only)
        for problem in report.problems:
            ctx.warn(f"extension {problem.path} ({problem.origin}): {problem.reason}")
        if start_session:
            host.start_session()
        yield host, report
    finally:
        host.shutdown()
        sandbox.close()


def _require_loaded(host: Any, extension_id: str) -> None:
    from pi_sandbox.errors import ExtensionLoadError

    ext = host.get(extension_id)
    if ext.status != "loaded":
        raise ExtensionLoadError(f"extension '{extension_id}' did not load: {ext.error}")


@command()
@click.option("--clear", is_flag=True, help="remove every cached toolchain (all versions) instead; run it before "
              "`pip uninstall pi-sandbox` to leave nothing behind")
def setup(ctx: CliContext, clear: bool) -> int:
    """Install the pinned JS toolchain (esbuild, TypeBox) from the committed npm lockfile into the user cache
    (shared by every virtual environment; site-packages is never written), then check the exec sandbox
    (as `security sandbox check`; exit 3 and the fix when exec children cannot be confined here)."""
    from pi_sandbox.runtime.modules import setup_runtime
    from pi_sandbox.runtime.toolchain import clear_cache

    if clear:
        removed = [str(p) for p in clear_cache()]
        ctx.emit({"removed": removed}, lambda d: "\n".join(f"removed {p}" for p in d["removed"]) or "nothing cached")
        return ExitCode.OK
    from pi_sandbox.cli.sandbox_cmds import render_report, sandbox_report

    with progress_bar(ctx, "installing the JS toolchain"):
        summary = setup_runtime()
    sandbox = sandbox_report(ctx)
    ctx.emit({"ok": sandbox["available"], "summary": summary, "sandbox": sandbox},
             lambda d: [str(d["summary"]), "", *render_report(d["sandbox"])])
    # The toolchain is installed either way; exit 3 says the machine cannot run exec children yet.
    return ExitCode.OK if sandbox["available"] else ExitCode.ENVIRONMENT


def _render_demo(d: dict[str, Any]) -> list[Rendered]:
    counts = [{"kind/decision": k, "count": v} for k, v in d["ledger_counts"].items()]
    out: list[Rendered] = [
        f"{PROG} demo — throw-away environment in {d['base_dir']}\n", "Loaded extensions:",
        render_table(d["extensions"], ["id", "status", "tools", "events"]), "", "What happened:",
        render_table(d["steps"], ["step", "extension", "action", "expected", "outcome", "detail"]), "",
        "Ledger entries by kind/decision:", render_table(counts, ["kind/decision", "count"]), "", "Alerts:",
        render_table(d["alerts"], ["category", "severity", "extension_id", "summary"]), "",
        f"Ledger verification: hash chain {'VALID' if d['ledger_valid'] else 'INVALID'} "
        f"({d['ledger_entries']} entries)",
    ]
    if not d["all_as_expected"]:
        out.append("WARNING: some steps did not turn out as expected (see the outcome column)")
    return out


@command()
@click.option("--dir", "keep_dir", type=click.Path(file_okay=False), help="keep the demo workspace and security "
              "state in this folder")
def demo(ctx: CliContext, keep_dir: str | None) -> int:
    """Run bundled example extensions, well-behaved and hostile, and end with a ledger check."""
    from pi_sandbox.runtime.demo import run_demo

    with progress_bar(ctx, "running the demo"):
        report = run_demo(keep_dir=Path(keep_dir) if keep_dir else None)
    ctx.emit(report.to_dict(), _render_demo)
    return ExitCode.OK if report.ledger_valid and report.all_as_expected else ExitCode.FAILURE


def run_ext_list(ctx: CliContext) -> int:
    """``ext list``: load the configured extensions and list them (exit 1 when one failed to load)."""
    with _host(ctx) as (host, report):
        rows = [e.summary() for e in host.extensions()]
        problems = [{"path": p.path, "origin": p.origin, "reason": p.reason} for p in report.problems]

    def render(_data: Any) -> list[Any]:
        table = render_table(
            [{**r, "tools": ", ".join(r["tools"]), "commands": ", ".join(r["commands"]),
              "events": ", ".join(r["events"])} for r in rows],
            ["id", "status", "origin", "tools", "commands", "events", "error"],
        )
        notes = [f"problem: {p['path']}: {p['reason']}" for p in problems]
        if ctx.no_extensions:
            notes.append("--no-extensions: no extension was discovered or loaded")
        return [table, *notes]

    ctx.emit({"extensions": rows, "problems": problems}, render)
    return ExitCode.OK if all(r["status"] == "loaded" for r in rows) and not problems else ExitCode.FAILURE


@command(show=("json", "extension", "no_extensions"), extension=_LOAD_HELP)
def ext_list(ctx: CliContext) -> int:
    """Load the configured extensions (each in its own worker) and list their registrations.

    Exit 1 when an extension failed to load."""
    return run_ext_list(ctx)


def _render_tool_result(result: dict[str, Any]) -> str:
    texts = [str(c.get("text", "")) for c in result.get("content", []) if isinstance(c, dict)]
    prefix = "error: " if result.get("isError") else ""
    return prefix + "\n".join(texts)


@command(show=("json", "extension"), extension=_LOAD_HELP)
@click.argument("extension_id", metavar="EXTENSION")
@click.argument("tool")
@click.option("--args", "tool_args", default="{}", metavar="JSON", help="tool arguments as a JSON object")
def tool_call(ctx: CliContext, extension_id: str, tool: str, tool_args: str) -> int:
    """Call TOOL of EXTENSION in a started session (exit 1 when the tool reports an error)."""
    decoded = parse_json_arg(tool_args, "--args")
    if not isinstance(decoded, dict):
        raise UsageError(f"{PROG} tool call: --args must be a JSON object")
    with _host(ctx, only=extension_id, start_session=True) as (host, _report):
        _require_loaded(host, extension_id)
        result = host.call_tool(extension_id, tool, decoded)
    ctx.emit(result, _render_tool_result)
    return ExitCode.FAILURE if result.get("isError") else ExitCode.OK


@command(show=("json", "extension"), extension=_LOAD_HELP)
@click.argument("extension_id", metavar="EXTENSION")
@click.argument("name")
@click.argument("args", nargs=-1)
def command_run(ctx: CliContext, extension_id: str, name: str, args: tuple[str, ...]) -> int:
    """Run the slash command NAME (without the slash) of EXTENSION with ARGS."""
    with _host(ctx, only=extension_id, start_session=True) as (host, _report):
        _require_loaded(host, extension_id)
        result = host.run_command(extension_id, name, " ".join(args))
        messages = list(host.outbox)
    data = {**result, "messages": messages}
    ctx.emit(data, lambda d: ["ok", *(f"message: {json.dumps(m, ensure_ascii=False)}" for m in d["messages"])])
    return ExitCode.OK


@command(show=("json", "extension"), extension=_LOAD_HELP)
@click.argument("event")
@click.option("--data", default="{}", metavar="JSON", help="event payload as a JSON object")
def events_emit(ctx: CliContext, event: str, data: str) -> int:
    """Emit the pi event EVENT (tool_call, input, before_agent_start, ...) to every loaded extension."""
    payload = parse_json_arg(data, "--data")
    if not isinstance(payload, dict):
        raise UsageError(f"{PROG} events emit: --data must be a JSON object")
    with _host(ctx) as (host, _report):
        outcome = host.emit(event, payload)

    def render(o: dict[str, Any]) -> str:
        lines = [f"event {o['event']}: {len(o['extensions'])} extension(s) answered"]
        for key in ("block", "reason", "blocked_by", "action", "systemPrompt", "cancel"):
            if key in o and o[key] not in (None, False):
                value = o[key] if isinstance(o[key], str) else json.dumps(o[key], ensure_ascii=False)
                lines.append(f"{key}: {value}")
        for entry in o["extensions"]:
            if entry.get("error"):
                lines.append(f"{entry['extension_id']}: error: {entry['error']}")
        return "\n".join(lines)

    ctx.emit(outcome, render)
    return ExitCode.OK


@command(show=("extension", "no_extensions"), extension=_LOAD_HELP)
@click.option("--sandboxed-only", is_flag=True,
              help="load only pi-sandbox's own extension folders and -e paths, nothing pi loads itself "
                   "(what the pi bridge runs; docs/bridge.md)")
def rpc(ctx: CliContext, sandboxed_only: bool) -> int:
    """Host the extensions for another program: JSON lines on stdin/stdout (docs/rpc.md)."""
    from pi_sandbox.runtime.rpc import RpcServer

    with _host(ctx, start_session=True, sandboxed_only=sandboxed_only) as (host, _report):
        server = RpcServer(host, sys.stdout, cwd=Path.cwd())
        return server.serve(sys.stdin)
