"""Progress on stderr for work that takes more than a second.

Library functions take a :class:`pi_sandbox.progress.ProgressCallback`; a command passes the one
this module hands out::

    with progress_bar(ctx, "scanning", unit="files") as bar:
        report = scan_path(target, progress=bar)

Nothing is drawn for work that ends within :data:`DELAY_S`, or when stderr is not a terminal
(pipes, CI logs, tests). The bar goes to stderr, so ``--json`` on stdout stays clean. Work that cannot
count (``npm ci``) never calls the callback and gets a spinner with the elapsed time.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TextIO

from pi_sandbox.cli.context import CliContext, colour_enabled, terminal_safe
from pi_sandbox.progress import ProgressCallback

#: Work shorter than this shows nothing (a bar that flashes up and vanishes is noise).
DELAY_S = 1.0


class _DelayedBar:
    """The callback handed to library code; draws a rich progress bar once ``delay_s`` has passed."""

    def __init__(self, label: str, unit: str, stream: TextIO, no_color: bool, delay_s: float) -> None:
        self.label = label
        self.unit = unit
        self.stream = stream
        self.no_color = no_color
        self.done = 0
        self.total: int | None = None
        self.detail = ""
        self._lock = threading.Lock()
        self._closed = False
        self._progress: Any = None
        self._task: Any = None
        self._timer = threading.Timer(delay_s, self._show)
        self._timer.daemon = True
        self._timer.start()

    def __call__(self, done: int, total: int | None = None, detail: str = "") -> None:
        with self._lock:
            self.done, self.total, self.detail = done, total, detail
            if self._progress is not None and not self._closed:
                self._update()

    def _update(self) -> None:
        self._progress.update(self._task, completed=self.done, total=self.total,
                              detail=terminal_safe(self.detail)[-60:])

    def _show(self) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            SpinnerColumn,
            TextColumn,
            TimeElapsedColumn,
        )

        with self._lock:
            if self._closed:
                return
            console = Console(file=self.stream, force_terminal=True, no_color=not colour_enabled(self.stream,
                                                                                                   self.no_color))
            self._progress = Progress(SpinnerColumn(), TextColumn(terminal_safe(self.label)), BarColumn(),
                                      MofNCompleteColumn(), TextColumn(self.unit), TimeElapsedColumn(),
                                      TextColumn("{task.fields[detail]}"), console=console, transient=True)
            self._task = self._progress.add_task(self.label, total=self.total, detail="")
            self._update()
            self._progress.start()

    def close(self) -> None:
        self._timer.cancel()
        with self._lock:
            if self._progress is not None and not self._closed:
                self._progress.stop()
            self._closed = True


@contextmanager
def progress_bar(ctx: CliContext, label: str, *, unit: str = "", stream: TextIO | None = None,
                 delay_s: float | None = None) -> Iterator[ProgressCallback]:
    """A progress callback for one operation; draws on ``stream`` (stderr) only if it is a terminal, once
    ``delay_s`` (default :data:`DELAY_S`) has passed."""
    out = stream if stream is not None else sys.stderr
    isatty = getattr(out, "isatty", None)
    if not (isatty and isatty()):
        yield _ignore
        return
    bar = _DelayedBar(label, unit, out, ctx.no_color, DELAY_S if delay_s is None else delay_s)
    try:
        yield bar
    finally:
        bar.close()


def suspend(bar: ProgressCallback | None) -> None:
    """Take ``bar`` off the screen for good (before asking the user something); later calls draw nothing."""
    if isinstance(bar, _DelayedBar):
        bar.close()


def _ignore(done: int, total: int | None = None, detail: str = "") -> None:
    """The callback where nothing is drawn."""
