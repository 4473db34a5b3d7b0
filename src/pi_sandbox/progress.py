"""How long-running library functions report progress, without knowing who listens.

A function that may take more than a second (scanning a tree, verifying a large ledger, exporting a
bundle, installing the toolchain) takes an optional ``progress: ProgressCallback | None`` and calls
it as work advances. The CLI passes a callback that draws a progress bar (``pi_sandbox.cli.progress``);
tests and embedders pass their own or nothing. Layers import this module, never the CLI.
"""

from __future__ import annotations

from typing import Protocol


class ProgressCallback(Protocol):
    """``progress(done, total, detail)``: ``done`` units finished of ``total`` (``None`` = unknown).

    ``detail`` names the current item (a file, an extension) for display. Calls must be cheap for the
    caller: the CLI's implementation only redraws a few times a second.
    """

    def __call__(self, done: int, total: int | None = None, detail: str = "") -> None: ...


def report(progress: ProgressCallback | None, done: int, total: int | None = None, detail: str = "") -> None:
    """Call ``progress`` if there is one (saves every caller an ``if``)."""
    if progress is not None:
        progress(done, total, detail)
