"""Operator output: what extensions print (``console.*``) and show (``ctx.ui.notify`` ...) reaching a person.

Headless there is no UI, so the ``log`` and ``ui`` connectors hand every line to one
:class:`OperatorOutput`: it writes ``[extension-id] level: text`` to stderr and passes the same
:class:`OperatorLine` to listeners (``pi rpc`` forwards them as notifications). It is the last
step before a terminal, so it never trusts the text: control and format characters are escaped
(an extension cannot move the cursor, erase lines or reorder text with bidi controls), lines are
capped, and each extension is rate-limited by a token bucket; what the bucket drops is counted and
reported once output is allowed again. Secrets are already redacted by the broker before the
connectors call it.
"""

from __future__ import annotations

import sys
import threading
import time
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from typing import TextIO

#: Longest line shown; the log file keeps more (``log.MAX_LINE_CHARS``).
MAX_SHOWN_CHARS = 2000
#: Sustained lines per second and burst per extension.
RATE_PER_S = 20.0
BURST = 100


@dataclass(frozen=True)
class OperatorLine:
    """One line of extension output for the operator."""

    extension_id: str
    source: str  # "console" or "ui"
    kind: str  # "log" for console output, else the ui op (notify, set_status, confirm, ...)
    level: str  # debug / info / warn / error (ui notify levels are mapped onto these)
    text: str

    def label(self) -> str:
        """How the line is tagged on the terminal: the level, or ``ui.<op>``."""
        return self.level if self.source == "console" else f"ui.{self.kind}"


Listener = Callable[[OperatorLine], None]


def escape_for_terminal(text: str) -> str:
    """Control (Cc), format (Cf: bidi, zero-width) and lone surrogate (Cs: no terminal can be sent one)
    characters as visible escapes; tab kept."""
    if text.isprintable():
        # Printable text (checked in C) has no character of category C* or Z* but the space, so nothing to
        # escape: every line of ordinary output takes this path instead of a category lookup per character.
        return text
    out = []
    for ch in text:
        if ch != "\t" and unicodedata.category(ch) in ("Cc", "Cf", "Cs"):
            code = ord(ch)
            out.append(f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")
        else:
            out.append(ch)
    return "".join(out)


class _Bucket:
    __slots__ = ("tokens", "stamp", "dropped")

    def __init__(self, now: float) -> None:
        self.tokens = float(BURST)
        self.stamp = now
        self.dropped = 0


class OperatorOutput:
    """Fan-out of extension output to stderr and listeners, rate-limited per extension."""

    def __init__(self, stream: TextIO | None = None, *, use_stderr: bool = True,
                 rate_per_s: float = RATE_PER_S, burst: int = BURST) -> None:
        self._stream = stream
        self._use_stderr = use_stderr
        self._rate = rate_per_s
        self._burst = burst
        self._lock = threading.Lock()
        self._buckets: dict[str, _Bucket] = {}
        self._listeners: list[Listener] = []

    def add_listener(self, listener: Listener) -> None:
        """``listener(line)`` gets every line that passed the rate limit (from any thread)."""
        with self._lock:
            self._listeners.append(listener)

    def remove_listener(self, listener: Listener) -> None:
        with self._lock:
            if listener in self._listeners:
                self._listeners.remove(listener)

    def set_stream(self, stream: TextIO | None, *, use_stderr: bool = False) -> None:
        """Write to ``stream`` instead (None and ``use_stderr=False``: listeners only)."""
        with self._lock:
            self._stream, self._use_stderr = stream, use_stderr

    def emit(self, extension_id: str, source: str, kind: str, level: str, text: str) -> bool:
        """Show one line; False when the extension's rate limit dropped it."""
        lines: list[OperatorLine] = []
        with self._lock:
            now = time.monotonic()
            bucket = self._buckets.get(extension_id)
            if bucket is None:
                bucket = self._buckets[extension_id] = _Bucket(now)
            bucket.tokens = min(float(self._burst), bucket.tokens + (now - bucket.stamp) * self._rate)
            bucket.stamp = now
            if bucket.tokens < 1.0:
                bucket.dropped += 1
                return False
            bucket.tokens -= 1.0
            if bucket.dropped:
                lines.append(OperatorLine(extension_id, "console", "log", "warn",
                                          f"({bucket.dropped} lines suppressed by the output rate limit)"))
                bucket.dropped = 0
            shown = text
            if len(text) > MAX_SHOWN_CHARS:
                shown = f"{text[:MAX_SHOWN_CHARS]}… (+{len(text) - MAX_SHOWN_CHARS} chars)"
            lines.append(OperatorLine(extension_id, source, kind, level, shown))
            listeners = list(self._listeners)
            stream = self._stream if self._stream is not None else (sys.stderr if self._use_stderr else None)
            if stream is not None:
                try:
                    for line in lines:
                        prefix = f"[{escape_for_terminal(line.extension_id)}] {line.label()}: "
                        stream.write("".join(prefix + escape_for_terminal(part) + "\n"
                                             for part in line.text.split("\n")))
                    stream.flush()
                except (OSError, ValueError):  # a closed or broken stderr must not fail the hostcall
                    pass
        for line in lines:
            for listener in listeners:
                listener(line)
        return True
