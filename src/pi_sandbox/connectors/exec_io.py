"""The exec connector's I/O with one child: feed its stdin, capture stdout/stderr (capped), wait for its exit.

One thread does it all with ``poll`` over the two pipes, the stdin pipe and a pidfd of the child (which
becomes readable the moment it exits): no reader threads to start and join per call, and no
``Popen.wait(timeout)`` sleep loop (sleeps doubling to 50 ms: a 16 ms command was noticed at 31.5 ms).
Where a pidfd cannot be had (Linux < 5.3) the same work is done with reader threads.

When the child has exited — or the timeout passed — ``stop`` is called (the connector kills bwrap's
process group: its PID namespace, and every straggler in it, ends with it); the pipes are then read to
their end for at most :data:`DRAIN_S`.
"""

from __future__ import annotations

import math
import os
import select
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO, Final

from pi_sandbox.sandbox.process import wait_exit

#: How long the pipes may still be read after the child ended (something else may hold them open).
DRAIN_S: Final = 2.0
_READ_CHUNK: Final = 64 * 1024
_WRITE_CHUNK: Final = 64 * 1024


class Sink:
    """Keeps at most ``cap`` bytes of one stream; the rest is read and dropped (``truncated``)."""

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.chunks: list[bytes] = []
        self.size = 0
        self.truncated = False

    def add(self, chunk: bytes) -> None:
        room = self.cap - self.size
        if room > 0:
            self.chunks.append(chunk[:room])
            self.size += min(room, len(chunk))
        if len(chunk) > room:
            self.truncated = True

    def data(self) -> bytes:
        return b"".join(self.chunks)


@dataclass(frozen=True)
class Outcome:
    """What one child wrote, and whether it outlived its timeout."""

    timed_out: bool
    out: Sink
    err: Sink


def communicate(proc: subprocess.Popen[bytes], stdin: bytes | None, timeout_s: float, cap: int,
                stop: Callable[[], None]) -> Outcome:
    """Run ``proc``'s I/O until it exits or ``timeout_s`` passes, call ``stop``, reap it, drain its pipes."""
    assert proc.stdout is not None and proc.stderr is not None
    try:
        pidfd = os.pidfd_open(proc.pid) if proc.returncode is None else -1
    except (AttributeError, OSError):
        pidfd = -1
    if pidfd < 0:
        return _threaded(proc, stdin, timeout_s, cap, stop)
    out, err = Sink(cap), Sink(cap)
    sinks = {proc.stdout.fileno(): out, proc.stderr.fileno(): err}
    pending = memoryview(stdin) if stdin is not None else None
    in_fd = proc.stdin.fileno() if proc.stdin is not None and pending is not None else -1
    poller = select.poll()
    for fd in sinks:
        poller.register(fd, select.POLLIN)
    if in_fd >= 0:
        os.set_blocking(in_fd, False)
        poller.register(in_fd, select.POLLOUT)
    poller.register(pidfd, select.POLLIN)
    deadline = time.monotonic() + timeout_s
    exited = False
    try:
        while not exited:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            for fd, _events in poller.poll(max(1, math.ceil(left * 1000))):
                if fd == pidfd:
                    exited = True
                elif fd == in_fd:
                    pending = _write(proc, in_fd, pending, poller)
                    if pending is None:
                        in_fd = -1
                else:
                    _read(fd, sinks, poller)
    finally:
        poller.unregister(pidfd)
        os.close(pidfd)
    timed_out = not exited and proc.poll() is None
    stop()
    proc.wait()
    if in_fd >= 0:  # never taken in full
        poller.unregister(in_fd)
        _close_stdin(proc)
    drain_end = time.monotonic() + DRAIN_S
    while sinks:
        left = drain_end - time.monotonic()
        if left <= 0:
            break
        for fd, _events in poller.poll(max(1, math.ceil(left * 1000))):
            if fd in sinks:
                _read(fd, sinks, poller)
    return Outcome(timed_out, out, err)


def _read(fd: int, sinks: dict[int, Sink], poller: select.poll) -> None:
    try:
        chunk = os.read(fd, _READ_CHUNK)
    except BlockingIOError:
        return
    except OSError:
        chunk = b""
    if chunk:
        sinks[fd].add(chunk)
        return
    poller.unregister(fd)  # end of the stream
    del sinks[fd]


def _write(proc: subprocess.Popen[bytes], fd: int, pending: memoryview | None,
           poller: select.poll) -> memoryview | None:
    """Write what the pipe takes now; None once everything is written (or the child closed its end)."""
    try:
        if pending is not None and len(pending):
            pending = pending[os.write(fd, pending[:_WRITE_CHUNK]):]
    except BlockingIOError:
        return pending
    except OSError:  # EPIPE: the child does not read its stdin (any more)
        pending = None
    if pending is not None and len(pending):
        return pending
    poller.unregister(fd)
    _close_stdin(proc)
    return None


def _close_stdin(proc: subprocess.Popen[bytes]) -> None:
    if proc.stdin is not None:
        try:
            proc.stdin.close()
        except OSError:
            pass


class _Capture(threading.Thread):
    """Drains one pipe into a :class:`Sink` (the fallback without pidfds)."""

    def __init__(self, pipe: IO[bytes], sink: Sink) -> None:
        super().__init__(daemon=True)
        self.pipe = pipe
        self.sink = sink

    def run(self) -> None:
        fd = self.pipe.fileno()
        try:
            while chunk := os.read(fd, _READ_CHUNK):
                self.sink.add(chunk)
        except (OSError, ValueError):
            return


def _feed(pipe: IO[bytes], data: bytes) -> None:
    try:
        pipe.write(data)
    except (BrokenPipeError, OSError, ValueError):
        pass
    finally:
        try:
            pipe.close()
        except OSError:
            pass


def _threaded(proc: subprocess.Popen[bytes], stdin: bytes | None, timeout_s: float, cap: int,
              stop: Callable[[], None]) -> Outcome:
    assert proc.stdout is not None and proc.stderr is not None
    out, err = Sink(cap), Sink(cap)
    readers = [_Capture(proc.stdout, out), _Capture(proc.stderr, err)]
    for reader in readers:
        reader.start()
    if stdin is not None and proc.stdin is not None:
        threading.Thread(target=_feed, args=(proc.stdin, stdin), daemon=True).start()
    timed_out = not wait_exit(proc, timeout_s)
    stop()
    proc.wait()
    deadline = time.monotonic() + DRAIN_S
    for reader in readers:
        reader.join(timeout=max(0.0, deadline - time.monotonic()))
    return Outcome(timed_out, out, err)
