"""``pi-sandbox bridge install|uninstall|adopt``: connect the real pi agent to pi-sandbox (docs/bridge.md)."""

from __future__ import annotations

from typing import Any

import click

from pi_sandbox.cli.app import command
from pi_sandbox.cli.context import PROG, CliContext, Rendered
from pi_sandbox.errors import ExitCode


def _dirs(ctx: CliContext) -> tuple[Any, Any]:
    config = ctx.config()
    return config.agent_dir, config.project_dir


@command()
def install(ctx: CliContext) -> int:
    """Write the bridge extension into pi's extensions folder: pi then runs the extensions of
    pi-sandbox's own folder sandboxed, as if it had loaded them itself."""
    from pi_sandbox.config.locations import sandboxed_extension_folders
    from pi_sandbox.runtime import bridge

    agent_dir, project_dir = _dirs(ctx)
    done = bridge.install(agent_dir, project_dir)
    data = {"bridge": str(done.path), "changed": done.changed, "command": bridge.sandbox_command(),
            "sandboxed_folder": str(sandboxed_extension_folders(agent_dir, project_dir)[0]),
            "unsandboxed": [str(p) for p in done.unsandboxed]}

    def render(d: dict[str, Any]) -> list[Rendered]:
        lines: list[Rendered] = [
            f"{'wrote' if d['changed'] else 'already up to date:'} {d['bridge']}",
            f"pi will start `{' '.join(d['command'])} rpc --sandboxed-only` and run the extensions in "
            f"{d['sandboxed_folder']} sandboxed (install more with `{PROG} ext install PATH`)",
        ]
        if d["unsandboxed"]:
            lines += ["", "pi still loads these itself, UNSANDBOXED:", *(f"  {p}" for p in d["unsandboxed"]),
                      f"move them into the sandbox with `{PROG} bridge adopt`"]
        return lines

    ctx.emit(data, render)
    return ExitCode.OK


@command()
def uninstall(ctx: CliContext) -> int:
    """Remove the bridge extension from pi's folder (sandboxed extensions stay where they are)."""
    from pi_sandbox.runtime import bridge

    agent_dir, _ = _dirs(ctx)
    removed = bridge.uninstall(agent_dir)
    ctx.emit({"removed": str(removed) if removed else None},
             lambda d: f"removed {d['removed']}" if d["removed"] else "the bridge was not installed")
    return ExitCode.OK


@command()
@click.option("--project", is_flag=True, help="also move the current project's .pi/extensions")
def adopt(ctx: CliContext, project: bool) -> int:
    """Move the extensions pi loads itself (unsandboxed) into pi-sandbox's folder, where the bridge runs
    them sandboxed. Nothing is overwritten; review them with `pi-sandbox ext check` afterwards."""
    from pi_sandbox.runtime import bridge

    agent_dir, project_dir = _dirs(ctx)
    moves = bridge.adopt(agent_dir, project_dir, ctx.config().state_dir, project=project)
    ctx.emit({"moved": [{"from": str(m.source), "to": str(m.destination)} for m in moves]},
             lambda d: [f"moved {m['from']} -> {m['to']}" for m in d["moved"]] or ["nothing to move"])
    return ExitCode.OK
