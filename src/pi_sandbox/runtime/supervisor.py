"""Supervisor side of one extension worker: spawn, watchdog, hostcall service, kill.

The worker is a separate Python process with a minimal environment and no inherited file
descriptors except its two pipes. The supervisor answers the worker's hostcalls by calling the
handler it was given (the host wires that to the dispatch pipeline) and enforces the per-call
time budget from outside: time spent inside a hostcall is not charged to the extension, time
spent running JS is, and a worker that overruns is killed with SIGKILL.
"""

from __future__ import annotations

import functools
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Executor, Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pi_sandbox.runtime.protocol import FdChannel, ProtocolError, encode_body, encode_frame

#: (method, params) -> {"ok": True, "result": ...} | {"ok": False, "error": {"code", "message", "reason"?}}
#: ``handler(method, params)``: the frame's values as sent, malformed ones included (the pipeline
#: refuses and records those as ``invalid_request``; nothing is refused before it).
HostcallHandler = Callable[[Any, Any], dict[str, Any]]


def _engine_path() -> str:
    """The site-packages folder that holds the engine package (found without importing it)."""
    import importlib.util

    spec = importlib.util.find_spec("jsbox")
    if spec is None or not spec.submodule_search_locations:
        return ""
    return str(Path(next(iter(spec.submodule_search_locations))).parent)


_SRC_ROOT = str(Path(__file__).resolve().parents[2])
_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
# ``-I -S``: no user site, no site-packages .pth processing, no PYTHON* variables; the worker's
# import path is exactly our source tree and the engine's folder (faster start, nothing injected).
_BOOT = (
    "import sys\n"
    f"sys.path[:0] = [{_SRC_ROOT!r}, {_engine_path()!r}]\n"
    "from pi_sandbox.runtime.worker import main\n"
    "sys.exit(main())\n"
)


@dataclass(frozen=True)
class WorkerLimits:
    """Resource limits of one worker."""

    memory_bytes: int = 256 * 1024 * 1024
    stack_bytes: int = 1024 * 1024
    call_timeout_s: float = 30.0
    #: Address-space backstop; 0 = derived from ``memory_bytes`` (engine heap + interpreter).
    address_space_bytes: int = 0
    boot_timeout_s: float = 20.0
    #: Hostcall time is not charged to the JS budget, but a call may never run longer than
    #: ``call_timeout_s * wall_ceiling_factor`` in wall time (stops an endless stream of hostcalls).
    wall_ceiling_factor: float = 10.0

    def effective_address_space(self) -> int:
        """The RLIMIT_AS given to the worker: generous for the interpreter, bounded for the heap."""
        if self.address_space_bytes:
            return self.address_space_bytes
        return self.memory_bytes * 2 + 768 * 1024 * 1024


