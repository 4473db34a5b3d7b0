"""Content decoding of HTTP responses with the output bounded as it is made (decompression bombs).

httpx decodes ``Content-Encoding`` itself, one network read (up to 64 KiB) at a time and with no limit on what
one read inflates to, and it stacks codings (``gzip, gzip, gzip``). A cap counted on what it returns comes too
late: an 824-byte response coded ``gzip, gzip`` made the supervisor allocate 400 MB in one call before the cap
saw the first byte (5.9 s), and a few more levels or bytes need more memory than any machine has (the supervisor
is killed, with every extension). Here the raw body is read (``iter_raw``) and inflated in steps of at most
:data:`STEP` bytes per coding, each step's output passed on at once, so no layer ever holds more than a step and
the cap (``http.maxResponseBytes``) stops the whole chain at its first byte over. The raw bytes count against the
same cap (a stream of empty gzip members inflates to nothing but never ends).

The codings and their reading are httpx's (``gzip``; ``deflate`` as zlib, else raw deflate; ``identity``), in the
order the header names them, undone last first. A body with a coding not known here is passed through untouched
(its header kept), as before.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from typing import Final

from pi_sandbox.errors import ConnectorError

#: Codings decoded here (what httpx decodes without optional packages).
KNOWN_CODINGS: Final = frozenset({"identity", "gzip", "deflate"})
#: Most bytes one inflate step makes (and so the most a layer holds at once).
STEP: Final = 64 * 1024


def codings_to_decode(values: list[str]) -> list[str] | None:
    """The codings to undo, last applied first; None when the body is passed through (none, or one unknown)."""
    names = [v.strip().lower() for v in values if v.strip()]
    if not names or all(n == "identity" for n in names) or any(n not in KNOWN_CODINGS for n in names):
        return None
    return [n for n in reversed(names) if n != "identity"]


class _Inflater:
    """One coding: zlib state, with httpx's raw-deflate fallback for a ``deflate`` body without a zlib header."""

    def __init__(self, coding: str) -> None:
        self.coding = coding
        self.first = True
        self.state = zlib.decompressobj(zlib.MAX_WBITS | 16 if coding == "gzip" else zlib.MAX_WBITS)

    def step(self, data: bytes) -> bytes:
        try:
            out = self.state.decompress(data, STEP)
        except zlib.error:
            if not (self.first and self.coding == "deflate"):
                raise
            self.state = zlib.decompressobj(-zlib.MAX_WBITS)
            out = self.state.decompress(data, STEP)
        self.first = False
        return out

    @property
    def tail(self) -> bytes:
        return self.state.unconsumed_tail


class BoundedDecoder:
    """Undo ``codings`` on a body fed in raw pieces; the output and the raw input each at most ``cap`` bytes.

    ``stopped()`` is asked between steps (the call's deadline): when it says so, decoding ends early and the
    caller reports its timeout.
    """

    def __init__(self, codings: list[str], cap: int, stopped: Callable[[], bool] = lambda: False) -> None:
        self.layers = [_Inflater(c) for c in codings]
        self.cap = cap
        self.stopped = stopped
        self.raw = 0
        self.size = 0
        self.chunks: list[bytes] = []

    def feed(self, raw: bytes) -> None:
        """Decode one raw piece of the body (``ConnectorError`` past the cap or on a corrupt coding)."""
        self.raw += len(raw)
        if self.raw > self.cap:
            raise _too_large(self.cap)
        self._push(0, raw)

    def finish(self) -> bytes:
        """The decoded body, once the raw body has ended."""
        for i, layer in enumerate(self.layers):
            # what a layer still holds comes out in steps, through the layers after it
            while not self.stopped():
                piece = _guard(layer.step, b"")
                if not piece:
                    break
                self._push(i + 1, piece)
        return b"".join(self.chunks)

    def _push(self, i: int, data: bytes) -> None:
        if i == len(self.layers):
            self.size += len(data)
            if self.size > self.cap:
                raise _too_large(self.cap)
            self.chunks.append(data)
            return
        layer = self.layers[i]
        while not self.stopped():
            piece = _guard(layer.step, data)
            data = layer.tail
            if piece:
                self._push(i + 1, piece)
            if not data and len(piece) < STEP:
                return  # input used up and nothing held back (a full step may have more to give)


def _guard(step: Callable[[bytes], bytes], data: bytes) -> bytes:
    try:
        return step(data)
    except zlib.error:
        raise ConnectorError("http response body could not be decoded (corrupt Content-Encoding data)", code="io",
                             reason="http_error") from None


def _too_large(cap: int) -> ConnectorError:
    return ConnectorError(f"response larger than http.maxResponseBytes ({cap} bytes)", code="io",
                          reason="response_too_large")
