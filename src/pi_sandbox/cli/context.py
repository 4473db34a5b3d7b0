"""What every command gets: the global options, the resolved config, and output helpers.

Output rules (docs/cli.md): ``--json`` prints machine-readable JSON on stdout (times as epoch
milliseconds *and* ISO-8601); human output is text and tables sized to the terminal, coloured only
on a terminal and never with ``NO_COLOR``/``--no-color``; warnings and errors go to stderr.
Everything an extension or a settings file can put on screen goes through :func:`terminal_safe`.
"""

from __future__ import annotations

import io
import os
import re
import sys
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TextIO

from pi_sandbox.errors import UsageError as UsageError  # its home was here; kept importable

if TYPE_CHECKING:
    from pi_sandbox.audit.store import AuditStore
    from pi_sandbox.config.model import SecurityConfig
    from pi_sandbox.dispatch.sandbox import Sandbox

#: The command's name in messages (the runbook's ``pi ...`` spellings work as ``pi-sandbox ...``).
PROG = "pi-sandbox"


#: What a human renderer returns: text, a rich renderable (a table), or a list of these, stacked.
Rendered = Any


class CliContext:
    """Global options plus lazily built shared objects for one ``pi-sandbox`` invocation.

    Global options may be given anywhere on the command line; each level adds to this one object.
    (A plain class, not a dataclass: ``--help`` imports this module, and every import counts there.)
    """

    def __init__(self, *, json_output: bool = False, cli_profile: str | None = None,
                 extensions: list[str] | None = None, no_extensions: bool = False, no_color: bool = False) -> None:
        self.json_output = json_output
        self.cli_profile = cli_profile
        self.extensions: list[str] = list(extensions or [])
        self.no_extensions = no_extensions
        self.no_color = no_color
        self._config: SecurityConfig | None = None

    # ------------------------------------------------------------------ shared objects
    def config(self) -> SecurityConfig:
        """The resolved, immutable security config (settings files + env + CLI)."""
        if self._config is None:
            from pathlib import Path

            from pi_sandbox.config import resolve_config

            self._config = resolve_config(cwd=Path.cwd(), cli_profile=self.cli_profile)
            for warning in self._config.warnings:
                self.warn(warning)
        return self._config

    def open_store(self) -> AuditStore:
        """Open the audit store in the configured state dir."""
        from pi_sandbox.audit import AuditStore

        config = self.config()
        return AuditStore.open(config.state_dir, anchor_copy=config.ledger.anchor_copy)

    def open_sandbox(self) -> Sandbox:
        """A dispatch sandbox built from the resolved config (records config opt-ins on open)."""
        from pi_sandbox.dispatch import Sandbox

        return Sandbox.open(self.config())

    def extension_id(self, command: str, *, required: bool = True) -> str | None:
        """The one ``--extension ID`` a command that works on one extension was given."""
        if len(self.extensions) > 1:
            raise UsageError(f"{PROG} {command}: takes at most one --extension ID")
        if not self.extensions:
            if required:
                raise UsageError(f"{PROG} {command}: missing --extension ID")
            return None
        value = self.extensions[0]
        if not value.strip():
            raise UsageError(f"{PROG} {command}: the extension id must not be empty")
        return value

    # ------------------------------------------------------------------ output
    def emit(self, data: Any, render: Callable[[Any], Rendered] | None = None) -> None:
        """Print ``data`` as JSON under ``--json`` (or without a renderer), else rendered for people."""
        if self.json_output or render is None:
            import json

            print(json.dumps(with_iso_times(data), indent=2, default=str))
        else:
            print_human(render(data), no_color=self.no_color)

    def warn(self, message: str) -> None:
        """One warning line on stderr (control characters escaped)."""
        print_human(f"{PROG}: warning: {message}", stream=sys.stderr, no_color=self.no_color, style="yellow")


