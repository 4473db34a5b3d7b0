"""The extension worker process: one jsbox runtime, framed JSON on stdin/stdout, no I/O of its own.

Run as ``python -m pi_sandbox.runtime.worker`` by the supervisor. Everything the extension may do
leaves this process as a ``hostcall`` frame; the worker never opens a file, reads the environment,
touches the network or starts a process on the extension's behalf. Its only imports are the
standard library pieces needed for framing and limits, plus the engine.

After boot the worker confines itself with Landlock (``confine.py``): no file, TCP socket or
signal outside itself, even if the native engine were compromised.

Limits: the engine's heap limit (``memory_bytes``) and stack limit, and ``RLIMIT_AS`` as a
backstop for memory the engine does not account for. Time limits are the supervisor's watchdog:
a worker that overruns is killed from outside, which also covers long native operations the
engine cannot interrupt.
"""

from __future__ import annotations

import hashlib
import heapq
import json
import os
import resource
import sys
import time
import zlib
from typing import Any, Final

from pi_sandbox.runtime.engine import Engine, EngineError, EngineOutOfMemory
from pi_sandbox.runtime.protocol import (
    HEADER,
    MAX_FRAME_BYTES,
    PARAMS_TOO_DEEP,
    POST_WINDOW,
    FdChannel,
    ProtocolError,
    decode_body,
    dumps,
    loads,
)
from pi_sandbox.sandbox.landlock import confine_to_nothing

_EXIT_FATAL = 3
#: Node's digest names → hashlib's (``crypto.createHash`` and everything built on it).
_DIGEST_NAMES = {
    "md5": "md5", "sha1": "sha1", "sha-1": "sha1", "sha224": "sha224", "sha-224": "sha224", "sha256": "sha256",
    "sha-256": "sha256", "sha384": "sha384", "sha-384": "sha384", "sha512": "sha512", "sha-512": "sha512",
    "sha512-224": "sha512_224", "sha512-256": "sha512_256", "sha3-224": "sha3_224", "sha3-256": "sha3_256",
    "sha3-384": "sha3_384", "sha3-512": "sha3_512", "blake2b512": "blake2b", "blake2s256": "blake2s",
}


#: ``zlib`` formats → window bits (gzip 16+, raw negative, auto-detect 32+ for ``unzip``).
_ZLIB_WBITS: Final[dict[str, int]] = {"deflate": 15, "inflate": 15, "gzip": 31, "gunzip": 31, "deflateRaw": -15,
                                      "inflateRaw": -15, "unzip": 47}

#: The reply for a result nested too deeply to be read or framed (the call fails; the worker lives on).
_TOO_DEEP: Final[dict[str, Any]] = {"ok": False, "error": {
    "name": "Error", "code": "result_too_deep",
    "message": f"the result is nested too deeply to pass on (about {sys.getrecursionlimit()} levels at most); "
               "return flatter data"}}

def _inflate(raw: bytes, wbits: int, cap: int, members: bool) -> bytes | str:
    """Decompress ``raw`` like Node: concatenated gzip members are all read (``gunzip``/``unzip``), a stream
    that stops early is ``Z_BUF_ERROR`` "unexpected end of file", more output than ``cap`` is Node's
    ``ERR_BUFFER_TOO_LARGE``."""
    out = bytearray()
    rest = raw
    while True:
        d = zlib.decompressobj(wbits)
        out += d.decompress(rest, cap - len(out) + 1)
        if len(out) > cap or d.unconsumed_tail:
            return f"ERR_BUFFER_TOO_LARGE:Cannot create a Buffer larger than {cap} bytes"
        out += d.flush()
        if len(out) > cap:
            return f"ERR_BUFFER_TOO_LARGE:Cannot create a Buffer larger than {cap} bytes"
        if not d.eof:
            return "Z_BUF_ERROR:unexpected end of file"
        rest = d.unused_data
        if not (members and rest.startswith(b"\x1f\x8b")):  # Node ignores trailing bytes that start no member
            return bytes(out)


