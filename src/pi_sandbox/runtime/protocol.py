"""Frame format between the supervisor and an extension worker.

A frame is a 4-byte big-endian unsigned length followed by that many bytes of UTF-8 JSON (one
object). Frames are small and self-delimiting, so one ``read`` of the header and one of the body
serve a message; there is no per-message thread or process. JSON goes through orjson (several times
faster than ``json`` both ways); what orjson refuses — a lone surrogate escape an extension sent, an
integer beyond 64 bits — falls back to ``json``, so every frame means exactly what it meant before.

Messages (``type`` field):

supervisor → worker
    ``init``      {extension_id, modules: {id: source}, bundle, require_ids, info, limits}
    ``call``      {id, kind: "load"|"tool"|"command"|"event"|"tick"|"shutdown"|..., payload}
    ``hc_result`` {hid, ok, result? | error: {code, message}}   (answer to a worker hostcall)

worker → supervisor
    ``ready``     {confinement}                                  (after ``init``)
    ``hostcall``  {hid, method, params, sync: bool, post?: true, params_error?}  (a post is never answered)
    ``done``      {id, ok, result? | error: {code, message, name?}, timer_due_in_ms}
    ``fatal``     {code: "oom"|"internal"|..., message}          (the worker exits right after)
"""

from __future__ import annotations

import json
import os
import select
import struct
import threading
import time
from typing import IO, Any, Final

import orjson

HEADER: Final = struct.Struct(">I")
#: Upper bound of one frame. Large enough for a module table with a bundled dependency tree.
MAX_FRAME_BYTES: Final = 64 * 1024 * 1024
#: A hostcall frame's ``params_error`` when the worker sent ``null`` for params nested deeper than JSON is
#: read (the supervisor refuses the call with that reason, not as malformed params).
PARAMS_TOO_DEEP: Final = "too_deep"
#: Posts (hostcalls nobody waits for: console lines, UI updates) a worker may have unconfirmed; the next
#: one goes as a synchronous call, which returns only after all earlier posts ran (backpressure).
POST_WINDOW: Final = 64
#: Output the supervisor queues for a worker that is not reading before it gives up on it.
MAX_PENDING_OUTPUT: Final = 256 * 1024 * 1024


class ProtocolError(Exception):
    """The peer sent something that is not a well-formed frame (the channel is then unusable)."""


def dumps(value: Any) -> bytes:
    """Compact UTF-8 JSON of ``value`` (orjson; ``json`` for what orjson refuses)."""
    try:
        return orjson.dumps(value)
    except (orjson.JSONEncodeError, TypeError):
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def loads(data: bytes | str) -> Any:
    """Parse JSON (orjson; ``json`` for what orjson refuses, with ``json``'s own errors)."""
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return json.loads(data)


def encode_frame(message: dict[str, Any]) -> bytes:
    """Serialise one message into a frame (header + compact JSON)."""
    body = dumps(message)
    if len(body) > MAX_FRAME_BYTES:
        raise ProtocolError(f"frame of {len(body)} bytes exceeds the {MAX_FRAME_BYTES}-byte limit")
    return HEADER.pack(len(body)) + body


def encode_body(body_text: str) -> bytes:
    """Frame an already serialised JSON object (used to splice a cached module table in)."""
    body = body_text.encode("utf-8")
    if len(body) > MAX_FRAME_BYTES:
        raise ProtocolError(f"frame of {len(body)} bytes exceeds the {MAX_FRAME_BYTES}-byte limit")
    return HEADER.pack(len(body)) + body


def decode_body(body: bytes) -> dict[str, Any]:
    """Parse a frame body; it must be a JSON object with a string ``type``."""
    try:
        message = loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise ProtocolError(f"frame body is not JSON: {exc}") from None
    if not isinstance(message, dict) or not isinstance(message.get("type"), str):
        raise ProtocolError("frame body is not an object with a string 'type'")
    return message


def read_exact(stream: IO[bytes], size: int) -> bytes:
    """Read exactly ``size`` bytes; raise ``EOFError`` when the peer closed the pipe first."""
    chunks: list[bytes] = []
    remaining = size
    while remaining:
        chunk = stream.read(remaining)
        if not chunk:
            raise EOFError("peer closed the channel")
        chunks.append(chunk)
        remaining -= len(chunk)
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def read_frame(stream: IO[bytes]) -> dict[str, Any]:
    """Read one frame from a binary stream (blocking)."""
    (size,) = HEADER.unpack(read_exact(stream, HEADER.size))
    if size > MAX_FRAME_BYTES:
        raise ProtocolError(f"announced frame of {size} bytes exceeds the limit")
    return decode_body(read_exact(stream, size))


def write_frame(stream: IO[bytes], message: dict[str, Any]) -> None:
    """Write one frame and flush it."""
    stream.write(encode_frame(message))
    stream.flush()


