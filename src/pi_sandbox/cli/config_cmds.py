"""``pi-sandbox config show|validate``: the effective settings with their sources, and checking settings files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from pi_sandbox.cli.app import command
from pi_sandbox.cli.context import CliContext, Rendered, render_table
from pi_sandbox.errors import ConfigError, ExitCode


def _value(value: Any) -> str:
    if value is None:
        return "(profile preset)"
    return value if isinstance(value, str) else json.dumps(value)


@command()
def show(ctx: CliContext) -> int:
    """The effective settings: every key, its value and where it came from (default, environment, CLI,
    the global or the project settings file). Project values that would loosen security are listed as
    refused."""
    from pi_sandbox.config.show import describe_config

    doc = describe_config(ctx.config())

    def render(d: dict[str, Any]) -> list[Rendered]:
        head = [f"agent dir      : {d['agent_dir']}", f"state dir      : {d['state_dir']}",
                f"settings files : {', '.join(d['settings_files']) or '(none: defaults)'}"]
        rows = [{**r, "value": _value(r["value"])} for r in d["settings"]]
        out: list[Rendered] = ["\n".join(head) + "\n", render_table(rows, ["key", "value", "source"])]
        if d["refused_loosenings"]:
            out.append("\nrefused (project settings may only tighten): " + ", ".join(d["refused_loosenings"]))
        return out

    ctx.emit(doc, render)
    return ExitCode.OK


@command()
@click.argument("file", required=False, type=click.Path(dir_okay=False))
def validate(ctx: CliContext, file: str | None) -> int:
    """Check FILE as a settings file, or (without FILE) the global and project settings in effect here.

    Exit 0 when valid, 1 when not (the message names the file and the key, with the closest known key). An
    unknown profile name is invalid here although a run only warns and uses 'safe'."""
    from pi_sandbox.config import resolve_config
    from pi_sandbox.config.resolve import normalize_profile, unknown_profile_message
    from pi_sandbox.config.settings_file import load_settings_file

    try:
        if file is not None:
            path = Path(file).expanduser()
            if load_settings_file(path, "file") is None:
                raise ConfigError("no such file", source=str(path))
            files = [str(path)]
        else:
            files = [str(p) for p in resolve_config(cwd=Path.cwd()).settings_files]
        for name in files:
            # A run warns and falls back to 'safe' (never fails open); the checker must not call it valid.
            parsed = load_settings_file(Path(name), "file")
            profile = parsed.values.get("extensionPolicy", {}).get("profile") if parsed else None
            if isinstance(profile, str) and normalize_profile(profile) is None:
                raise ConfigError(unknown_profile_message(profile, "this file"), source=f"settings {name}",
                                  key="extensionPolicy.profile")
    except ConfigError as exc:
        ctx.emit({"valid": False, "error": str(exc), "key": exc.key}, lambda d: f"invalid: {d['error']}")
        return ExitCode.FAILURE
    ctx.emit({"valid": True, "files": files},
             lambda d: "valid: " + (", ".join(d["files"]) or "no settings files (defaults apply)"))
    return ExitCode.OK
