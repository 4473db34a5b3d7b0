"""Host work for one extension: its hostcalls run on its own threads, each against a deadline.

The supervisor's request loop never carries out a hostcall itself. It hands each one to the
calling extension's :class:`HostcallLane` (a few threads that belong to that extension only) and
keeps watching the worker and the clock. A call still running at its deadline is answered with
``timeout`` and recorded against the caller; its thread finishes (connectors bound their own work)
and its late result is dropped. An extension whose calls hang therefore only ever waits for its own
threads: another extension's calls run on other threads and complete in their normal time.
"""

from __future__ import annotations

import functools
import math
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from pi_sandbox.vocabulary import Reason
from pi_sandbox.waiting import deadline_clock

#: (method, params) -> {"ok": True, "result": ...} | {"ok": False, "error": {"code", "message", "reason"?}}
#: ``method`` and ``params`` are the frame's values as sent, malformed ones included (the pipeline
#: refuses and records those as ``invalid_request``; nothing is refused before it).
HostcallHandler = Callable[[Any, Any], dict[str, Any]]

QUEUED, RUNNING, DONE, ABANDONED = range(4)

def runs_in_order(sync: bool, post: bool) -> bool:
    """Whether a call must wait for the caller's earlier in-order calls and hold back its later ones:
    synchronous calls (the worker is blocked on them: they follow everything it sent before) and posts
    (console lines and status-like UI updates, which nobody waits for: in pi they take effect at once, in
    program order, so a later status never loses to an earlier one that ran on a slower thread). Other
    asynchronous calls (file reads, commands, requests) run side by side, as Node's thread pool would."""
    return sync or post


class HostcallService(Protocol):
    """What the supervisor needs from the host to serve one extension's hostcalls."""

    def deadline_s(self, method: Any) -> float:
        """How long a call of ``method`` may take (seconds)."""
        ...

    def new_call_id(self) -> str:
        """A fresh call id (known before the call runs, so a timeout can name it)."""
        ...

    def serve(self, method: Any, params: Any, call_id: str, timeout_ms: int) -> dict[str, Any]:
        """Carry one call out (on a lane thread); never raises."""
        ...

    def timed_out(self, job: Job) -> None:
        """Record that ``job`` ran past its deadline (on the request loop's thread)."""
        ...

    def finished_late(self, job: Job, reply: Mapping[str, Any]) -> None:
        """Record that an abandoned ``job`` completed after all (on a lane thread)."""
        ...


@dataclass(slots=True, eq=False)
class Job:
    """One hostcall handed to a lane."""

    hid: Any
    #: As sent by the worker (not necessarily a string: the pipeline judges that).
    method: Any
    params: Any
    call_id: str
    sync: bool
    submitted_at: float
    deadline: float
    state: int = QUEUED
    started_at: float | None = None
    #: Refused at submission: too many of the caller's calls were waiting or running.
    flooded: bool = False
    #: Time left on the deadline while a person is being asked (the clock is stopped), else None.
    paused_left: float | None = None
    reply: dict[str, Any] | None = field(default=None, repr=False)
    #: The answer was written to the worker by the lane thread itself.
    delivered: bool = False
    #: Runs after the caller's earlier in-order calls and before its later ones (:func:`runs_in_order`).
    in_order: bool = False
    #: A post: the worker waits for no answer and none is sent (a timeout or refusal is only recorded).
    post: bool = False

    @property
    def deadline_ms(self) -> int:
        return round((self.deadline - self.submitted_at) * 1000)


class PlainService:
    """A :class:`HostcallService` over a bare handler (tests, tools): one deadline, nothing recorded."""

    def __init__(self, handler: HostcallHandler, deadline_s: float = 60.0) -> None:
        self.handler = handler
        self._deadline = deadline_s
        self._ids = iter(range(1, 1 << 62))

    def deadline_s(self, method: Any) -> float:
        return self._deadline

    def new_call_id(self) -> str:
        return f"call-{next(self._ids)}"

    def serve(self, method: Any, params: Any, call_id: str, timeout_ms: int) -> dict[str, Any]:
        return self.handler(method, params)

    def timed_out(self, job: Job) -> None:
        return None

    def finished_late(self, job: Job, reply: Mapping[str, Any]) -> None:
        return None


def timeout_reply(job: Job) -> dict[str, Any]:
    """The answer a caller gets when its call ran past the deadline."""
    return {
        "ok": False,
        "error": {
            "code": "timeout",
            "reason": Reason.HOSTCALL_DEADLINE,
            "message": f"{str(job.method)[:40]} call exceeded its {job.deadline_ms} ms deadline "
            "(extensionRuntime.hostcallDeadlineMs); the host stopped waiting for it",
        },
    }