# ---------------------------------------------------------------------- terminal safety
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
    import json

    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(f"{what} is not valid JSON: {exc.msg} at position {exc.pos}") from None
    except RecursionError:
        raise UsageError(f"{what} is nested too deeply to read") from None


# ---------------------------------------------------------------------- times
def iso_ms(ts_ms: int | None, *, seconds: bool = False) -> str:
    """Epoch milliseconds as ISO-8601 UTC (``2025-01-31T12:00:00.000Z``, or to the second); "" for ``None``."""
    if ts_ms is None:
        return ""
    moment = datetime.fromtimestamp(ts_ms / 1000, tz=UTC)
    if seconds:
        return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _time_key(key: str) -> str | None:
    """The ISO sibling of a timestamp key (``ts_ms`` → ``ts``, ``expires_at_ms`` → ``expires_at``)."""
    if key == "ts_ms" or key.endswith("_at_ms"):
        return key[: -len("_ms")]
    return None


def with_iso_times(data: Any) -> Any:
    """``data`` with an ISO-8601 sibling next to every epoch-millisecond timestamp (JSON keeps both)."""
    if isinstance(data, dict):
        out: dict[Any, Any] = {}
        for key, value in data.items():
            out[key] = with_iso_times(value)
            iso = _time_key(key) if isinstance(key, str) else None
            if iso and iso not in data and isinstance(value, int) and not isinstance(value, bool):
                out[iso] = iso_ms(value)
        return out
    if isinstance(data, list | tuple):
        return [with_iso_times(v) for v in data]
    return data


# ---------------------------------------------------------------------- rendering
#: Cell values with a meaning people scan for; coloured only where colour is on.
_STYLES = {
    **dict.fromkeys(("allow", "allowed", "ok", "pass", "valid", "loaded", "installed", "yes"), "green"),
    **dict.fromkeys(("deny", "denied", "fail", "forbidden", "invalid", "error", "critical", "refused"), "red"),
    **dict.fromkeys(("prompt", "warn", "warning", "flagged", "needs_confirmation", "skipped"), "yellow"),
}


#: Columns of a terminal that does not say its size.
_FALLBACK_COLUMNS = 80
#: Cells up to this long without a space (ids, times, codes) are not wrapped in tables...
_WHOLE_MAX = 40
#: ... while the prose columns keep at least this width.
_PROSE_MIN = 16


def colour_enabled(stream: TextIO, no_color: bool = False) -> bool:
    """Colour only on a terminal, never with ``--no-color``, ``NO_COLOR`` (any value) or ``TERM=dumb``."""
    if no_color or os.environ.get("NO_COLOR", "") != "" or os.environ.get("TERM") == "dumb":
        return False
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def output_width(stream: TextIO) -> int:
    """Columns to lay tables out in: the terminal's; ``$COLUMNS`` when piped; else unlimited."""
    isatty = getattr(stream, "isatty", None)
    if isatty and isatty():
        try:
            return os.get_terminal_size(stream.fileno()).columns or _FALLBACK_COLUMNS
        except (AttributeError, ValueError, OSError):  # a terminal-like object without a real descriptor
            return _FALLBACK_COLUMNS
    columns = os.environ.get("COLUMNS", "")
    return int(columns) if columns.isdigit() and int(columns) > 0 else 100_000


