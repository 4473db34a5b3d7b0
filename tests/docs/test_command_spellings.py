"""Every ``pi-sandbox ...`` command line in the README and ``docs/`` names commands and options that exist.

The runbook table, the everyday-use list and the guides are what operators copy; a renamed command or option
must fail here, not at 3 a.m. The lines are walked through the real command tree (``cli/commands.py``):
command words must resolve at every depth, every ``--option`` must belong to the command (or be global), and
an option that takes a value consumes the next word.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import click
import pytest

from pi_sandbox.cli.main import build_cli

ROOT = Path(__file__).resolve().parents[2]
PAGES = sorted([ROOT / "README.md", ROOT / "SECURITY.md", ROOT / "CHANGELOG.md", *(ROOT / "docs").glob("*.md")])

_SPAN = re.compile(r"`(pi-sandbox [^`\n]*)`")
_BLOCK = re.compile(r"^```(?:bash|sh|console|text)?[^\n]*\n(.*?)^```", re.M | re.S)


def spellings(markdown: str) -> list[str]:
    """Command lines that start with ``pi-sandbox``: code spans, and lines of shell blocks."""
    found = [m.group(1) for m in _SPAN.finditer(markdown)]
    for block in _BLOCK.finditer(markdown):
        found += [line.strip() for line in block.group(1).splitlines() if line.strip().startswith("pi-sandbox ")]
    return found


def _words(line: str) -> list[str]:
    """The words of one command line: up to a pipe, a comment or a second command; optional [..] opened."""
    line = re.split(r"\s(?:\||&&|;|#)\s", line)[0]
    line = line.replace("[", " ").replace("]", " ")
    try:
        return shlex.split(line)[1:]
    except ValueError:  # an unbalanced quote in prose: the plain words are enough
        return line.split()[1:]


def _options(command: click.Command) -> dict[str, click.Option]:
    return {name: p for p in command.params if isinstance(p, click.Option) for name in (*p.opts, *p.secondary_opts)}


def problems(line: str, root: click.Group) -> list[str]:
    """What in ``line`` does not exist in the command tree (empty when all of it does)."""
    ctx = click.Context(root)
    command: click.Command = root
    options = {**_options(root), "--help": None, "-h": None}
    words = _words(line)
    out: list[str] = []
    skip_value = False
    for word in words:
        if skip_value:
            skip_value = False
            continue
        if word in ("...", "…", "--") or word.startswith("<"):
            break
        if word.startswith("-") and len(word) > 1:
            for name in word.split("|"):  # --format jsonl|otlp lists values, -a|--all lists spellings
                if not name.startswith("-"):
                    continue
                key = name.split("=")[0].rstrip(",.;:")
                if key not in options:
                    out.append(f"unknown option {key} for '{command.name}'")
                    continue
                option = options[key]
                if option is not None and not option.is_flag and "=" not in name and option.nargs != 0:
                    skip_value = True
            continue
        if isinstance(command, click.Group):
            names = word.split("|")  # bridge install|uninstall|adopt: each must exist
            subs = [command.get_command(ctx, n) for n in names]
            missing = [n for n, s in zip(names, subs, strict=True) if s is None]
            if missing:
                if re.fullmatch(r"[a-z][a-z-]*", missing[0]):  # a command word, not a value
                    out.append(f"no command '{missing[0]}' under '{command.name}'")
                break
            command = subs[0]  # type: ignore[assignment]
            options.update(_options(command))
    return out


#: Code spans that start with "pi-sandbox" but are not command lines, and why.
NOT_COMMANDS = {
    "pi-sandbox polcy": "docs/cli.md: the mistyped command of the 'did you mean' example",
    "pi-sandbox stopped": "docs/bridge.md: the notification pi shows",
    "pi-sandbox denied read.fs (secret_file): <remediation>": "docs/mcp.md: a tool error's text",
}


@pytest.fixture(scope="module")
def root() -> click.Group:
    return build_cli()


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_documented_command_lines_exist(page: Path, root: click.Group) -> None:
    lines = [line for line in spellings(page.read_text(encoding="utf-8")) if line not in NOT_COMMANDS]
    bad = {line: found for line in lines if (found := problems(line, root))}
    assert bad == {}


def test_the_checker_finds_renamed_commands_and_options(root: click.Group) -> None:
    assert problems("pi-sandbox security ledger verify --json", root) == []
    assert problems("pi-sandbox --json ext list --no-extensions", root) == []
    assert problems("pi-sandbox -e ./x.ts tool call my-ext greet --args '{\"a\": 1}'", root) == []
    assert problems("pi-sandbox security ledger show --extension ID --since 1h --json", root) == []
    assert problems("pi-sandbox bridge install|uninstall|adopt", root) == []
    assert problems("pi-sandbox security ledger check", root) == ["no command 'check' under 'ledger'"]
    assert problems("pi-sandbox ext list --jsn", root) == ["unknown option --jsn for 'list'"]
    assert problems("pi-sandbox ext scan ./x --fail-on flagged --sarif", root) == []
    assert problems("pi-sandbox ext scan ./x --fail-level flagged", root) == ["unknown option --fail-level for 'scan'"]
    assert spellings("run `pi-sandbox doctor` then\n```bash\npi-sandbox ext list   # list\n```\n") == [
        "pi-sandbox doctor", "pi-sandbox ext list   # list"]


#: pi-sandbox's commands: ``pi security ...`` would reach the pi agent, which takes the words for a prompt to the model.
_OURS_AS_PI = re.compile(r"(?:`|^\s*)pi (security|ext|policy|incident|doctor|debug|tool|command|events|demo|setup|"
                         r"completion|rpc|mcp) ", re.M)


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_no_command_of_ours_is_spelt_pi(page: Path) -> None:
    text = page.read_text(encoding="utf-8")
    spans = [m.group(0) for m in re.finditer(r"`[^`\n]*`", text)]
    blocks = [b.group(1) for b in _BLOCK.finditer(text)]
    found = [m.group(0).strip() for chunk in spans + blocks for m in _OURS_AS_PI.finditer(chunk)]
    assert not found, f"{page.name}: spell these `pi-sandbox ...` (there is no `pi` script): {found}"


def test_no_message_of_ours_names_a_command_spelt_pi() -> None:
    # Remediation texts reach the user (and the model, as tool errors): `pi security ...` is a prompt to pi.
    sources = sorted((ROOT / "src" / "pi_sandbox").rglob("*.py"))
    found = [f"{p.relative_to(ROOT)}:{m.group(0)}" for p in sources
             for m in re.finditer(r"`pi (?:security|ext|policy|incident|doctor|debug|tool|command|events|demo|setup|"
                                  r"completion|rpc|mcp) ", p.read_text(encoding="utf-8"))]
    assert not found, found
