"""Supervisor side of one extension worker: spawn, watchdog, hostcall service, kill.

The worker is a separate Python process with a minimal environment and no inherited file
descriptors except its two pipes. The supervisor's request loop never carries out a hostcall
itself: each one goes to the extension's own :class:`~pi_sandbox.runtime.hostcalls.HostcallLane`
(the host wires the lane to the dispatch pipeline) with a per-method deadline, and the loop keeps
watching the worker and the clock. A call past its deadline is answered with ``timeout`` and
recorded against its caller.

The loop also enforces the per-request JS time budget from outside: time the worker waits for
hostcalls is not charged to it, time it spends running JS is, and a worker that overruns is killed
with SIGKILL. Before killing, the watchdog checks that the worker really used the CPU (its own
``utime + stime``) and has not already answered: a host that was slow to look — a stalled
supervisor — never gets an innocent extension killed and blamed.
"""

from __future__ import annotations

import json
import math
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pi_sandbox.dispatch.request import ParamsTooDeep
from pi_sandbox.runtime.hostcalls import (
    HostcallHandler,
    HostcallLane,
    HostcallService,
    Job,
    PlainService,
    flood_reply,
    runs_in_order,
    timeout_reply,
)
from pi_sandbox.runtime.protocol import PARAMS_TOO_DEEP, FdChannel, ProtocolError, encode_body, encode_frame

