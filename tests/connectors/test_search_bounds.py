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


# Patterns whose RE2 DFA gives up (their states explode), so RE2 simulates the NFA: linear in the input, but
# ~3-12 ns per byte *and instruction*. One 4 MiB search of ``a[ab]{1000}c`` took 49 s (one 16 MiB line ~200 s),
# all after the call's deadline, because the deadline was only checked between 4 MiB chunks.
SLOW_PATTERNS = ["a[ab]{1000}c", "a.{200}c", "a[ab]{30}c", "(?i)b[^c]{150}c"]
DEADLINE_MS = 1500


def _random_ab(size: int, line: int | None) -> bytes:
    import random

    data = bytearray(bytes(97 + (b & 1) for b in random.Random(7).randbytes(size)))
    if line:
        data[line - 1::line] = b"\n" * len(data[line - 1::line])
    return bytes(data)


@pytest.mark.parametrize("layout", ["one_long_line", "long_lines", "short_lines"])
@pytest.mark.parametrize("pattern", SLOW_PATTERNS)
def test_a_slow_pattern_stops_at_the_deadline(pi_env: PiEnv, sandbox: Sandbox, make_request: Request,
                                              pattern: str, layout: str) -> None:
    line = {"one_long_line": None, "long_lines": 200_000, "short_lines": 300}[layout]
    (pi_env.workspace / "blob.txt").write_bytes(_random_ab(4 * 1024 * 1024, line))
    request = make_request("tool", {"name": "grep", "input": {"pattern": pattern, "path": "blob.txt"}})
    request["timeout_ms"] = DEADLINE_MS
    started = time.monotonic()
    cpu = time.thread_time()
    result = sandbox.hostcall("ext.a", request)
    took, spent = time.monotonic() - started, time.thread_time() - cpu
    # done, or stopped at the deadline; never the minutes one search used to take past it
    assert result.ok or (result.error_code, result.reason) == ("timeout", "hostcall_deadline"), result
    assert spent < DEADLINE_MS / 1000 + 2.0, (spent, took)
    assert took < DEADLINE_MS / 1000 + 4.0, (spent, took)


def test_pieces_keep_matches_and_line_numbers(pi_env: PiEnv, tool: Tool) -> None:
    """Searching in pieces finds what one search found: every matching line, with its number, also for a heavy
    pattern (small pieces) and for lines of multi-byte characters longer than a piece."""
    lines = [("é" * 3000 if i % 7 == 0 else f"line {i} " + "ab" * (i % 50)) + (" needle" if i % 11 == 0 else "")
             for i in range(3000)]
    (pi_env.workspace / "text.txt").write_text("\n".join(lines) + "\n")
    expected = [i + 1 for i in range(3000) if i % 11 == 0]
    for pattern in ("needle", "n[a-z]{2}d[^x]{0,3}e$", "(?:n|m)(?:e|f)" + "." * 0 + "edle"):
        result = tool("grep", pattern=pattern, path="text.txt", limit=1000)
        assert result.ok, result
        assert [m["line"] for m in result.result["matches"]] == expected, pattern
    heavy = "needle" + "(?:x{0,1}){300}"  # a large program: small pieces
    result = tool("grep", pattern=heavy, path="text.txt", limit=1000)
    assert result.ok and [m["line"] for m in result.result["matches"]] == expected
