"""Read a step-by-step Markdown guide as a script: files to write, commands to run, output to expect.

The guide's own fenced blocks are the script, so the guide cannot drift from the program:

- ```` ```<lang> file=PATH ```` — write the block to PATH (relative to the workspace; ``~`` is HOME);
- ```` ```bash ```` — run each line in the workspace with bash; a line ending in ``# exit N`` must exit N,
  every other line must exit 0; ``pip install`` lines are not run (the package under test is installed);
- ```` ```text ```` right after a bash block — what those commands print, stdout and stderr together: every
  line must appear, in order, in the output; ``…`` matches anything and runs of blanks match any blanks.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

_FENCE = re.compile(r"^```([^\n]*)\n(.*?)^```\s*$", re.M | re.S)
_EXIT = re.compile(r"#\s*exit\s+(\d+)\s*$")


@dataclass(frozen=True)
class WriteFile:
    """Write ``text`` to ``path`` (as the guide names it)."""

    path: str
    text: str


@dataclass(frozen=True)
class Run:
    """Run ``command``; it must exit ``exit_code``."""

    command: str
    exit_code: int


@dataclass(frozen=True)
class Expect:
    """The output of the preceding run block must contain ``lines`` in order."""

    lines: tuple[str, ...]


Step = WriteFile | Run | Expect


def steps(markdown: str) -> list[Step]:
    """The guide's fenced blocks as steps, in document order."""
    out: list[Step] = []
    for match in _FENCE.finditer(markdown):
        info, body = match.group(1).strip(), match.group(2)
        words = info.split()
        lang = words[0] if words else ""
        target = next((w.partition("=")[2] for w in words[1:] if w.startswith("file=")), None)
        if target is not None:
            out.append(WriteFile(target, body))
        elif lang == "bash":
            for line in body.splitlines():
                command = line.strip()  # bash itself drops the trailing comment
                if not command or command.startswith("#") or command.startswith("pip install"):
                    continue
                found = _EXIT.search(line)
                out.append(Run(command, int(found.group(1)) if found else 0))
        elif lang == "text":
            out.append(Expect(tuple(line for line in body.splitlines() if line.strip())))
    return out


def line_pattern(expected: str) -> re.Pattern[str]:
    """A regex for one expected line: ``…`` matches anything, blanks match any blanks."""
    parts = [r"\s+".join(re.escape(w) for w in chunk.split()) for chunk in expected.split("…")]
    return re.compile(r".*?".join(parts))


def missing_lines(expected: tuple[str, ...], output: str) -> list[str]:
    """The expected lines not found, in order, in ``output`` (empty when all are there)."""
    lines = output.splitlines()
    at = 0
    for wanted in expected:
        if wanted.strip() == "…":
            continue
        pattern = line_pattern(wanted.strip())
        while at < len(lines) and not pattern.search(lines[at]):
            at += 1
        if at == len(lines):
            return [wanted, *expected[expected.index(wanted) + 1:]]
        at += 1
    return []


def resolve(path: str, workspace: Path, home: Path) -> Path:
    """A guide path on disk: ``~`` is HOME, anything else is under the workspace."""
    if path.startswith("~/"):
        return home / path[2:]
    return workspace / path
