"""CLI for the extension runtime: ``pi setup``, ``pi demo``, ``pi ext list``, ``pi tool call``,
``pi command run``, ``pi events emit`` and ``pi rpc``.

All of them honour the global ``-e/--extension PATH`` (repeatable) and ``--no-extensions``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pi_sandbox.cli.commands import CommandTree
from pi_sandbox.cli.context import CliContext, add_json_flag, parse_json_arg, render_table


@contextmanager
def _host(
    ctx: CliContext, *, only: str | None = None, start_session: bool = False
) -> Iterator[tuple[Any, Any]]:
    """An ExtensionHost over the configured sandbox, with the discovered extensions loaded.

    ``start_session`` emits ``session_start`` after loading, as pi does, so extensions that set up
    their state there (most do) behave as in a real session.
    """
    from pi_sandbox.runtime.host import ExtensionHost, discover_and_load

    sandbox = ctx.open_sandbox()
    host = ExtensionHost(sandbox)
    try:
        report = discover_and_load(
            host, cli_paths=ctx.extensions, no_extensions=ctx.no_extensions, cwd=Path.cwd(), only=only
        )
        for problem in report.problems:
            print(
                f"pi: warning: extension {problem.path} ({problem.origin}): {problem.reason}", file=sys.stderr
            )
        if start_session:
            host.start_session()
        yield host, report
    finally:
        host.shutdown()
        sandbox.close()


def _setup(_args: argparse.Namespace, ctx: CliContext) -> int:
    from pi_sandbox.runtime.toolchain import setup_toolchain

    summary = setup_toolchain()
    ctx.emit({"ok": True, "summary": summary}, lambda d: str(d["summary"]))
    return 0


def _demo(args: argparse.Namespace, ctx: CliContext) -> int:
    from pi_sandbox.runtime.demo import run_demo

    report = run_demo(keep_dir=Path(args.dir) if args.dir else None)
    ctx.emit(report.to_dict(), lambda _d: report.render())
    return 0 if report.ledger_valid and report.all_as_expected else 1


def _ext_list(_args: argparse.Namespace, ctx: CliContext) -> int:
    with _host(ctx) as (host, report):
        rows = [e.summary() for e in host.extensions()]
        problems = [{"path": p.path, "origin": p.origin, "reason": p.reason} for p in report.problems]

    def render(_data: Any) -> str:
        table = render_table(
            [
                {
                    **r,
                    "tools": ",".join(r["tools"]),
                    "commands": ",".join(r["commands"]),
                    "events": ",".join(r["events"]),
                }
                for r in rows
            ],
            ["id", "status", "origin", "tools", "commands", "events", "error"],
        )
        lines = [table] + [f"problem: {p['path']}: {p['reason']}" for p in problems]
        return "\n".join(lines)

    ctx.emit({"extensions": rows, "problems": problems}, render)
    return 0 if all(r["status"] == "loaded" for r in rows) and not problems else 1


def _render_tool_result(result: dict[str, Any]) -> str:
    texts = [str(c.get("text", "")) for c in result.get("content", []) if isinstance(c, dict)]
    prefix = "error: " if result.get("isError") else ""
    return prefix + "\n".join(texts)


def _tool_call(args: argparse.Namespace, ctx: CliContext) -> int:
    tool_args = parse_json_arg(args.args, "--args")
    if not isinstance(tool_args, dict):
        from pi_sandbox.cli.context import UsageError

        raise UsageError("--args must be a JSON object")
    with _host(ctx, only=args.extension_id, start_session=True) as (host, _report):
        ext = host.get(args.extension_id)
        if ext.status != "loaded":
            from pi_sandbox.errors import ExtensionLoadError

            raise ExtensionLoadError(f"extension '{args.extension_id}' did not load: {ext.error}")
        result = host.call_tool(args.extension_id, args.tool, tool_args)
    ctx.emit(result, _render_tool_result)
    return 1 if result.get("isError") else 0


def _command_run(args: argparse.Namespace, ctx: CliContext) -> int:
    with _host(ctx, only=args.extension_id, start_session=True) as (host, _report):
        ext = host.get(args.extension_id)
        if ext.status != "loaded":
            from pi_sandbox.errors import ExtensionLoadError

            raise ExtensionLoadError(f"extension '{args.extension_id}' did not load: {ext.error}")
        result = host.run_command(args.extension_id, args.name, " ".join(args.args))
        messages = list(host.outbox)
    data = {**result, "messages": messages}
    ctx.emit(data, lambda d: "ok" + "".join(f"\nmessage: {m}" for m in d["messages"]))
    return 0


def _events_emit(args: argparse.Namespace, ctx: CliContext) -> int:
    data = parse_json_arg(args.data, "--data")
    if not isinstance(data, dict):
        from pi_sandbox.cli.context import UsageError

        raise UsageError("--data must be a JSON object")
    with _host(ctx) as (host, _report):
        outcome = host.emit(args.event, data)

    def render(o: dict[str, Any]) -> str:
        lines = [f"event {o['event']}: {len(o['extensions'])} extension(s) answered"]
        for key in ("block", "reason", "blocked_by", "action", "systemPrompt", "cancel"):
            if key in o and o[key] not in (None, False):
                lines.append(f"{key}: {o[key]}")
        for entry in o["extensions"]:
            if entry.get("error"):
                lines.append(f"{entry['extension_id']}: error: {entry['error']}")
        return "\n".join(lines)

    ctx.emit(outcome, render)
    return 0


def _rpc(_args: argparse.Namespace, ctx: CliContext) -> int:
    from pi_sandbox.runtime.rpc import RpcServer

    with _host(ctx, start_session=True) as (host, _report):
        server = RpcServer(host, sys.stdout, cwd=Path.cwd())
        return server.serve(sys.stdin)


def register(tree: CommandTree) -> None:
    """Add the runtime commands to the ``pi`` command tree."""
    setup = tree.top.add_parser("setup", help="install the pinned JS toolchain (esbuild, TypeBox) with npm")
    add_json_flag(setup)
    setup.set_defaults(handler=_setup)

    demo = tree.top.add_parser("demo", help="run bundled example extensions (well-behaved and hostile)")
    demo.add_argument("--dir", help="keep the demo workspace and security state in this folder")
    add_json_flag(demo)
    demo.set_defaults(handler=_demo)

    ext_list = tree.group("ext").add_parser("list", help="load the configured extensions and list them")
    add_json_flag(ext_list)
    ext_list.set_defaults(handler=_ext_list)

    call = tree.group("tool").add_parser("call", help="call a tool registered by an extension")
    call.add_argument("extension_id", metavar="EXTENSION", help="extension id")
    call.add_argument("tool", help="tool name")
    call.add_argument("--args", default="{}", help="tool arguments as a JSON object")
    add_json_flag(call)
    call.set_defaults(handler=_tool_call)

    run = tree.group("command").add_parser("run", help="run a slash command registered by an extension")
    run.add_argument("extension_id", metavar="EXTENSION", help="extension id")
    run.add_argument("name", help="command name (without the slash)")
    run.add_argument("args", nargs="*", help="command arguments")
    add_json_flag(run)
    run.set_defaults(handler=_command_run)

    emit = tree.group("events").add_parser("emit", help="emit a pi event to every loaded extension")
    emit.add_argument("event", help="event name, e.g. tool_call, input, before_agent_start")
    emit.add_argument("--data", default="{}", help="event payload as a JSON object")
    add_json_flag(emit)
    emit.set_defaults(handler=_events_emit)

    rpc = tree.top.add_parser("rpc", help="host extensions over JSON lines on stdin/stdout (docs/rpc.md)")
    rpc.set_defaults(handler=_rpc)
