"""What every command handler gets: parsed global options, the resolved config, output helpers."""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pi_sandbox.errors import PiSandboxError

if TYPE_CHECKING:
    from pi_sandbox.audit.store import AuditStore
    from pi_sandbox.config.model import SecurityConfig
    from pi_sandbox.dispatch.sandbox import Sandbox


class UsageError(PiSandboxError):
    """The command line itself is wrong (unknown option, missing argument, bad JSON argument)."""


@dataclass
class CliContext:
    """Global options plus lazily built shared objects for one ``pi`` invocation."""

    json_output: bool = False
    cli_profile: str | None = None
    extensions: tuple[str, ...] = ()
    no_extensions: bool = False
    _config: SecurityConfig | None = field(default=None, repr=False)

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> CliContext:
        return cls(
            json_output=bool(getattr(args, "json", False)),
            cli_profile=args.extension_policy,
            extensions=tuple(args.extension or ()),
            no_extensions=bool(args.no_extensions),
        )

    def config(self) -> SecurityConfig:
        """The resolved, immutable security config (settings files + env + CLI)."""
        if self._config is None:
            from pi_sandbox.config import resolve_config

            self._config = resolve_config(cwd=Path.cwd(), cli_profile=self.cli_profile)
            for warning in self._config.warnings:
                print(terminal_safe(f"pi: warning: {warning}"), file=sys.stderr)
        return self._config

    def open_store(self) -> AuditStore:
        """Open the audit store in the configured state dir."""
        from pi_sandbox.audit import AuditStore

        return AuditStore.open(self.config().state_dir)

    def open_sandbox(self) -> Sandbox:
        """A dispatch sandbox built from the resolved config (records config opt-ins on open)."""
        from pi_sandbox.dispatch import Sandbox

        return Sandbox.open(self.config())

    def emit(self, data: Any, render: Callable[[Any], str] | None = None) -> None:
        """Print ``data`` as JSON under ``--json`` (or without a renderer), else as rendered text.

        JSON escapes control characters itself; rendered text goes through :func:`terminal_safe`
        because it carries text from extensions (code excerpts, file names, ids).
        """
        if self.json_output or render is None:
            print(json.dumps(data, indent=2, sort_keys=False, default=str))
        else:
            print(terminal_safe(render(data)))


#: Terminal control characters (all C0 but tab and newline, DEL, C1) and bidi overrides/isolates.
_UNSAFE_FOR_TERMINAL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def terminal_safe(text: str) -> str:
    """``text`` with control and bidi characters shown as escapes (``\\x1b``), never interpreted.

    An extension's code or file names must not be able to move the cursor, erase the findings above
    or reorder what the operator reads.
    """
    return _UNSAFE_FOR_TERMINAL.sub(
        lambda m: f"\\x{ord(m.group()):02x}" if ord(m.group()) < 0x100 else f"\\u{ord(m.group()):04x}", text)


def parse_json_arg(text: str, what: str) -> Any:
    """Parse a JSON command-line argument, with an error that names the option."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(f"{what} is not valid JSON: {exc.msg} at position {exc.pos}") from None
    except RecursionError:
        raise UsageError(f"{what} is nested too deeply to read") from None


def add_json_flag(parser: argparse.ArgumentParser) -> None:
    """Accept ``--json`` after the subcommand too (``pi policy check ... --json``)."""
    parser.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help="JSON output")


def render_table(rows: list[dict[str, Any]], columns: list[str]) -> str:
    """A plain-text table of ``rows`` with the given columns."""
    if not rows:
        return "(none)"
    cells = [[str(r.get(c, "")) if r.get(c) is not None else "" for c in columns] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)]
    lines = ["  ".join(c.upper().ljust(w) for c, w in zip(columns, widths, strict=True))]
    lines += ["  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)) for row in cells]
    return "\n".join(line.rstrip() for line in lines)
