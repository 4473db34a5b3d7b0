"""How the classifier reads the scripts a command will run, without touching the OS on its own.

``sh x``, ``./x``, ``. x``, ``python x.py``, ``make`` (the Makefile), ``npm test`` (package.json) run
files. The classifier asks a :class:`ScriptSource` the caller supplies for their text; the dispatch
pipeline passes one confined to the extension's roots (``connectors.script_reader``). A file the
source will not or cannot give is a :class:`ScriptUnavailable` reason, which the classifier reports
as ``unreadable_script`` — never as harmless.
"""

from __future__ import annotations

import enum
from typing import Final, Protocol

#: Largest script the classifier reads (larger ones are ``unreadable_script``, reason ``too_large``).
MAX_SCRIPT_BYTES: Final = 256 * 1024
#: How many files one classification may read, and how deeply scripts may run scripts.
MAX_SCRIPTS_PER_COMMAND: Final = 16
MAX_SCRIPT_DEPTH: Final = 4


class ScriptUnavailable(enum.Enum):
    """Why a script's text could not be had."""

    MISSING = "missing"
    OUTSIDE = "outside_roots"
    TOO_LARGE = "too_large"
    BINARY = "binary"
    UNREADABLE = "unreadable"
    NOT_INSPECTED = "no_reader"
    #: A file that holds secrets (by name, or a hard link to one) the extension may not read: its text would
    #: reach the extension through what the classifier decides about it.
    SECRET = "secret_file"


class ScriptSource(Protocol):
    """Gives the text of a file a command would run, or why it cannot."""

    def read(self, path: str, cwd: str | None) -> str | ScriptUnavailable:
        """Text of ``path`` (relative to ``cwd``, or the first root) of at most ``MAX_SCRIPT_BYTES``."""
        ...


class NoScripts:
    """The source used when the caller supplies none: every script is unavailable (fail closed)."""

    def read(self, path: str, cwd: str | None) -> str | ScriptUnavailable:
        """Always :attr:`ScriptUnavailable.NOT_INSPECTED`."""
        return ScriptUnavailable.NOT_INSPECTED