__all__ = ["ExtensionWorker", "HostcallHandler", "WorkerFailure", "WorkerLimits"]


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
    #: Threads that carry out this extension's hostcalls (its own: a hung call delays no one else).
    hostcall_threads: int = 4
    #: Hostcalls one worker may have waiting or running; more are answered ``timeout`` at once.
    max_pending_hostcalls: int = 1024
    #: Share of the JS budget the worker must have spent on the CPU before the watchdog kills it.
    min_cpu_share: float = 0.5

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

    def __init__(
        self, extension_id: str, service: HostcallService | HostcallHandler, limits: WorkerLimits
    ) -> None:
        self.extension_id = extension_id
        # A bare handler (tests, tools) gets one generous deadline and records nothing.
        self.service: HostcallService = service if not callable(service) else PlainService(service)
        self.limits = limits
        self._proc: subprocess.Popen[bytes] | None = None
        self._channel: FdChannel | None = None
        self._next_id = 1
        self.dead_reason: str | None = None
        self.hostcalls = 0
        #: The call ids of the hostcalls the current (or last) request made: what a caller attributes to that
        #: request (requests to one worker take turns, so no other request's hostcalls are among them).
        self.request_call_ids: list[str] = []
        self._init_frame: bytes | None = None
        #: Kernel confinement the worker reported (e.g. ``landlock-abi7``; ``none: ...`` if unavailable).
        self.confinement = "unknown"
        #: The extension's registration counter as of its last answer (changes when it registers more).
        self.registration_version = 0
        #: When the worker's earliest timer is due (monotonic seconds), as of its last answer.
        self.next_timer_at: float | None = None
        self._lane = HostcallLane(extension_id, self.service, limits.hostcall_threads, self._job_done)
        #: Hostcalls handed to the lane and not yet answered, by the worker's hostcall id.
        self._pending: dict[Any, Job] = {}
        #: How many of ``_pending`` are posts (the worker waits for none of them).
        self._posts = 0
        self._completed: queue.SimpleQueue[Job] = queue.SimpleQueue()
        #: True while the request loop waits in select(): only then does a finished job write the wake pipe.
        self._selecting = False
        self._wake_r, self._wake_w = -1, -1
        self._wake_lock = threading.Lock()
        #: ``/proc/<pid>/stat`` of the worker, kept open while it lives (see ``_cpu_seconds``).
        self._stat_fd: int | None = None
        #: (monotonic time, CPU seconds) of the last successful ``_cpu_seconds`` (the quota probe may reuse it).
        self._cpu_reading: tuple[float, float] | None = None

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

    def cpu_time_ms(self, max_age_s: float = 0.0) -> int:
        """User + system CPU time of the worker process so far (0 when it is gone).

        ``max_age_s``: a reading at most this old (each request takes one for its CPU budget) is answered
        without reading ``/proc`` again."""
        reading = self._cpu_reading
        if max_age_s > 0 and reading is not None and time.monotonic() - reading[0] <= max_age_s:
            return int(reading[1] * 1000)
        seconds = self._cpu_seconds()
        return 0 if seconds is None else int(seconds * 1000)

    def kill(self) -> None:
        """SIGKILL the worker's process group and reap it."""
        self._lane.close()
        self._pending.clear()
        self._posts = 0
        if self._channel is not None:
            self._channel.close_writes()  # a lane thread must never write to a released descriptor number
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
        if self._stat_fd is not None:
            os.close(self._stat_fd)
            self._stat_fd = None
        self._cpu_reading = None
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
                self.finish_posts()  # a line sent just before the end is not lost
            except WorkerFailure:
                pass  # dead meanwhile: nothing is left to wait for
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
        self.request_call_ids = []
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
        cpu_at_start = self._cpu_seconds()
        paused_at = started_at if self._awaited() else None
        while True:
            # While hostcalls are pending the worker may just be waiting for them: the JS budget is
            # paused, only hostcall deadlines and the wall-clock ceiling apply. Posts pause nothing:
            # the worker runs on while they do.
            wait_until = min(deadline if paused_at is None else ceiling, ceiling)
            if self._pending:
                wait_until = min(wait_until, min(job.deadline for job in self._pending.values()))
            message = self._next_message(channel, wait_until)
            self._deliver_completed(channel)
            self._expire_overdue(channel)
            if paused_at is not None and not self._awaited():
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
                if paused_at is None and now >= deadline:
                    short = self._cpu_shortfall(budget, cpu_at_start)
                    if short <= 0:
                        self._die("timeout", f"exceeded the {budget:g}s time budget for a '{kind}' call")
                    deadline = now + max(0.02, short)  # not its CPU: the host was slow to look
                continue
            mtype = message.get("type")
            if mtype == "hostcall":
                try:
                    self._start_hostcall(channel, message)
                except WorkerFailure:
                    raise
                except BaseException:
                    # A bug in the host while serving: the worker is mid-call, so it cannot be reused.
                    self.dead_reason = "internal"
                    self.kill()
                    raise
                if paused_at is None and self._awaited():
                    paused_at = time.monotonic()
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

    # ---- hostcalls ---------------------------------------------------------------------------

    def _next_message(self, channel: FdChannel, until: float) -> dict[str, Any] | None:
        """The worker's next frame, or None when ``until`` passed or a hostcall finished first."""
        if any(job.sync for job in self._pending.values()) and not channel.pending_output:
            # The worker is blocked on a sync call and cannot send anything: wait for the lane alone
            # (a queue hand-off is several times cheaper than waking a select through the pipe).
            try:
                job = self._completed.get(timeout=max(0.0, until - time.monotonic()))
            except queue.Empty:
                return None
            self._deliver(channel, job)
            return None
        self._selecting = True
        try:
            if not self._completed.empty():
                return None
            return self._read(channel, until)
        finally:
            self._selecting = False

    def _start_hostcall(self, channel: FdChannel, message: dict[str, Any]) -> None:
        self.hostcalls += 1
        hid = message.get("hid")
        method = message.get("method")
        params = message.get("params")
        if params is None and message.get("params_error") == PARAMS_TOO_DEEP:
            params = ParamsTooDeep(sys.getrecursionlimit())  # refused as too deep, not as "not an object"
        # Malformed values go to the pipeline as sent: it refuses and records them (invalid_request).
        now = time.monotonic()
        sync = message.get("sync") is not False
        post = not sync and message.get("post") is True
        job = Job(hid, method, params, self.service.new_call_id(), sync, now, now + self.service.deadline_s(method),
                  in_order=runs_in_order(sync, post), post=post)
        self.request_call_ids.append(job.call_id)
        if len(self._pending) >= self.limits.max_pending_hostcalls:
            # A flood of calls is refused at once (and recorded), never queued without bound.
            job.deadline, job.flooded = now, True
            self._lane.abandon(job)
            self.service.timed_out(job)  # recorded before the caller hears of it, like every decision
            if not post:
                self._send_result(channel, hid, flood_reply(job, self.limits.max_pending_hostcalls))
            return
        self._pending[hid] = job
        self._posts += post
        self._lane.submit(job)

    def _awaited(self) -> bool:
        """Whether the worker may be blocked on a hostcall (it waits for every pending call but posts)."""
        return len(self._pending) > self._posts

    def _forget(self, job: Job) -> None:
        """``job`` is answered or given up: it is no longer pending."""
        del self._pending[job.hid]
        self._posts -= job.post

    @property
    def posts_pending(self) -> int:
        """How many of the worker's posts are queued or running (see ``finish_posts``)."""
        return self._posts

    def finish_posts(self) -> None:
        """Wait until every post the worker sent (console lines, UI updates) has been carried out, each
        recorded like any call, or given up at its deadline (recorded as a timeout). The worker did not
        wait for them; whoever called the host waits here once, so output and ledger are complete when a
        host call returns. Answers of other calls finishing meanwhile are delivered as usual.

        Raises ``WorkerFailure`` when the worker can no longer be written to (it is dead then)."""
        channel = self._require_channel()
        while self._posts:
            until = min(job.deadline for job in self._pending.values() if job.post)
            # An infinite deadline: a person is being asked for the post; its answer ends the wait.
            wait = None if math.isinf(until) else max(0.0, until - time.monotonic())
            try:
                job = self._completed.get(timeout=wait)
            except queue.Empty:
                self._expire_overdue(channel)
                continue
            self._deliver(channel, job)

    def _job_done(self, job: Job) -> None:
        """Runs on a lane thread: answer the worker at once, then queue the job for the request loop's
        bookkeeping and wake the loop if it is in select().

        Writing here, not on the loop's thread, saves the round trip one thread hand-off. It cannot race
        a ``timeout`` answer: the lane marked the job done before calling this, so the loop can no longer
        abandon it (and a job it abandoned first never gets here)."""
        channel = self._channel
        if channel is not None and job.reply is not None and not job.post:
            try:
                channel.write_bytes(encode_frame({"type": "hc_result", "hid": job.hid, **job.reply}))
                job.delivered = True
            except (OSError, ProtocolError):
                pass  # left to the loop: it answers again and handles the failure
        self._completed.put(job)
        if not self._selecting:
            return
        with self._wake_lock:  # never write to a descriptor number that kill() already released
            if self._wake_w < 0:
                return
            try:
                os.write(self._wake_w, b"x")
            except OSError:
                pass  # pipe full: the loop is being woken anyway

    def _deliver(self, channel: FdChannel, job: Job) -> None:
        if self._pending.get(job.hid) is not job:
            return  # already answered (timed out meanwhile) or from a worker that was replaced
        self._forget(job)
        if not job.delivered and not job.post:
            self._send_result(channel, job.hid, job.reply or {})

    def _deliver_completed(self, channel: FdChannel) -> None:
        """Send every finished hostcall's answer to the worker."""
        while True:
            try:
                job = self._completed.get_nowait()
            except queue.Empty:
                return
            self._deliver(channel, job)

    def _expire_overdue(self, channel: FdChannel) -> None:
        """Answer ``timeout`` for every pending call past its deadline, and record it."""
        if not self._pending:
            return
        now = time.monotonic()
        for job in [j for j in self._pending.values() if j.deadline <= now]:
            if not self._lane.abandon(job):
                continue  # finished just now: its answer is in the queue
            self._forget(job)
            self.service.timed_out(job)  # the entry exists before the caller can act on the answer
            if not job.post:
                self._send_result(channel, job.hid, timeout_reply(job))

    def _send_result(self, channel: FdChannel, hid: Any, reply: Mapping[str, Any]) -> None:
        try:
            channel.write({"type": "hc_result", "hid": hid, **reply})
        except OSError:
            self._die_from_exit()
        except ProtocolError as exc:
            self._die("protocol", str(exc))

    def _cpu_seconds(self) -> float | None:
        """CPU time the worker process has used (user + system), or None when it cannot be read.

        Read twice per request (at its start and for the CPU quota after it): the stat file stays open
        and is re-read with one ``pread`` (procfs renders it afresh at offset 0)."""
        proc = self._proc
        if proc is None:
            return None
        try:
            if self._stat_fd is None:
                self._stat_fd = os.open(f"/proc/{proc.pid}/stat", os.O_RDONLY | os.O_CLOEXEC)
            read_at = time.monotonic()
            fields = os.pread(self._stat_fd, 4096, 0).rsplit(b")", 1)[1].split()
            # utime, stime (fields 14 and 15 of the whole line)
            seconds = (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS
        except (OSError, IndexError, ValueError):
            return None
        self._cpu_reading = (read_at, seconds)
        return seconds

    def _cpu_shortfall(self, budget: float, cpu_at_start: float | None) -> float:
        """How much more CPU the worker must burn before it has overrun (<= 0: it has)."""
        now_cpu = self._cpu_seconds()
        if now_cpu is None or cpu_at_start is None:
            return 0.0  # no CPU accounting here: wall time decides
        return budget * self.limits.min_cpu_share - (now_cpu - cpu_at_start)

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
