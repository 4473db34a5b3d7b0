"""Red team (host bounds): what the ``grep`` / ``find`` tools compile on the host.

A ``glob`` filter went to ``fnmatch``, which compiles each new glob with Python's ``re`` compiler: that holds
the interpreter lock, no hostcall deadline can stop it, and its cache keeps 32,768 compiled globs. A 300 KB
glob of ``*a`` froze the whole supervisor for ~12 s (a 1 MB one for ~37 s). Patterns and globs are now
bounded (:data:`MAX_PATTERN_CHARS`) and globs run on RE2 like the patterns; a glob means what it meant
(property test against ``fnmatch``).
"""

from __future__ import annotations

import fnmatch
import time
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pi_sandbox.connectors.search import MAX_PATTERN_CHARS, compile_glob
from pi_sandbox.dispatch import HostcallResult, Sandbox
from tests.conftest import PiEnv

Request = Callable[..., dict[str, Any]]
Tool = Callable[..., HostcallResult]


@pytest.fixture()
def tool(sandbox: Sandbox, make_request: Request) -> Tool:
    """``tool(name, dry_run=False, **input)`` → one ``tool`` hostcall of ``ext.a`` on the default sandbox."""

    def call(name: str, dry_run: bool = False, **args: Any) -> HostcallResult:
        return sandbox.hostcall("ext.a", make_request("tool", {"name": name, "input": args}), dry_run=dry_run)

    return call


# Each is past the bound; the first two are what froze the host under fnmatch (Python's re compiler).
HUGE = {"stars": "*a" * 150_000, "sets": "[ab]" * 80_000, "plain": "x" * (MAX_PATTERN_CHARS + 1),
        "one_over": "?" * (MAX_PATTERN_CHARS + 1)}


@pytest.mark.parametrize("kind", sorted(HUGE))
@pytest.mark.parametrize("where", ["grep_glob", "find_glob", "grep_pattern", "find_pattern"])
def test_overlong_patterns_and_globs_are_refused_before_anything_is_compiled(
        pi_env: PiEnv, tool: Tool, where: str, kind: str) -> None:
    (pi_env.workspace / "notes.txt").write_text("needle\n")
    text = HUGE[kind]
    name, field = where.split("_")
    args: dict[str, Any] = {"pattern": "needle", "path": "."}
    args[field] = text
    for dry_run in (True, False):  # a dry run refuses what the real call refuses
        started = time.monotonic()
        result = tool(name, dry_run=dry_run, **args)
        took = time.monotonic() - started
        assert (result.ok, result.error_code, result.reason) == (False, "invalid_request", "pattern_too_long"), result
        assert f"at most {MAX_PATTERN_CHARS}" in str(result.message)
        assert took < 2.0, took  # before: seconds to minutes with the interpreter lock held


def test_a_long_glob_within_the_bound_compiles_fast_and_still_filters(pi_env: PiEnv, tool: Tool) -> None:
    (pi_env.workspace / "notes.txt").write_text("needle\n")
    (pi_env.workspace / "other.md").write_text("needle\n")
    worst = "*a" * (MAX_PATTERN_CHARS // 2)  # the worst shape for fnmatch's compiler, at the bound
    started = time.monotonic()
    assert tool("grep", pattern="needle", path=".", glob=worst).result["matches"] == []
    assert time.monotonic() - started < 2.0
    assert tool("grep", pattern="needle", path=".", glob="*.txt").result["matches"] == [
        {"path": "notes.txt", "line": 1, "text": "needle"}]
    assert tool("find", pattern="*", glob="*.md").result["matches"] == [{"path": "other.md"}]


GLOB_CHARS = "ab*?[]!-^/.\\ \n\u00e9"


@settings(max_examples=600, deadline=None)
@given(glob=st.text(alphabet=GLOB_CHARS, min_size=1, max_size=10),
       name=st.text(alphabet="ab]![-^/.\\ \n\u00e9*?", max_size=8))
def test_a_glob_matches_exactly_what_fnmatch_matched(glob: str, name: str) -> None:
    assert bool(compile_glob(glob, tool="grep").fullmatch(name)) == fnmatch.fnmatchcase(name, glob)


@pytest.mark.parametrize(("glob", "name", "expected"), [
    ("*.py", "a.py", True), ("*.py", "dir/a.py", True), ("?.txt", "ab.txt", False), ("[!a]*", "bcd", True),
    ("[!a]*", "abc", False), ("[a-c]x", "bx", True), ("[c-a]x", "bx", False), ("[!c-a]x", "bx", True),
    ("[", "[", True), ("a[b", "a[b", True), ("[]]", "]", True), ("[!]]", "a", True), ("**", "any/thing", True),
    ("a b", "a b", True), ("(x)+", "(x)+", True), ("(x)+", "xx", False), ("\\d", "\\d", True), ("\\d", "5", False),
])
def test_glob_spellings(glob: str, name: str, expected: bool) -> None:
    assert bool(compile_glob(glob, tool="grep").fullmatch(name)) is expected
    assert fnmatch.fnmatchcase(name, glob) is expected