class WorkerFailure(Exception):
    """The worker hung, ran out of memory, crashed or broke the protocol; it is dead now.

    ``code`` is ``timeout``, ``oom``, ``crash``, ``boot_failed``, ``protocol`` or ``internal``.
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class ExtensionWorker:
    """One worker process hosting one extension's JS runtime."""

    def __init__(self, extension_id: str, handler: HostcallHandler, limits: WorkerLimits) -> None:
        self.extension_id = extension_id
        self.handler = handler
        self.limits = limits
        self._proc: subprocess.Popen[bytes] | None = None
        self._channel: FdChannel | None = None
        self._next_id = 1
        self.dead_reason: str | None = None
        self.hostcalls = 0
        self._init_frame: bytes | None = None
        #: Kernel confinement the worker reported (e.g. ``landlock-abi7``; ``none: ...`` if unavailable).
        self.confinement = "unknown"
        #: The extension's registration counter as of its last answer (changes when it registers more).
        self.registration_version = 0
        #: When the worker's earliest timer is due (monotonic seconds), as of its last answer.
        self.next_timer_at: float | None = None
        #: Serves async hostcalls concurrently (fetch, exec, fs.promises) when set; None = inline.
        self.executor: Executor | None = None
        self._completed: queue.SimpleQueue[tuple[Any, dict[str, Any]]] = queue.SimpleQueue()
        self._in_flight = 0
        self._wake_r, self._wake_w = -1, -1
        self._wake_lock = threading.Lock()

    # ---- lifecycle ---------------------------------------------------------------------------

    def spawn(self, init: dict[str, Any], *, modules_json: str | None = None) -> None:
        """Start the process; the ``init`` frame is sent by ``wait_ready``.

        Not writing here lets many workers boot their interpreters in parallel: the init frame
        (the module table is a few hundred KB) would otherwise block until each child has started.
        ``modules_json`` is the module table already encoded as a JSON object (shared by workers).
        """
        env = {"LANG": "C.UTF-8", "LC_ALL": "C.UTF-8"}
        self._proc = subprocess.Popen(
            [sys.executable, "-I", "-S", "-c", _BOOT],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            # Worker stderr only carries interpreter crashes; shown when debugging the runtime itself.
            stderr=None if os.environ.get("PI_SANDBOX_DEBUG_WORKERS") else subprocess.DEVNULL,
            env=env,
            cwd="/",
            close_fds=True,
            start_new_session=True,
        )
        assert self._proc.stdin is not None and self._proc.stdout is not None
        self._channel = FdChannel(self._proc.stdout.fileno(), self._proc.stdin.fileno())
        self._channel.nonblocking_writes()
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)
        self._channel.wake_fd = self._wake_r
        limits = {
            "memory_bytes": self.limits.memory_bytes,
            "stack_bytes": self.limits.stack_bytes,
            "address_space_bytes": self.limits.effective_address_space(),
        }
        message = {"type": "init", **init, "extension_id": self.extension_id, "limits": limits}
        if modules_json is None:
            self._init_frame = encode_frame(message)
        else:
            message.pop("modules", None)
            body = json.dumps(message, separators=(",", ":"), ensure_ascii=False)
            self._init_frame = encode_body(body[:-1] + ',"modules":' + modules_json + "}")

    def wait_ready(self) -> None:
        """Send ``init`` and wait for the worker's ``ready`` frame (``WorkerFailure`` on boot failure)."""
        channel = self._require_channel()
        if self._init_frame is not None:
            frame, self._init_frame = self._init_frame, None
            try:
                channel.write_bytes(frame)
            except OSError:
                self._die_from_exit()
            except ProtocolError as exc:
                self._die("protocol", str(exc))
        deadline = time.monotonic() + self.limits.boot_timeout_s
        message = self._read(channel, deadline)
        if message is None:
            self._die("timeout", f"worker did not boot within {self.limits.boot_timeout_s:.0f}s")
        assert message is not None
        if message.get("type") == "fatal":
            self._die(str(message.get("code", "boot_failed")), str(message.get("message", "")))
        if message.get("type") != "ready":
            self._die("protocol", f"unexpected '{message.get('type')}' frame while booting")
        self.confinement = str(message.get("confinement", "none"))

    @property
    def alive(self) -> bool:
        """True while the process runs and has not been declared dead."""
        return self.dead_reason is None and self._proc is not None and self._proc.poll() is None

    @property
    def pid(self) -> int | None:
        """The worker's process id."""
        return self._proc.pid if self._proc else None

    def rss_bytes(self) -> int:
        """Resident set size of the worker process (0 if it is gone)."""
        if self._proc is None:
            return 0
        try:
            with open(f"/proc/{self._proc.pid}/status", encoding="ascii") as status:
                for line in status:
                    if line.startswith("VmRSS:"):
                        return int(line.split()[1]) * 1024
        except OSError:
            return 0
        return 0

    def signal_kill(self) -> None:
        """SIGKILL the worker's process group without reaping it (safe from any thread: the thread
        serving a request sees the end of its pipe and cleans up)."""
        proc = self._proc
        if proc is not None and proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass

    def cpu_time_ms(self) -> int:
        """User + system CPU time of the worker process so far (0 when it is gone)."""
        if self._proc is None:
            return 0
        try:
            with open(f"/proc/{self._proc.pid}/stat", encoding="ascii") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            return 0
        ticks = int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of the whole line)
        return ticks * 1000 // _CLOCK_TICKS

    def kill(self) -> None:
        """SIGKILL the worker's process group and reap it."""
        proc = self._proc
        if proc is None:
            return
        if proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                proc.kill()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:  # pragma: no cover - SIGKILL does not fail in practice
            pass
        with self._wake_lock:
            for fd in (self._wake_r, self._wake_w):
                if fd >= 0:
                    try:
                        os.close(fd)
                    except OSError:
                        pass
            self._wake_r = self._wake_w = -1
        for stream in (proc.stdin, proc.stdout):
            if stream is not None:
                try:
                    stream.close()
                except OSError:
                    pass

    def close(self) -> None:
        """Ask the worker to exit, then make sure it is gone."""
        if self._channel is not None and self.alive:
            try:
                self._channel.write({"type": "exit"})
                self._channel.flush(time.monotonic() + 0.5)
                assert self._proc is not None
                self._proc.wait(timeout=0.5)
            except (OSError, ProtocolError, subprocess.TimeoutExpired):
                pass
        self.kill()
        if self.dead_reason is None:
            self.dead_reason = "closed"

    # ---- requests ----------------------------------------------------------------------------

    def request(self, kind: str, payload: Mapping[str, Any], budget_s: float | None = None) -> dict[str, Any]:
        """Run one request in the worker; returns its ``done`` frame (``ok``, ``result``/``error``).

        Raises ``WorkerFailure`` (after killing the worker) when the JS time budget runs out or the
        worker dies.
        """
        channel = self._require_channel()
        if self.dead_reason is not None:
            raise WorkerFailure("crash", f"worker is not running ({self.dead_reason})")
        if self._proc is not None and self._proc.poll() is not None:
            self._die_from_exit()
        request_id = self._next_id
        self._next_id += 1
        budget = self.limits.call_timeout_s if budget_s is None else budget_s
        try:
            channel.write({"type": "call", "id": request_id, "kind": kind, "payload": dict(payload)})
        except OSError:
            self._die_from_exit()
        except ProtocolError as exc:
            self._die("protocol", str(exc))
        started_at = time.monotonic()
        deadline = started_at + budget
        ceiling = started_at + budget * self.limits.wall_ceiling_factor
        paused_at = started_at if self._in_flight else None
        while True:
            # While async hostcalls are in flight the worker may just be waiting for them: the JS
            # budget is paused, only the wall-clock ceiling applies.
            message = self._read(channel, ceiling if self._in_flight else min(deadline, ceiling))
            if self._deliver_completed(channel) and self._in_flight == 0 and paused_at is not None:
                deadline += time.monotonic() - paused_at
                paused_at = None
            if message is None:
                now = time.monotonic()
                if now >= ceiling:
                    self._die(
                        "timeout",
                        f"exceeded the {budget * self.limits.wall_ceiling_factor:g}s wall-clock ceiling "
                        f"for a '{kind}' call",
                    )
                if self._in_flight == 0 and now >= deadline:
                    self._die("timeout", f"exceeded the {budget:g}s time budget for a '{kind}' call")
                continue
            mtype = message.get("type")
            if mtype == "hostcall":
                served_at = time.monotonic()
                try:
                    if self.executor is not None and message.get("sync") is False:
                        self._start_async(message)
                        if paused_at is None:
                            paused_at = served_at
                        continue
                    self._serve_hostcall(channel, message)
                except WorkerFailure:
                    raise
                except BaseException:
                    # A bug in the host while serving: the worker is mid-call, so it cannot be reused.
                    self.dead_reason = "internal"
                    self.kill()
                    raise
                if paused_at is None:
                    deadline += time.monotonic() - served_at  # hostcall time is the host's
            elif mtype == "done" and message.get("id") == request_id:
                due_in_ms = message.pop("timer_due_in_ms", None)
                version = message.pop("rv", None)
                if isinstance(version, int):
                    self.registration_version = version
                self.next_timer_at = (
                    None if not isinstance(due_in_ms, int) else time.monotonic() + due_in_ms / 1000.0
                )
                return message
            elif mtype == "fatal":
                self._die(str(message.get("code", "internal")), str(message.get("message", "")))
            else:
                self._die("protocol", f"unexpected '{mtype}' frame")

    def _start_async(self, message: dict[str, Any]) -> None:
        """Serve an async hostcall on the executor; its answer is delivered by the request loop."""
        assert self.executor is not None
        hid = message.get("hid")
        method = message.get("method")
        params = message.get("params")
        self.hostcalls += 1
        self._in_flight += 1
        future = self.executor.submit(self.handler, method, params)
        future.add_done_callback(functools.partial(self._async_done, hid))

    def _async_done(self, hid: Any, future: Future[dict[str, Any]]) -> None:
        """Runs on an executor thread: queue the answer and wake the request loop."""
        try:
            reply = future.result()
        except Exception as exc:  # a host bug must still answer the worker
            reply = {"ok": False, "error": {"code": "internal", "message": f"{type(exc).__name__}"}}
        self._finish_async(hid, reply)

    def _finish_async(self, hid: Any, reply: dict[str, Any]) -> None:
        self._completed.put((hid, reply))
        with self._wake_lock:  # never write to a descriptor number that kill() already released
            if self._wake_w < 0:
                return
            try:
                os.write(self._wake_w, b"x")
            except OSError:
                pass  # pipe full: the loop is being woken anyway

    def _deliver_completed(self, channel: FdChannel) -> bool:
        """Send finished async answers to the worker; True when at least one was sent."""
        sent = False
        while True:
            try:
                hid, reply = self._completed.get_nowait()
            except queue.Empty:
                return sent
            self._in_flight -= 1
            sent = True
            try:
                channel.write({"type": "hc_result", "hid": hid, **reply})
            except OSError:
                self._die_from_exit()
            except ProtocolError as exc:
                self._die("protocol", str(exc))

    def _serve_hostcall(self, channel: FdChannel, message: dict[str, Any]) -> None:
        self.hostcalls += 1
        reply = self.handler(message.get("method"), message.get("params"))
        try:
            channel.write({"type": "hc_result", "hid": message.get("hid"), **reply})
        except OSError:
            self._die_from_exit()
        except ProtocolError as exc:
            self._die("protocol", str(exc))

    # ---- failure handling --------------------------------------------------------------------

    def _require_channel(self) -> FdChannel:
        if self._channel is None:
            raise WorkerFailure("internal", "worker was never started")
        return self._channel

    def _read(self, channel: FdChannel, deadline: float) -> dict[str, Any] | None:
        try:
            return channel.read(deadline)
        except EOFError:
            self._die_from_exit()
        except ProtocolError as exc:
            self._die("protocol", str(exc))
        return None  # pragma: no cover - _die always raises

    def _die_from_exit(self) -> None:
        proc = self._proc
        code = None
        if proc is not None:
            try:
                code = proc.wait(timeout=2)
            except subprocess.TimeoutExpired:
                code = None
        if code is not None and code < 0:
            detail = f"killed by signal {signal.Signals(-code).name}"
        else:
            detail = f"exit code {code}"
        self._die("crash", f"worker process ended unexpectedly ({detail})")

    def _die(self, code: str, message: str) -> None:
        self.dead_reason = code
        self.kill()
        raise WorkerFailure(code, message)