def _zlib_error(text: str) -> str:
    """Python's "Error -3 while decompressing data: incorrect header check" → Node's code and message."""
    names = {-2: "Z_STREAM_ERROR", -3: "Z_DATA_ERROR", -4: "Z_MEM_ERROR", -5: "Z_BUF_ERROR"}
    head, _, message = text.partition(": ")
    try:
        number = int(head.split()[1])
    except (IndexError, ValueError):
        return f"Z_DATA_ERROR:{text}"
    return f"{names.get(number, 'Z_DATA_ERROR')}:{message or text}"


class _Fatal(Exception):
    """The runtime is unusable (out of memory, broken channel); the worker must exit."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class Worker:
    """Holds the engine and services one supervisor request at a time."""

    def __init__(self, channel: FdChannel, init: dict[str, Any]) -> None:
        self.channel = channel
        self.extension_id = str(init.get("extension_id", "?"))
        limits = init.get("limits") or {}
        #: The engine's heap limit; also the most a zlib call may inflate (its output must fit in that heap).
        self._memory_limit = int(limits.get("memory_bytes", 256 * 1024 * 1024))
        self.engine = Engine(
            memory_limit_bytes=self._memory_limit,
            max_stack_bytes=int(limits.get("stack_bytes", 1024 * 1024)),
        )
        self._info_json = json.dumps(init.get("info") or {})
        self._next_hid = 1
        self._async_pending: set[int] = set()
        #: Posts sent since the last synchronous call returned (see ``_hc_post``).
        self._posts_unconfirmed = 0
        self._inbox: list[dict[str, Any]] = []
        self._timer_heap: list[tuple[float, int, int]] = []
        self._timers: dict[int, tuple[float, bool]] = {}  # id -> (interval seconds, repeat)
        self._timer_seq = 0
        self._done: dict[int, str] = {}
        # A fatal error raised inside a bound function could be caught by JS; remember it here.
        self._fatal: _Fatal | None = None
        self._bind()
        modules: dict[str, str] = init.get("modules") or {}
        for name, source in modules.items():
            self.engine.add_module(name, source)
        self.engine.add_module("ext:main", str(init.get("bundle", "")))
        boot = "".join(f'import "{name}";\n' for name in init.get("boot", ["pi:prelude"]))
        self.engine.add_module("pi:boot", boot)
        # Boot through a script-level import(): modules evaluated by the engine's eval_module cannot
        # later import() modules that are not loaded yet (jsbox 0.1.3), script-imported ones can.
        self.engine.eval('import("pi:boot").then(() => undefined)')

    # ---- functions bound into JS (the raw bridge; pi:host hides them) ----------------------

    def _bind(self) -> None:
        self.engine.bind("__pi_hc_sync", self._hc_sync)
        self.engine.bind("__pi_hc_start", self._hc_start)
        self.engine.bind("__pi_hc_post", self._hc_post)
        self.engine.bind("__pi_timer_set", self._timer_set)
        self.engine.bind("__pi_timer_clear", self._timer_clear)
        self.engine.bind("__pi_random", self._random)
        self.engine.bind("__pi_digest", self._digest)
        self.engine.bind("__pi_zlib", self._zlib)
        self.engine.bind("__pi_done", self._record_done)
        self.engine.bind("__pi_info_json", lambda: self._info_json)

    def _hostcall_frame(self, hid: int, method: Any, params_json: Any, sync: bool, post: bool = False) -> bytes:
        """The frame for one hostcall. A malformed call is sent too (method or params as ``null``),
        never refused here: the supervisor's pipeline refuses it as ``invalid_request`` and records
        it, so no refused call goes unrecorded."""
        # Validated before it is spliced in: one complete JSON value cannot break the frame's structure.
        fields: dict[str, Any] = {"type": "hostcall", "hid": hid, "sync": sync,
                                  "method": method if isinstance(method, str) else None}
        try:
            loads(params_json)
            params = params_json.encode("utf-8")
        except RecursionError:  # valid JSON, but deeper than the reader goes: the supervisor names the reason
            params = b"null"
            fields["params_error"] = PARAMS_TOO_DEEP
        except (TypeError, ValueError, AttributeError):
            params = b"null"
        if post:
            fields["post"] = True
        head = dumps(fields)
        body = b"".join((head[:-1], b',"params":', params, b"}"))
        if len(body) > MAX_FRAME_BYTES:
            raise ProtocolError(f"frame of {len(body)} bytes exceeds the {MAX_FRAME_BYTES}-byte limit")
        return HEADER.pack(len(body)) + body

    def _hc_sync(self, method: Any, params_json: Any) -> str:
        # Sync ids are negative: async ids come from pi:host (positive), the two must never collide.
        hid = -self._next_hid
        self._next_hid += 1
        self.channel.write_bytes(self._hostcall_frame(hid, method, params_json, True))
        while True:
            body = self._read_raw()
            message = decode_body(body)
            if message.get("type") == "hc_result" and message.get("hid") == hid:
                # Synchronous calls run after every earlier post (in order): those are all done now.
                self._posts_unconfirmed = 0
                # The frame already has the {ok, result, error} shape pi:host unwraps: pass it through.
                return body.decode("utf-8")
            self._queue(message)

    def _hc_post(self, method: Any, params_json: Any) -> None:
        """A hostcall nobody waits for (a console line, a status update): sent, never answered.

        The supervisor runs posts in the order sent, before any later synchronous call, and records
        each like any call. At most ``POST_WINDOW`` are unconfirmed at a time: the next one is sent as
        a synchronous call, which returns once every earlier post is done, so a burst of console lines
        waits for the host instead of flooding it (nothing is dropped)."""
        if self._posts_unconfirmed >= POST_WINDOW:
            self._hc_sync(method, params_json)
            return
        hid = -self._next_hid
        self._next_hid += 1
        self._posts_unconfirmed += 1
        self.channel.write_bytes(self._hostcall_frame(hid, method, params_json, False, post=True))

    def _hc_start(self, hid: Any, method: Any, params_json: Any) -> None:
        if not isinstance(hid, int) or hid <= 0:
            raise TypeError("async hostcall id must be a positive integer")
        self._async_pending.add(hid)
        self.channel.write_bytes(self._hostcall_frame(hid, method, params_json, False))

    def _timer_set(self, timer_id: Any, ms: Any, repeat: Any) -> None:
        interval = max(0.0, float(ms)) / 1000.0
        self._timers[int(timer_id)] = (interval, bool(repeat))
        self._push_timer(int(timer_id), time.monotonic() + interval)

    def _push_timer(self, timer_id: int, due: float) -> None:
        self._timer_seq += 1
        heapq.heappush(self._timer_heap, (due, self._timer_seq, timer_id))

    def _timer_clear(self, timer_id: Any) -> None:
        self._timers.pop(int(timer_id), None)

    def _random(self, n: Any) -> bytes:
        return os.urandom(max(0, min(int(n), 65536)))

    def _digest(self, algorithm: Any, data: Any) -> bytes | None:
        """``crypto`` hashing in native code (hashlib): pure computation, no authority; None = unknown digest."""
        name = _DIGEST_NAMES.get(str(algorithm).strip().lower().removeprefix("rsa-"))
        if name is None or not isinstance(data, bytes | str):
            return None
        return hashlib.new(name, data.encode("utf-8") if isinstance(data, str) else data).digest()

    def _zlib(self, op: Any, data: Any, options: Any) -> bytes | str:
        """``node:zlib`` in native code (the stdlib's zlib): pure computation on bytes the extension already
        holds, no authority. Returns the output, or ``"<code>:<message>"`` for Node's error of that name.
        Inflated output is capped by ``maxOutputLength`` and by the engine's heap limit (the result must fit
        there anyway), so a small bomb cannot make this process allocate past ``RLIMIT_AS``."""
        if not isinstance(data, bytes | str):
            return "ERR_INVALID_ARG_TYPE:the data must be bytes"
        raw = data.encode("utf-8") if isinstance(data, str) else data
        try:
            opts = json.loads(options) if isinstance(options, str) else {}
            name = str(op)
            if name == "crc32":
                return zlib.crc32(raw, int(opts.get("value", 0)) & 0xFFFFFFFF).to_bytes(4, "big")
            wbits = _ZLIB_WBITS[name]
            if name in ("deflate", "gzip", "deflateRaw"):
                bits = int(opts.get("windowBits", 15))
                wbits = (bits + 16) if wbits == 31 else (-bits if wbits < 0 else bits)
                out = zlib.compressobj(int(opts.get("level", -1)), zlib.DEFLATED, wbits,
                                       int(opts.get("memLevel", 8)), int(opts.get("strategy", 0)))
                return out.compress(raw) + out.flush()
            return _inflate(raw, wbits, min(int(opts.get("maxOutputLength", self._memory_limit)), self._memory_limit),
                            name in ("gunzip", "unzip"))
        except KeyError:
            return f"ERR_INVALID_ARG_VALUE:unknown zlib operation {op!r}"
        except (ValueError, TypeError, OverflowError) as exc:
            return f"ERR_INVALID_ARG_VALUE:{exc}"
        except zlib.error as exc:
            return _zlib_error(str(exc))

    def _record_done(self, request_id: Any, body: Any) -> None:
        self._done[int(request_id)] = str(body)

    # ---- channel ---------------------------------------------------------------------------

    def _read_raw(self) -> bytes:
        try:
            body = self.channel.read_raw()
        except EOFError:
            self._fatal = _Fatal("channel_closed", "supervisor closed the channel")
            raise self._fatal from None
        assert body is not None  # no deadline given
        return body

    def _queue(self, message: dict[str, Any]) -> None:
        """Keep an async hostcall result for the job loop; anything else here is a protocol error."""
        if message.get("type") != "hc_result":
            self._fatal = _Fatal("protocol", f"unexpected '{message.get('type')}' frame during a request")
            raise self._fatal
        self._inbox.append(message)

    # ---- the job loop ----------------------------------------------------------------------

    def _drain(self, code: str) -> None:
        try:
            self.engine.run_and_drain(code)
        except EngineOutOfMemory as exc:
            raise _Fatal("oom", str(exc)) from None
        finally:
            if self._fatal is not None:
                raise self._fatal

    def _settle_inbox(self) -> None:
        batch, self._inbox = self._inbox, []
        parts = []
        for message in batch:
            hid = int(message.get("hid", 0))
            self._async_pending.discard(hid)
            ok = bool(message.get("ok"))
            payload = json.dumps(message.get("result") if ok else message.get("error"))
            parts.append(f"__pi_rt.settle({hid},{'true' if ok else 'false'},{json.dumps(payload)})")
        self._drain(";".join(parts))

    def _due_timers(self, now: float) -> list[int]:
        fired: list[int] = []
        while self._timer_heap and self._timer_heap[0][0] <= now:
            due, _seq, timer_id = heapq.heappop(self._timer_heap)
            spec = self._timers.get(timer_id)
            if spec is None:
                continue
            interval, repeat = spec
            fired.append(timer_id)
            if repeat:
                self._push_timer(timer_id, max(now, due) + max(interval, 0.001))
            else:
                del self._timers[timer_id]
        return fired

    def _next_due(self) -> float | None:
        while self._timer_heap and self._timer_heap[0][2] not in self._timers:
            heapq.heappop(self._timer_heap)
        return self._timer_heap[0][0] if self._timer_heap else None

    def _pump(self, request_id: int) -> None:
        """Run jobs, settle async hostcalls and fire timers until the request is done."""
        while request_id not in self._done:
            if self._inbox:
                self._settle_inbox()
                continue
            fired = self._due_timers(time.monotonic())
            if fired:
                self._drain(f"__pi_rt.fire({json.dumps(fired)})")
                continue
            next_due = self._next_due()
            if self._async_pending:
                try:
                    message = self.channel.read(deadline=next_due)
                except EOFError:
                    raise _Fatal("channel_closed", "supervisor closed the channel") from None
                if message is not None:
                    self._queue(message)
                continue
            if next_due is not None:
                time.sleep(max(0.0, next_due - time.monotonic()))
                continue
            self._done[request_id] = json.dumps(
                {
                    "ok": False,
                    "error": {
                        "name": "Error",
                        "code": "never_settles",
                        "message": "the handler's promise can never settle (no pending hostcalls or timers)",
                    },
                }
            )

    def handle_call(self, message: dict[str, Any]) -> None:
        """Run one request to completion and answer with a ``done`` frame."""
        request_id = int(message["id"])
        kind = str(message.get("kind", ""))
        payload = json.dumps(message.get("payload") or {})
        try:
            self._catch_up()  # late async results and timers that came due while the worker was idle
            self._drain(f"__pi_rt.start({request_id},{json.dumps(kind)},{json.dumps(payload)})")
            self._pump(request_id)
            done = self._done.pop(request_id)
            try:
                reply = json.loads(done)
            except RecursionError:  # a result nested thousands deep: the call fails, the worker lives on
                reply = _TOO_DEEP
            self._catch_up()  # zero-delay follow-ups the handler scheduled before returning
        except EngineError as exc:
            self._done.pop(request_id, None)
            reply = {"ok": False, "error": {"name": "Error", "code": "js_error", "message": str(exc)[:2000]}}
        error = reply.get("error") if isinstance(reply, dict) else None
        if isinstance(error, dict) and str(error.get("message", "")).startswith("out of memory"):
            raise _Fatal("oom", "out of memory")
        if not isinstance(reply, dict):
            reply = {"ok": False, "error": {"code": "protocol", "message": "malformed reply"}}
        next_due = self._next_due()
        due_in_ms = None if next_due is None else max(0, int((next_due - time.monotonic()) * 1000))
        try:
            self.channel.write({"type": "done", "id": request_id, **reply, "timer_due_in_ms": due_in_ms})
        except RecursionError:  # readable here, but too deep to write into the frame (encoded before any byte)
            self.channel.write({"type": "done", "id": request_id, **_TOO_DEEP, "timer_due_in_ms": due_in_ms})

    def _catch_up(self) -> None:
        """Settle results already received and fire timers already due (never waits)."""
        for _ in range(100):  # bounded: a zero-delay interval must not keep the worker here forever
            if self._inbox:
                self._settle_inbox()
                continue
            fired = self._due_timers(time.monotonic())
            if not fired:
                return
            self._drain(f"__pi_rt.fire({json.dumps(fired)})")

    def serve(self) -> None:
        """Answer requests until the supervisor closes the channel or says ``exit``."""
        while True:
            try:
                message = self.channel.read()
            except EOFError:
                return
            if message is None or message.get("type") == "exit":
                return
            if message.get("type") == "call":
                self.handle_call(message)
            elif message.get("type") != "hc_result":  # a late async result after its request ended
                raise _Fatal("protocol", f"unexpected '{message.get('type')}' frame")
            else:
                self._inbox.append(message)


def _apply_process_limits(limits: dict[str, Any]) -> None:
    """Backstops outside the engine: address space, no core dumps, no file writes."""
    address_space = int(limits.get("address_space_bytes") or 0)
    if address_space > 0:
        resource.setrlimit(resource.RLIMIT_AS, (address_space, address_space))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))


def main() -> int:
    """Worker entry point: init frame, then serve requests."""
    read_fd, write_fd = os.dup(0), os.dup(1)
    # Anything Python itself prints must never corrupt the frame stream.
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    channel = FdChannel(read_fd, write_fd)
    try:
        init = channel.read()
        if init is None or init.get("type") != "init":
            return 2
        _apply_process_limits(init.get("limits") or {})
        try:
            worker = Worker(channel, init)
        except EngineError as exc:
            code = "oom" if isinstance(exc, EngineOutOfMemory) else "boot_failed"
            channel.write({"type": "fatal", "code": code, "message": str(exc)[:4000]})
            return _EXIT_FATAL
        # Everything the worker will ever need is loaded now: give up every file, socket and signal.
        confinement = (
            confine_to_nothing() if (init.get("limits") or {}).get("landlock", True) else "none: disabled"
        )
        channel.write({"type": "ready", "confinement": confinement})
        worker.serve()
        return 0
    except _Fatal as exc:
        try:
            channel.write({"type": "fatal", "code": exc.code, "message": str(exc)})
        except OSError:
            pass
        return _EXIT_FATAL
    except MemoryError:
        try:
            channel.write({"type": "fatal", "code": "oom", "message": "worker out of address space"})
        except (OSError, MemoryError):
            pass
        return _EXIT_FATAL
    except EOFError:
        return 0
    except Exception as exc:  # a bug in the worker: report it instead of dying silently
        try:
            channel.write(
                {"type": "fatal", "code": "internal", "message": f"{type(exc).__name__}: {exc}"[:2000]}
            )
        except OSError:
            pass
        return _EXIT_FATAL


if __name__ == "__main__":
    sys.exit(main())