def render_table(rows: Sequence[dict[str, Any]], columns: Sequence[str], *,
                 headers: dict[str, str] | None = None) -> Rendered:
    """A table of ``rows`` (dicts) with the given columns, or the text ``(none)``.

    Cells are made terminal-safe; known words (allow, deny, forbidden, ...) are coloured where colour
    is on. The table fits the output width, never by dropping columns: prose columns wrap, while ids,
    times and codes stay whole; when even that does not fit, each row is shown as a block of
    ``COLUMN  value`` lines instead (like ``psql``'s expanded display). Without colour (pipes, files)
    there are no rules: one header line, then one line per row where width allows.
    """
    if not rows:
        return "(none)"
    ruled = colour_enabled(sys.stdout)
    width = output_width(sys.stdout)
    titles = [(headers or {}).get(c, c.upper()) for c in columns]
    cells = [["" if row.get(c) is None else terminal_safe(str(row.get(c))) for c in columns] for row in rows]
    widths = [max(len(title), *(len(r[i]) for r in cells)) for i, title in enumerate(titles)]
    if not ruled and sum(widths) + 2 * (len(widths) - 1) <= width and all(v.isascii() for r in cells for v in r):
        # What rich would print for a table that needs no wrapping and no colour, 10-20x faster (a scan
        # report can have thousands of rows): columns two spaces apart, no rules.
        return "\n".join("  ".join(v.ljust(w) for v, w in zip(line, widths, strict=True)).rstrip()
                         for line in (titles, *cells))
    # Ids, times and codes (no spaces, not too long) stay whole and prose columns wrap to no less than
    # _PROSE_MIN; a table that cannot fit that way is shown as one block per row.
    whole = [all(" " not in r[i] for r in cells) and widths[i] <= _WHOLE_MAX for i in range(len(columns))]
    needed = sum(w if k else min(w, _PROSE_MIN) for w, k in zip(widths, whole, strict=True)) + 2 * (len(columns) - 1)
    if needed > width:
        return _render_blocks(titles, cells, width, ruled)
    from rich import box
    from rich.table import Table
    from rich.text import Text

    table = Table(box=box.SIMPLE_HEAD if ruled else None, show_edge=False, pad_edge=False, header_style="bold")
    for i, title in enumerate(titles):
        table.add_column(title, overflow="fold", no_wrap=whole[i])
    for values in cells:
        table.add_row(*(Text(v, style=_STYLES.get(v.lower(), "")) for v in values))
    return table


def _render_blocks(titles: Sequence[str], cells: Sequence[Sequence[str]], width: int, ruled: bool) -> Rendered:
    """Rows as blocks of ``TITLE  value`` lines (empty values left out), a blank line apart; long values
    wrap under their value."""
    from rich.table import Table
    from rich.text import Text

    table = Table(box=None, show_header=False, show_edge=False, pad_edge=False, width=width if ruled else None)
    table.add_column(style="bold", no_wrap=True)
    table.add_column(overflow="fold")
    for n, values in enumerate(cells):
        if n:
            table.add_row("", "")
        for title, value in zip(titles, values, strict=True):
            if value:  # an empty cell is a blank line here: leave it out
                table.add_row(title, Text(value, style=_STYLES.get(value.lower(), "")))
    return table


def print_human(rendered: Rendered, *, stream: TextIO | None = None, no_color: bool = False,
                style: str = "") -> None:
    """Print text (made terminal-safe), rich renderables, or a list of both to ``stream``."""
    out = stream if stream is not None else sys.stdout
    parts: Iterable[Any] = rendered if isinstance(rendered, list) else [rendered]
    colour = colour_enabled(out, no_color)
    if all(isinstance(p, str) for p in parts) and not (colour and style):
        # Plain text needs no layout engine: keep the common path free of the rich import.
        text = "\n".join(terminal_safe(p) for p in parts)
        out.write(text + "\n")
        out.flush()
        return
    from rich.console import Console
    from rich.text import Text

    buffer = io.StringIO()
    console = Console(file=buffer, width=output_width(out), force_terminal=colour, no_color=not colour,
                      color_system="auto" if colour else None, highlight=False, markup=False, emoji=False)
    for part in parts:
        if isinstance(part, str):
            console.print(Text(terminal_safe(part), style=style), soft_wrap=True)
        else:
            console.print(part)
    text = buffer.getvalue()
    if not colour:  # table cells are padded to their column: trailing blanks only get in the way of pipes
        text = "\n".join(line.rstrip() for line in text.split("\n"))
    out.write(text)
    out.flush()