class FdChannel:
    """Frame I/O over a pair of raw file descriptors with an optional read deadline.

    Reads go through one ``os.read`` buffer (no Python file objects), so ``select`` on the read
    descriptor never misses bytes that a buffered reader already pulled in.

    With ``nonblocking_writes()`` (the supervisor side) outgoing frames are queued and flushed
    while reading: the supervisor never blocks writing to a worker that is itself blocked writing
    to the supervisor (both pipes full), which would otherwise deadlock the host.
    """

    def __init__(self, read_fd: int, write_fd: int) -> None:
        self.read_fd = read_fd
        self.write_fd = write_fd
        self._buf = bytearray()
        self._out = bytearray()
        self._nonblocking = False
        #: Writes come from the request loop and (answers to sync calls) from lane threads.
        self._wlock = threading.Lock()
        self._write_closed = False
        #: Optional descriptor that interrupts a waiting read (a byte written to it wakes the reader).
        self.wake_fd: int | None = None

    def nonblocking_writes(self) -> None:
        """Queue writes instead of blocking; they are flushed whenever the channel reads."""
        os.set_blocking(self.write_fd, False)
        self._nonblocking = True

    @property
    def pending_output(self) -> int:
        """Bytes queued but not yet written."""
        return len(self._out)

    def close_writes(self) -> None:
        """From now on writes are dropped (the descriptor is about to be closed; its number may be reused)."""
        with self._wlock:
            self._write_closed = True
            self._out.clear()

    def _flush_some(self) -> None:
        with self._wlock:
            while self._out and not self._write_closed:
                try:
                    written = os.write(self.write_fd, self._out)
                except BlockingIOError:
                    return
                del self._out[:written]

    def _fill(self, deadline: float | None) -> bool:
        """Read more bytes (flushing queued output meanwhile); False when the deadline passed first."""
        while True:
            wlist = [self.write_fd] if self._out else []
            if deadline is None and not wlist:
                chunk = os.read(self.read_fd, 1 << 20)
                if not chunk:
                    raise EOFError("peer closed the channel")
                self._buf += chunk
                return True
            # A deadline already past still polls once: a frame that is waiting in the pipe counts
            # (a caller that was slow to look must not take a finished peer for a hung one).
            timeout = None if deadline is None else max(0.0, deadline - time.monotonic())
            rlist = [self.read_fd] if self.wake_fd is None else [self.read_fd, self.wake_fd]
            readable, writable, _ = select.select(rlist, wlist, [], timeout)
            if writable:
                self._flush_some()
            if self.wake_fd is not None and self.wake_fd in readable:
                try:
                    os.read(self.wake_fd, 4096)
                except BlockingIOError:
                    pass
                return False  # woken: the caller has other work (it checks its own deadline)
            if readable:
                chunk = os.read(self.read_fd, 1 << 20)
                if not chunk:
                    raise EOFError("peer closed the channel")
                self._buf += chunk
                return True
            if not writable:
                return False

    def has_buffered_frame(self) -> bool:
        """True when a complete frame is already buffered (no read needed)."""
        if len(self._buf) < HEADER.size:
            return False
        size: int = HEADER.unpack_from(self._buf)[0]
        return len(self._buf) >= HEADER.size + size

    def read_raw(self, deadline: float | None = None) -> bytes | None:
        """The next frame body, or None if ``deadline`` (monotonic seconds) passed first."""
        while len(self._buf) < HEADER.size:
            if not self._fill(deadline):
                return None
        (size,) = HEADER.unpack_from(self._buf)
        if size > MAX_FRAME_BYTES:
            raise ProtocolError(f"announced frame of {size} bytes exceeds the limit")
        end = HEADER.size + size
        while len(self._buf) < end:
            if not self._fill(deadline):
                return None
        body = bytes(self._buf[HEADER.size : end])
        del self._buf[:end]
        return body

    def read(self, deadline: float | None = None) -> dict[str, Any] | None:
        """The next decoded message, or None on deadline."""
        body = self.read_raw(deadline)
        return None if body is None else decode_body(body)

    def write(self, message: dict[str, Any]) -> None:
        """Send one message."""
        self.write_bytes(encode_frame(message))

    def write_bytes(self, frame: bytes) -> None:
        """Send an already encoded frame (queued in non-blocking mode; loops over partial writes)."""
        if self._nonblocking:
            with self._wlock:
                if self._write_closed:
                    return
                self._out += frame
                if len(self._out) > MAX_PENDING_OUTPUT:
                    raise ProtocolError("the peer stopped reading: too much output queued")
            self._flush_some()
            return
        view = memoryview(frame)
        while view:
            written = os.write(self.write_fd, view)
            view = view[written:]

    def flush(self, deadline: float) -> bool:
        """Write out queued output; False when the deadline passed first."""
        while self._out:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            _, writable, _ = select.select([], [self.write_fd], [], remaining)
            if writable:
                self._flush_some()
        return True