def flood_reply(job: Job, limit: int) -> dict[str, Any]:
    """The answer to a call made while ``limit`` of the caller's calls are already waiting or running."""
    return {
        "ok": False,
        "error": {
            "code": "timeout",
            "reason": Reason.TOO_MANY_PENDING,
            "message": f"{str(job.method)[:40]} call refused: this extension already has {limit} hostcalls "
            "waiting or running; wait for some to finish before starting more",
        },
    }


class HostcallLane:
    """The threads that carry out one extension's hostcalls (started on demand, at most ``threads``).

    ``on_complete(job)`` is called on the lane thread when a job finishes before being abandoned.
    """

    def __init__(self, name: str, service: HostcallService, threads: int,
                 on_complete: Callable[[Job], None]) -> None:
        self.name = name
        self.service = service
        self.max_threads = max(1, threads)
        self._on_complete = on_complete
        self._jobs: queue.SimpleQueue[Job | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._threads = 0
        self._idle = 0
        #: Jobs put on the queue and not yet taken by a thread (an idle thread may be about to take one).
        self._queued = 0
        self._closed = False
        #: The in-order call now queued or running (None: none), and the ones waiting behind it.
        self._in_order_head: Job | None = None
        self._in_order_waiting: deque[Job] = deque()

    def submit(self, job: Job) -> None:
        """Queue ``job``; a new thread starts when none is idle and the lane has room. An in-order job
        waits until the one before it has finished (or was abandoned)."""
        with self._lock:
            if self._closed:
                raise RuntimeError("lane is closed")
            if job.in_order:
                if self._in_order_head is not None:
                    self._in_order_waiting.append(job)
                    return
                self._in_order_head = job
            self._before_queueing()
        self._jobs.put(job)

    def _before_queueing(self) -> None:
        """(Lock held.) A job is about to be queued: start a thread unless an idle one is left over for it:
        an idle thread may already be on its way to a job queued before (counting it as free let a job
        wait behind a hung one while the lane had room)."""
        self._queued += 1
        if self._idle < self._queued and self._threads < self.max_threads:
            self._threads += 1
            threading.Thread(target=self._run, name=f"pi-hostcall-{self.name}", daemon=True).start()

    def _release_in_order(self, job: Job) -> None:
        """(Lock held.) ``job`` no longer holds back the in-order calls behind it: queue the next one."""
        if self._in_order_head is not job:
            return
        self._in_order_head = self._in_order_waiting.popleft() if self._in_order_waiting else None
        if self._in_order_head is not None and not self._closed:
            self._before_queueing()
            self._jobs.put(self._in_order_head)

    def abandon(self, job: Job) -> bool:
        """Give up on ``job`` at its deadline; False when it already finished (deliver it instead)."""
        with self._lock:
            if job.state == DONE:
                return False
            job.state = ABANDONED
            if job.in_order:
                if self._in_order_head is job:
                    self._release_in_order(job)  # its caller has its answer: the next one may run
                else:
                    try:
                        self._in_order_waiting.remove(job)
                    except ValueError:
                        pass
            return True

    def _pause(self, job: Job) -> None:
        """A person is being asked for ``job``: its deadline waits (the supervisor sees +inf)."""
        with self._lock:
            if job.state == RUNNING and job.paused_left is None:
                job.paused_left = max(0.0, job.deadline - time.monotonic())
                job.deadline = math.inf

    def _resume(self, job: Job) -> None:
        with self._lock:
            if job.paused_left is not None:
                job.deadline = time.monotonic() + job.paused_left
                job.paused_left = None

    def close(self) -> None:
        """Stop the threads once their current job ends (queued jobs are dropped)."""
        with self._lock:
            self._closed = True
            count = self._threads
        for _ in range(count):
            self._jobs.put(None)

    def _run(self) -> None:
        service = self.service
        while True:
            with self._lock:
                self._idle += 1
            job = self._jobs.get()
            with self._lock:
                self._idle -= 1
                if job is not None:
                    self._queued -= 1
                if job is None:
                    self._threads -= 1
                    return
                if job.state != QUEUED:
                    continue  # abandoned before it started: it never ran (abandon() released its turn)
                job.state = RUNNING
            job.started_at = now = time.monotonic()
            remaining_ms = max(1, int((job.deadline - now) * 1000))
            try:
                with deadline_clock(functools.partial(self._pause, job), functools.partial(self._resume, job)):
                    reply = service.serve(job.method, job.params, job.call_id, remaining_ms)
            except Exception as exc:  # a host bug must still answer the worker
                reply = {"ok": False, "error": {"code": "internal", "message": type(exc).__name__}}
            with self._lock:
                late = job.state == ABANDONED
                if not late:
                    job.state = DONE
                    job.reply = reply
                if job.in_order:
                    self._release_in_order(job)
            if late:
                try:
                    service.finished_late(job, reply)
                except Exception:  # noqa: BLE001 - e.g. the store closed while the call ran on: the thread lives on
                    pass
            else:
                self._on_complete(job)
