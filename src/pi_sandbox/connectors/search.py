"""``grep`` and ``find`` for the file tools, on a linear-time regular-expression engine (RE2).

Python's ``re`` backtracks: a pattern like ``(a+)+$`` on a long line takes exponential time and
holds the interpreter lock while it does, which froze the whole supervisor. RE2 (the
``google-re2`` package) guarantees time linear in the input, releases the lock while it matches, and
refuses what it cannot do in linear time (backreferences, look-around) — such a pattern is refused
with a message saying so, never run on a slower engine.

The ``glob`` filter and ``find`` patterns run on RE2 too (:func:`glob_regex`): ``fnmatch`` compiled each new
glob with Python's ``re`` compiler, which holds the interpreter lock (a 300 KB glob of ``*a`` froze the whole
supervisor for 12 s, no deadline could stop it) and kept up to 32,768 compiled globs in its cache. Patterns and
globs longer than :data:`MAX_PATTERN_CHARS` are refused before anything is compiled (RE2's compiler also runs
with the lock held, and wrote one log line per node of a multi-megabyte pattern to the host's stderr).

grep searches what a read of the file returns: every withheld secret value in it (any spelling the secret
broker knows) is replaced by the placeholder before the pattern runs. Matching the raw bytes made grep an oracle:
a file that is not a secret file by name but holds a withheld value (``api_key: sk-...`` in a config file) reads
as ``[REDACTED]``, yet ``^api_key: sk-a``, ``^api_key: sk-b``... matched or not, one character at a time, and
rebuilt the value in about a second.

Files are read in chunks that end at a line break, so memory stays bounded whatever the file size, and each
chunk is searched in pieces of bounded work (bytes × pattern instructions, :data:`WORK_PER_SEARCH`); between
pieces the search checks its deadline and stops with ``timeout``. Only regular files are
opened (never a FIFO or device), binary files (a NUL byte in the first chunk) and files that are not
UTF-8 are skipped, as before.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, Final

import re2  # type: ignore[import-untyped]

from pi_sandbox.connectors.base import ConnectorContext
from pi_sandbox.connectors.fs import confine, open_regular, refuse_secret_link
from pi_sandbox.errors import ConnectorError

MAX_MATCHES: Final = 1000
MAX_LINE_CHARS: Final = 500
CHUNK_BYTES: Final = 4 * 1024 * 1024
#: Memory RE2 may use for one compiled pattern (its default is 8 MiB; a pattern needing more is refused).
PATTERN_MAX_MEM: Final = 32 * 1024 * 1024
SKIPPED_DIRS: Final = frozenset({".git", "node_modules"})
#: Longest ``pattern`` or ``glob`` a search compiles (characters): far above any pattern a person or a model
#: writes, far below what makes compiling it (with the interpreter lock held) a freeze of the host.
MAX_PATTERN_CHARS: Final = 4096
#: Work of one RE2 search, in bytes searched × instructions of the compiled pattern. RE2 is linear in the input
#: but its factor is the program: when the DFA gives up (a pattern like ``a[ab]{1000}c``, whose states explode) it
#: simulates the NFA, ~3-12 ns per byte and instruction here, and one search cannot be interrupted. A 4 MiB chunk
#: took 49 s for that 1,006-instruction pattern, a 16 MiB line ~200 s — after its deadline, on a lane thread that
#: kept one core busy per call (the deadline is only checked between searches). Searching pieces of at most this
#: much work keeps each search under ~0.2 s, so the deadline holds to that.
WORK_PER_SEARCH: Final = 16 * 1024 * 1024
#: Smallest piece searched at once (a pattern of a million instructions still searches 4 KiB at a time).
MIN_PIECE_BYTES: Final = 4096


def _bounded(text: Any, what: str, tool: str) -> str:
    """``text`` when it is a non-empty string of at most :data:`MAX_PATTERN_CHARS`; else ``invalid_request``."""
    if not isinstance(text, str) or not text:
        raise ConnectorError(f"{tool} needs a non-empty string '{what}'", code="invalid_request")
    if len(text) > MAX_PATTERN_CHARS:
        raise ConnectorError(f"{tool} '{what}' is {len(text)} characters long; at most {MAX_PATTERN_CHARS} are "
                             "compiled (split the search, or search for a shorter part)",
                             code="invalid_request", reason="pattern_too_long")
    return text


def compile_pattern(pattern: Any, *, tool: str, literal: bool = False, ignore_case: bool = False) -> Any:
    """Compile ``pattern`` for RE2 with line semantics; ``ConnectorError`` when RE2 cannot express it."""
    _bounded(pattern, "pattern", tool)
    options = re2.Options()
    options.log_errors = False
    options.never_nl = True  # a match never spans lines, as in grep
    options.literal = literal
    options.case_sensitive = not ignore_case
    options.max_mem = PATTERN_MAX_MEM
    try:
        return re2.compile(pattern if literal else f"(?m){pattern}", options)
    except re2.error as exc:
        detail = exc.args[0].decode("utf-8", "replace") if exc.args and isinstance(exc.args[0], bytes) else str(exc)
        raise ConnectorError(
            f"{tool} pattern cannot be run by the linear-time regex engine (RE2): {detail}. Backreferences "
            "and look-around are not supported; rewrite the pattern or pass literal=true",
            code="invalid_request",
            reason="unsupported_pattern",
        ) from None


def glob_pattern(pattern: Any) -> Any:
    """``find`` patterns: ``*`` matches any run of characters, everything else is literal."""
    _bounded(pattern, "pattern", "find")
    return compile_pattern(re.escape(pattern).replace(r"\*", ".*"), tool="find")


def _literal(char: str) -> str:
    """One character as an RE2 literal: letters and digits as they are, everything else as ``\\x{hex}`` (RE2
    refuses some backslash escapes ``re.escape`` makes, such as an escaped space)."""
    return char if char.isalnum() else f"\\x{{{ord(char):x}}}"


def glob_regex(glob: str) -> str:
    """``glob`` in ``fnmatch`` syntax as an RE2 expression matching what ``fnmatch.fnmatchcase`` matches: ``*``
    any run of characters (``/`` too), ``?`` one character, ``[seq]`` / ``[!seq]`` a set (ranges allowed), a
    ``[`` without its ``]`` a literal; to be matched whole (``fullmatch``), with ``.`` matching a newline."""
    out: list[str] = []
    i, n = 0, len(glob)
    while i < n:
        char = glob[i]
        i += 1
        if char == "*":
            if not out or out[-1] != ".*":  # consecutive stars are one star
                out.append(".*")
        elif char == "?":
            out.append(".")
        elif char == "[":
            j = i
            if j < n and glob[j] == "!":
                j += 1
            if j < n and glob[j] == "]":
                j += 1
            while j < n and glob[j] != "]":
                j += 1
            if j >= n:
                out.append(_literal("["))
                continue
            body = glob[i:j]
            i = j + 1
            negate = body.startswith("!")
            if negate:
                body = body[1:]
            members: list[str] = []
            k = 0
            while k < len(body):
                if k + 2 < len(body) and body[k + 1] == "-":
                    if body[k] > body[k + 2]:  # an empty range (fnmatch drops it)
                        k += 3
                        continue
                    members.append(f"{_literal(body[k])}-{_literal(body[k + 2])}")
                    k += 3
                else:
                    members.append(_literal(body[k]))
                    k += 1
            if not members:  # nothing left: "[!]" style sets match any character, empty sets nothing
                out.append("." if negate else "[^\\x{0}-\\x{10ffff}]")
            else:
                out.append(f"[{'^' if negate else ''}{''.join(members)}]")
        else:
            out.append(_literal(char))
    return "".join(out)


def compile_glob(glob: Any, *, tool: str) -> Any:
    """A ``glob`` filter compiled for RE2 (see :func:`glob_regex`); ``invalid_request`` when it is too long."""
    _bounded(glob, "glob", tool)
    options = re2.Options()
    options.log_errors = False
    options.dot_nl = True  # fnmatch's "*" and "?" match a newline in a file name too
    options.max_mem = PATTERN_MAX_MEM
    try:
        return re2.compile(glob_regex(glob), options)
    except re2.error:
        raise ConnectorError(f"{tool} 'glob' cannot be compiled", code="invalid_request",
                             reason="unsupported_pattern") from None


class _Clock:
    def __init__(self, ctx: ConnectorContext, tool: str) -> None:
        self.stop_at = time.monotonic() + ctx.timeout_ms / 1000 if ctx.timeout_ms else None
        self.tool = tool

    def check(self) -> None:
        if self.stop_at is not None and time.monotonic() > self.stop_at:
            raise ConnectorError(f"{self.tool} ran past its deadline; narrow the path or the pattern",
                                 code="timeout", reason="hostcall_deadline")


def _files(ctx: ConnectorContext, root: Path, clock: _Clock, glob: Any) -> Iterator[tuple[str, str]]:
    """(absolute path, path relative to ``root``) of every file the caller may read, in sorted order.

    ``root`` may be a single file (its name is the relative path); ``glob`` keeps the files whose
    name or relative path matches it (a compiled :func:`compile_glob`, or None).
    """
    if root.is_file():
        yield str(root), root.name
        return
    for dirpath, dirnames, filenames in os.walk(root):
        clock.check()
        dirnames[:] = sorted(d for d in dirnames if d not in SKIPPED_DIRS
                             and ctx.paths.allows(os.path.join(dirpath, d)))
        for filename in sorted(filenames):
            path = os.path.join(dirpath, filename)
            rel = os.path.relpath(path, root)
            if glob is not None and not (glob.fullmatch(filename) or glob.fullmatch(rel)):
                continue
            if ctx.paths.allows(path):  # a symlink pointing out, or protected state / settings: never read
                yield path, rel


def search_request(ctx: ConnectorContext, tool: str, args: Mapping[str, Any]) -> tuple[Path, int, Any, Any]:
    """The checked parts of a ``grep``/``find`` call — root under the caller's rules, limit, glob, compiled
    pattern — or the ``ConnectorError`` the call gets (a dry run stops here)."""
    root = confine(ctx, args.get("path", "."), "list")
    limit = args.get("limit", MAX_MATCHES)
    if isinstance(limit, bool) or not isinstance(limit, int) or limit <= 0:
        raise ConnectorError(f"{tool} 'limit' must be a positive integer", code="invalid_request")
    glob = args.get("glob")
    if glob is not None:
        if not isinstance(glob, str) or not glob:
            raise ConnectorError(f"{tool} 'glob' must be a non-empty string", code="invalid_request")
        glob = compile_glob(glob, tool=tool)
    if tool == "find":
        regex = glob_pattern(args.get("pattern"))
    else:
        regex = compile_pattern(args.get("pattern"), tool=tool, literal=args.get("literal") is True,
                                ignore_case=args.get("ignoreCase") is True)
    return root, min(limit, MAX_MATCHES), glob, regex


#: What grep runs the pattern on instead of a file's bytes (the secret broker's redaction, keeping line numbers).
Redact = Callable[[bytes], bytes]


def search(ctx: ConnectorContext, tool: str, args: Mapping[str, Any], redact: Redact | None = None) -> dict[str, Any]:
    """Run ``grep`` (content) or ``find`` (names) under ``args['path']`` (default: the workspace).

    ``args``: ``pattern``, ``path``, ``limit`` (≤ 1000), ``glob``; for grep ``ignoreCase`` and
    ``literal``. Result: ``{matches: [{path, line?, text?}], truncated}``. ``redact``: applied to each piece
    of a file before the pattern sees it (None: the secret broker is off).
    """
    root, limit, glob, regex = search_request(ctx, tool, args)
    clock = _Clock(ctx, tool)
    matches: list[dict[str, Any]] = []
    if tool == "find":
        for _path, rel in _files(ctx, root, clock, glob):
            if regex.fullmatch(os.path.basename(rel)) or regex.search(rel):
                matches.append({"path": rel})
                if len(matches) >= limit:
                    return {"matches": matches, "truncated": True}
        return {"matches": matches, "truncated": False}
    for path, rel in _files(ctx, root, clock, glob):
        for lineno, text in _grep_file(ctx, path, regex, clock, redact):
            matches.append({"path": rel, "line": lineno, "text": text})
            if len(matches) >= limit:
                return {"matches": matches, "truncated": True}
    return {"matches": matches, "truncated": False}


def _chunks(fd: int) -> Iterator[bytes]:
    """The file's bytes in pieces that end at a line break (the last one may not)."""
    with os.fdopen(fd, "rb") as handle:
        rest = b""
        while True:
            block = handle.read(CHUNK_BYTES)
            if not block:
                if rest:
                    yield rest
                return
            data = rest + block
            cut = data.rfind(b"\n") + 1
            if cut == 0 and len(data) < 4 * CHUNK_BYTES:
                rest = data  # one very long line: keep reading it, up to a bound
                continue
            cut = cut or len(data)
            rest = data[cut:]
            yield data[:cut]


