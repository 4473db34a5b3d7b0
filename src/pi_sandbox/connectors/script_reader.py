"""The script reader exec mediation uses: files inside the extension's roots only, size-bounded.

Exec mediation reads the scripts a command will run (``sh x``, ``./x``, ``make``, ``npm test``) to
classify what they contain; it may not touch the OS itself, so the pipeline hands it this reader.
Paths are resolved (symlinks and ``..`` followed) and must land inside one of the roots; the file is
then opened without following a symlink swapped in since, must be a regular file no larger than the
bound, and must be UTF-8 text without NUL bytes.

The roots and excluded paths are resolved once, when the reader is made; the mediation stage keeps
one reader per :class:`~pi_sandbox.mediation.paths.PathRules` (whose paths are resolved already), so
an exec call pays no path resolution for a reader it may not even use.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Sequence
from pathlib import Path

from pi_sandbox.fscase import within
from pi_sandbox.mediation.script_source import MAX_SCRIPT_BYTES, ScriptUnavailable
from pi_sandbox.mediation.secret_files import SecretFiles
from pi_sandbox.sandbox.secret_links import SECRET_LINKS

_BINARY_PROBE = 8192


class ConfinedScriptReader:
    """A :class:`~pi_sandbox.mediation.script_source.ScriptSource` confined to ``roots``."""

    def __init__(self, roots: Sequence[Path | str], *, excluded: Sequence[Path | str] = (),
                 max_bytes: int = MAX_SCRIPT_BYTES, resolved: bool = False, secrets: SecretFiles | None = None,
                 session: str = "") -> None:
        """``resolved``: the caller vouches that every path is already resolved (no symlink, no ``..``),
        as :class:`~pi_sandbox.mediation.paths.PathRules` makes them; they are then not resolved again.
        ``secrets``: the extension's secret-file table — such a file (or a hard link to one; ``session``: the
        state dir whose broker-known places count too) is never read (``ScriptUnavailable.SECRET``): what the
        classifier decides about its text would tell the extension something of it."""
        fix = os.fspath if resolved else os.path.realpath
        self._roots: tuple[str, ...] = tuple(fix(r) for r in roots)
        self._excluded: tuple[str, ...] = tuple(fix(p) for p in excluded)
        self.max_bytes = max_bytes
        self._secrets = secrets
        self._session = session

    @property
    def roots(self) -> tuple[Path, ...]:
        """The resolved roots."""
        return tuple(map(Path, self._roots))

    @property
    def excluded(self) -> tuple[Path, ...]:
        """The resolved paths never read, even inside a root."""
        return tuple(map(Path, self._excluded))

    def read(self, path: str, cwd: str | None) -> str | ScriptUnavailable:
        """Text of ``path`` (relative to ``cwd``, else the first root), or why it is unavailable."""
        if not self._roots or not path or "\0" in path or path.startswith("~"):
            return ScriptUnavailable.OUTSIDE
        base = cwd or self._roots[0]
        try:
            real = os.path.realpath(os.path.join(base, path), strict=True)
        except FileNotFoundError:
            return ScriptUnavailable.MISSING
        except (OSError, RuntimeError, ValueError):
            return ScriptUnavailable.UNREADABLE
        if not any(within(real, root) for root in self._roots) or any(within(real, p) for p in self._excluded):
            return ScriptUnavailable.OUTSIDE
        if self._secrets is not None and self._secrets.refused(real):
            return ScriptUnavailable.SECRET
        try:
            fd = os.open(real, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK)
        except FileNotFoundError:
            return ScriptUnavailable.MISSING
        except OSError:
            return ScriptUnavailable.UNREADABLE
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode):
                return ScriptUnavailable.UNREADABLE
            if self._secrets is not None and info.st_nlink > 1 and SECRET_LINKS.secret_of(
                    info, self._roots[0], self._secrets, self._session) is not None:
                return ScriptUnavailable.SECRET
            if info.st_size > self.max_bytes:
                return ScriptUnavailable.TOO_LARGE
            with os.fdopen(os.dup(fd), "rb") as handle:
                data = handle.read(self.max_bytes + 1)
        except OSError:
            return ScriptUnavailable.UNREADABLE
        finally:
            os.close(fd)
        if len(data) > self.max_bytes:
            return ScriptUnavailable.TOO_LARGE
        if b"\0" in data[:_BINARY_PROBE]:
            return ScriptUnavailable.BINARY
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            return ScriptUnavailable.BINARY
