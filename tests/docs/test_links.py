"""Every relative link in the README and ``docs/`` resolves inside the repository, anchors included; every
repository path the docs name in code (``src/...``, ``tests/...``, ``docs/...``, ``benchmarks/...``, and a
layer's module such as ``runtime/hostcalls.py``) exists; every test they cite (``file.py::test_name``) exists;
and no doc points out of the repository (a reader of the repository cannot open it).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PAGES = sorted([ROOT / "README.md", ROOT / "SECURITY.md", ROOT / "CHANGELOG.md", *(ROOT / "docs").glob("*.md")])

_FENCED = re.compile(r"^```.*?^```\s*$", re.M | re.S)
_CODE_SPAN = re.compile(r"(`+)(.+?)\1", re.S)
_LINK = re.compile(r"!?\[(?:[^\]\[]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$", re.M)
#: A repository path in code: a top-level folder of the repo, then path characters (no spaces, no globs).
_REPO_PATH = re.compile(r"^(?:src|tests|docs|benchmarks)/[\w./-]+$")


def _prose(text: str) -> str:
    """The text without fenced blocks and code spans (links are not links there)."""
    return _CODE_SPAN.sub("", _FENCED.sub("", text))


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, markup and punctuation dropped, spaces to hyphens."""
    text = re.sub(r"`([^`]*)`", r"\1", heading)
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text).lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(page: Path) -> set[str]:
    """Every anchor of ``page``'s headings (repeats get -1, -2, ... as on GitHub)."""
    seen: dict[str, int] = {}
    out: set[str] = set()
    for match in _HEADING.finditer(_FENCED.sub("", page.read_text(encoding="utf-8"))):
        base = slug(match.group(2))
        count = seen.get(base, 0)
        out.add(base if count == 0 else f"{base}-{count}")
        seen[base] = count + 1
    return out


def broken_links(page: Path, root: Path = ROOT) -> list[str]:
    """The relative links of ``page`` that lead nowhere (or out of the repository)."""
    problems: list[str] = []
    for match in _LINK.finditer(_prose(page.read_text(encoding="utf-8"))):
        target = match.group(1)
        if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # https:, mailto: ... : not ours to check offline
            continue
        path_part, _, anchor = target.partition("#")
        resolved = (page.parent / path_part).resolve() if path_part else page
        if not resolved.is_relative_to(root):
            problems.append(f"{target}: outside the repository")
        elif not resolved.exists():
            problems.append(f"{target}: no such file")
        elif anchor and resolved.suffix == ".md" and anchor not in anchors(resolved):
            problems.append(f"{target}: no heading '#{anchor}' in {resolved.relative_to(root)}")
    return problems


def _package_path(candidate: str, root: Path) -> str:
    """``candidate`` without ``pi_sandbox/`` when it names a file in one of the package's layer folders, else ""."""
    rest = candidate.removeprefix("pi_sandbox/")
    first = rest.split("/")[0]
    layers = {p.name for p in (root / "src" / "pi_sandbox").glob("*") if p.is_dir() and not p.name.startswith("_")}
    return rest if "/" in rest and first in layers and re.fullmatch(r"[\w/.-]+\.(?:py|js|ts|json)", rest) else ""


def missing_paths(page: Path, root: Path = ROOT) -> list[str]:
    """Repository paths named in code spans of ``page`` that do not exist, or lead out of the repository."""
    text = _FENCED.sub("", page.read_text(encoding="utf-8"))
    missing = []
    for match in _CODE_SPAN.finditer(text):
        candidate = match.group(2).strip().split("::")[0]  # tests/x.py::test_name names the file
        if _REPO_PATH.match(candidate) and not (root / candidate).exists():
            missing.append(candidate)
        elif _package_path(candidate, root) and not any((base / _package_path(candidate, root)).exists()
                                                         for base in (root / "src" / "pi_sandbox", root / "tests")):
            missing.append(candidate)  # runtime/hostcalls.py: a module (or test) of a layer folder
        elif candidate.startswith("../") and not (page.parent / candidate).resolve().is_relative_to(root):
            missing.append(f"{candidate} (outside the repository)")  # a reader of the repo cannot open it
    return missing


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_resolve(page: Path) -> None:
    assert broken_links(page) == []


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_named_repository_paths_exist(page: Path) -> None:
    assert missing_paths(page) == []


def test_the_checker_finds_what_is_broken(tmp_path: Path) -> None:
    assert {"exit-codes", "did-you-mean"} <= anchors(ROOT / "docs" / "cli.md")
    assert slug("The `pi-sandbox` command") == "the-pi-sandbox-command"
    root = tmp_path / "repo"
    (root / "docs").mkdir(parents=True)
    (root / "src" / "pi_sandbox" / "cli").mkdir(parents=True)
    (root / "docs" / "cli.md").write_text("# Exit codes\n\n## Exit codes\n", encoding="utf-8")
    page = root / "docs" / "probe.md"
    page.write_text("[a](cli.md#exit-codes-1) [b](nope.md) [c](../../outside.md) [d](cli.md#nope) "
                    "`[e](nope2.md)` [f](https://example.com/x) `src/pi_sandbox/nope.py` `src/pi_sandbox/cli/`\n"
                    "`../../shared/X.md` `../README.md` `tests/test_a.py::test_one`, `::test_two`, `::test_gone[x]`\n"
                    "`cli/main.py` `cli/gone.py` `pi_sandbox/cli/main.py` `cli/test_a.py`\n"
                    "```\n[g](in-a-block.md)\n```\n", encoding="utf-8")
    assert broken_links(page, root) == ["nope.md: no such file", "../../outside.md: outside the repository",
                                        "cli.md#nope: no heading '#nope' in docs/cli.md"]
    (root / "README.md").write_text("", encoding="utf-8")
    (root / "tests").mkdir()
    (root / "tests" / "test_a.py").write_text("def test_one():\n    pass\n\n\ndef test_two():\n    pass\n")
    (root / "src" / "pi_sandbox" / "cli" / "main.py").write_text("")
    (root / "tests" / "cli").mkdir()
    (root / "tests" / "cli" / "test_a.py").write_text("")
    assert missing_paths(page, root) == ["src/pi_sandbox/nope.py", "../../shared/X.md (outside the repository)",
                                         "cli/gone.py"]
    assert missing_tests(page, root) == ["tests/test_a.py::test_gone"]


#: ``file.py::test_name`` (a test named with its file) or ``::test_name`` (same file as the one before).
_TEST_REF = re.compile(r"`((?:[\w-]+/)*[\w-]+\.py)?::(\w+)(?:\[[^\]`]*\])?`|`((?:[\w-]+/)*test_[\w-]+\.py)`")


def missing_tests(page: Path, root: Path = ROOT) -> list[str]:
    """Tests named in ``page`` (``file::function[case]``, under ``tests/``) that do not exist."""
    missing: list[str] = []
    current: str | None = None
    for match in _TEST_REF.finditer(_FENCED.sub("", page.read_text(encoding="utf-8"))):
        if match.group(3):
            current = match.group(3)
            continue
        current = match.group(1) or current
        if current is None:
            continue
        candidates = [root / "tests" / current, root / current]
        source = next((c for c in candidates if c.is_file()), None)
        if source is None or not re.search(rf"^\s*(?:async\s+)?def {match.group(2)}\b",
                                           source.read_text(encoding="utf-8"), re.M):
            missing.append(f"{current}::{match.group(2)}")
    return missing


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_named_tests_exist(page: Path) -> None:
    assert missing_tests(page) == []