def _grep_file(ctx: ConnectorContext, path: str, regex: Any, clock: _Clock,
               redact: Redact | None) -> Iterator[tuple[int, str]]:
    """(line number, line text) of every matching line of one file (as ``redact`` leaves it); nothing for binary or
    non-UTF-8."""
    try:
        fd = refuse_secret_link(ctx, open_regular(path), path)
    except (OSError, ConnectorError):
        return  # unreadable, a pipe/device (never opened for reading), or a hard link to a secret file
    line_base = 1
    first = True
    piece_bytes = piece_size(regex)
    for whole in _chunks(fd):
        clock.check()
        if first and b"\0" in whole[:8192]:
            return  # binary
        first = False
        try:
            whole.decode("utf-8")
        except UnicodeDecodeError:
            return
        if redact is not None:
            whole = redact(whole)  # the pattern sees what a read returns: no match oracle on a withheld value
        for chunk in _pieces(whole, piece_bytes):
            clock.check()
            yield from _matches(chunk, regex, line_base)
            line_base += chunk.count(b"\n")


def piece_size(regex: Any) -> int:
    """Bytes searched at once with ``regex`` so that one search does at most :data:`WORK_PER_SEARCH` work."""
    program = max(1, int(regex.programsize), int(regex.reverseprogramsize))
    return max(MIN_PIECE_BYTES, min(CHUNK_BYTES, WORK_PER_SEARCH // program))


def _pieces(chunk: bytes, size: int) -> Iterator[bytes]:
    """``chunk`` in pieces of at most ``size`` bytes that end at a line break; a line longer than ``size`` is cut
    (a match across the cut is not found, as with a line longer than the chunk bound)."""
    start, end = 0, len(chunk)
    while end - start > size:
        cut = chunk.rfind(b"\n", start, start + size) + 1
        if cut <= start:
            cut = start + size
            # never inside a UTF-8 sequence: the line text is decoded (continuation bytes are 10xxxxxx)
            while cut > start + 1 and chunk[cut] & 0xC0 == 0x80:
                cut -= 1
        yield chunk[start:cut]
        start = cut
    if start < end:
        yield chunk[start:]


def _matches(chunk: bytes, regex: Any, line_base: int) -> Iterator[tuple[int, str]]:
    """(line number, text) of every matching line of one piece whose first line is ``line_base``."""
    counted_to = 0
    pos = 0
    while True:
        found = regex.search(chunk, pos)
        if found is None:
            break
        start = found.start()
        line_start = chunk.rfind(b"\n", 0, start) + 1
        line_end = chunk.find(b"\n", start)
        line_end = len(chunk) if line_end < 0 else line_end
        line_base += chunk.count(b"\n", counted_to, line_start)
        counted_to = line_start
        text = chunk[line_start:line_end].decode("utf-8", "replace").rstrip()
        yield line_base, text[:MAX_LINE_CHARS]
        pos = line_end + 1
        if pos >= len(chunk):
            break
