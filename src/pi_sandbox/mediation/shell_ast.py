"""Parsed shell scripts: words, redirections and simple commands (see ``shell_parse``).

The per-word and per-command nodes are ``NamedTuple``s rather than frozen dataclasses: they are just
as immutable and several times cheaper to create, which matters on the exec hot path.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import NamedTuple


class Word(NamedTuple):
    """One argument after expansion. Unknown expansions stay in ``text`` as ``$NAME`` / ``$(…)``."""

    text: str
    dynamic: bool = False
    has_glob: bool = False
    subs: tuple[Script, ...] = ()
    procsub: str = ""  # "<" or ">" for a process substitution


class Redirect(NamedTuple):
    """A redirection; ``target`` is None for here-documents, ``heredoc`` holds their body."""

    op: str
    fd: int | None
    target: Word | None
    heredoc: str | None = None
    heredoc_subs: tuple[Script, ...] = ()


class SimpleCommand(NamedTuple):
    """A command the shell would run, with the context it runs in."""

    words: tuple[Word, ...]
    assignments: tuple[tuple[str, Word], ...]
    redirects: tuple[Redirect, ...]
    pipes: tuple[tuple[int, int], ...]  # (pipeline id, stage) of every enclosing pipeline
    background: bool
    infinite_loop: bool
    function: str | None
    env: Mapping[str, str]  # statically known variables when the command runs


@dataclass(frozen=True, slots=True)
class Script:
    """Every simple command of a parsed script, defined function names, and parse errors."""

    commands: tuple[SimpleCommand, ...]
    functions: frozenset[str] = frozenset()
    errors: tuple[str, ...] = ()
    #: Each function's body as written (``{ rm -rf "$1"; }``), by name: classified again at every call with the
    #: call's words as its positional parameters.
    bodies: tuple[tuple[str, str], ...] = ()

    def walk(self) -> Iterator[SimpleCommand]:
        """Every simple command, including those inside substitutions, depth first."""
        for cmd in self.commands:
            yield cmd
            for word in cmd.words:
                for sub in word.subs:
                    yield from sub.walk()
            for _, word in cmd.assignments:
                for sub in word.subs:
                    yield from sub.walk()
            for red in cmd.redirects:
                subs = red.heredoc_subs + (red.target.subs if red.target else ())
                for sub in subs:
                    yield from sub.walk()

    def all_errors(self) -> tuple[str, ...]:
        """Parse errors of this script and of every nested substitution."""
        errs = list(self.errors)
        for cmd in self.commands:
            words = list(cmd.words) + [w for _, w in cmd.assignments]
            words += [r.target for r in cmd.redirects if r.target is not None]
            for word in words:
                for sub in word.subs:
                    errs.extend(sub.all_errors())
            for red in cmd.redirects:
                for sub in red.heredoc_subs:
                    errs.extend(sub.all_errors())
        return tuple(errs)


class ShellParseError(Exception):
    """The text is not a shell script the parser understands."""
