# ruff: noqa: E501  (embedded JavaScript extension sources keep their natural line length)
"""Fire-and-forget UI updates take effect in the order the extension sent them (runtime/hostcalls.py).

``ctx.ui.setStatus``/``notify``/... are synchronous in pi; here they are posts (hostcalls nobody waits for)
served by the extension's lane, which has several threads. Without ordering, a later status could be applied before an
earlier one (seen: 40 updates came out as ``... 20 19 26 2 1 0 3 ...``) and the status bar would end on a stale
value. In-order calls run one at a time in the order sent; other asynchronous calls still run side by side."""

from __future__ import annotations

import json
import queue
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from pi_sandbox.runtime.hostcalls import RUNNING, HostcallLane, Job, PlainService, runs_in_order
from pi_sandbox.runtime.modules import load_module_table
from pi_sandbox.runtime.supervisor import ExtensionWorker, WorkerLimits
from pi_sandbox.runtime.toolchain import default_toolchain


def make_job(n: int, method: str = "ui", op: str = "set_status", sync: bool = False) -> Job:
    """A job as the supervisor makes it: status-like UI updates and console lines come as posts."""
    params = {"op": op, "key": "k", "text": str(n)}
    now = time.monotonic()
    post = not sync and method in ("ui", "log")
    return Job(n, method, params, f"call-{n}", sync, now, now + 30.0, in_order=runs_in_order(sync, post), post=post)


class Recorder:
    """A lane handler that records the order in which calls take effect; call ``n`` takes ``delays[n]`` s
    (earlier calls slower, so concurrent execution would reverse them), or blocks on ``gates[n]``."""

    def __init__(self, delays: dict[int, float] | None = None) -> None:
        self.delays = delays or {}
        self.gates: dict[int, threading.Event] = {}
        self.applied: list[int] = []
        self.lock = threading.Lock()

    def __call__(self, method: Any, params: Any) -> dict[str, Any]:
        n = int(params["text"])
        if n in self.gates:
            self.gates[n].wait(10)
        time.sleep(self.delays.get(n, 0.0))
        with self.lock:
            self.applied.append(n)
        return {"ok": True, "result": None}


@pytest.fixture()
def lane_of() -> Iterator[Any]:
    lanes: list[HostcallLane] = []
    done: list[Job] = []

    def make(recorder: Recorder) -> tuple[HostcallLane, list[Job]]:
        lane = HostcallLane("order", PlainService(recorder), 4, done.append)
        lanes.append(lane)
        return lane, done

    yield make
    for lane in lanes:
        lane.close()


def wait_for(predicate: Any, timeout: float = 10.0) -> None:
    end = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < end, "timed out"
        time.sleep(0.005)


@pytest.mark.parametrize("op", ["set_status", "notify", "set_widget", "set_title"])
def test_fire_and_forget_ui_updates_take_effect_in_the_order_sent(lane_of: Any, op: str) -> None:
    recorder = Recorder({n: 0.03 * (5 - n) for n in range(6)})  # the first is the slowest
    lane, done = lane_of(recorder)
    for n in range(6):
        lane.submit(make_job(n, op=op))
    wait_for(lambda: len(done) == 6)
    assert recorder.applied == [0, 1, 2, 3, 4, 5]


def test_a_synchronous_call_follows_the_updates_sent_before_it(lane_of: Any) -> None:
    recorder = Recorder({0: 0.1, 1: 0.05})
    lane, done = lane_of(recorder)
    lane.submit(make_job(0))
    lane.submit(make_job(1))
    lane.submit(make_job(2, method="log", op="", sync=True))
    wait_for(lambda: len(done) == 3)
    assert recorder.applied == [0, 1, 2]


def test_other_asynchronous_calls_still_run_side_by_side(lane_of: Any) -> None:
    recorder = Recorder()
    gate = recorder.gates[0] = threading.Event()
    lane, done = lane_of(recorder)
    lane.submit(make_job(0, method="fs", op="read"))  # an async read that hangs
    lane.submit(make_job(1))
    lane.submit(make_job(2, method="fs", op="stat"))
    wait_for(lambda: len(done) == 2)  # neither waited for the hung read
    assert sorted(recorder.applied) == [1, 2]
    gate.set()
    wait_for(lambda: len(done) == 3)


def test_an_abandoned_update_does_not_hold_back_the_ones_after_it(lane_of: Any) -> None:
    recorder = Recorder()
    gate = recorder.gates[0] = threading.Event()
    lane, done = lane_of(recorder)
    first, second, third = make_job(0), make_job(1), make_job(2)
    for job in (first, second, third):
        lane.submit(job)
    time.sleep(0.05)
    assert recorder.applied == []  # the first hangs; the others wait their turn
    assert lane.abandon(first)  # its deadline passed: the supervisor answered it 'timeout'
    wait_for(lambda: recorder.applied == [1, 2])
    assert lane.abandon(make_job(9)) is True  # a job the lane never saw: nothing breaks
    gate.set()
    wait_for(lambda: sorted(recorder.applied) == [0, 1, 2])
    assert [j.hid for j in done] == [1, 2]  # the late one's answer is dropped


def test_a_queued_update_abandoned_before_its_turn_never_runs(lane_of: Any) -> None:
    recorder = Recorder()
    gate = recorder.gates[0] = threading.Event()
    lane, done = lane_of(recorder)
    jobs = [make_job(n) for n in range(3)]
    for job in jobs:
        lane.submit(job)
    assert lane.abandon(jobs[1])
    gate.set()
    wait_for(lambda: len(done) == 2)
    time.sleep(0.05)
    assert recorder.applied == [0, 2]


def test_only_posts_and_synchronous_calls_are_ordered() -> None:
    assert runs_in_order(sync=True, post=False)
    assert runs_in_order(sync=False, post=True)
    assert not runs_in_order(sync=False, post=False)  # a read, a command, a question for a person


BUNDLE = r"""
const text = (t) => ({ content: [{ type: "text", text: JSON.stringify(t) }] });
export default function (pi) {
  pi.registerTool({ name: "burst", execute: async (_id, p, _signal, _update, ctx) => {
    for (let i = 0; i < p.n; i++) ctx.ui.setStatus("k", String(i));
    return text("sent");
  } });
}
"""


class SlowFirstHost:
    """Serves the worker's calls like a host whose first status updates are slow to apply."""

    def __init__(self) -> None:
        self.applied: list[str] = []
        self.lock = threading.Lock()
        self._ids = iter(range(1, 1 << 30))

    def deadline_s(self, method: Any) -> float:
        return 30.0

    def new_call_id(self) -> str:
        return f"call-{next(self._ids)}"

    def serve(self, method: Any, params: Any, call_id: str, timeout_ms: int) -> dict[str, Any]:
        n = int(params.get("text", "0"))
        time.sleep(max(0.0, 0.02 * (4 - n)))
        with self.lock:
            self.applied.append(params.get("text"))
        return {"ok": True, "result": {"value": None, "has_ui": False}}

    def timed_out(self, job: Job) -> None:
        return None

    def finished_late(self, job: Job, reply: Any) -> None:
        return None


def test_a_real_worker_s_status_updates_arrive_in_order() -> None:
    table = load_module_table(default_toolchain())
    service = SlowFirstHost()
    worker = ExtensionWorker("burst", service, WorkerLimits(memory_bytes=64 << 20, call_timeout_s=5.0))
    try:
        worker.spawn({"modules": table.sources, "bundle": BUNDLE, "boot": list(table.boot), "info": {"cwd": "/ws"}})
        worker.wait_ready()
        assert worker.request("load", {})["ok"]
        reply = worker.request("tool", {"name": "burst", "input": {"n": 12}})
        assert reply["ok"] and json.loads(reply["result"]["content"][0]["text"]) == "sent"
        wait_for(lambda: len(service.applied) == 12)
        assert service.applied == [str(i) for i in range(12)]
    finally:
        worker.close()


class SlowToTake(queue.Queue):  # type: ignore[type-arg]
    """A lane queue whose threads wait at ``get`` until ``may_take`` is set: an idle thread on its way to a job."""

    def __init__(self) -> None:
        super().__init__()
        self.may_take = threading.Event()

    def get(self, block: bool = True, timeout: float | None = None) -> Any:
        self.may_take.wait(10)
        return super().get(block, timeout)


def test_an_idle_thread_about_to_take_a_queued_job_is_not_counted_as_free(lane_of: Any) -> None:
    # Seen under load: the lane's only thread was idle, about to take a call that then hung; a second
    # call found it "idle", started no thread, and waited behind the hung one although the lane had room.
    recorder = Recorder()
    gate = recorder.gates[0] = threading.Event()
    lane, done = lane_of(recorder)
    lane._jobs = jobs = SlowToTake()
    lane.submit(make_job(0, method="fs", op="read"))  # will hang
    wait_for(lambda: lane._idle == 1)  # its thread is idle, not yet holding the job
    lane.submit(make_job(1, method="fs", op="stat"))
    jobs.may_take.set()
    wait_for(lambda: [j.hid for j in done] == [1])
    gate.set()
    wait_for(lambda: len(done) == 2)


class FailingLateService(PlainService):
    def finished_late(self, job: Job, reply: Any) -> None:
        raise RuntimeError("the audit store is closed")


def test_a_failure_to_note_a_late_result_does_not_kill_the_lane_thread() -> None:
    recorder = Recorder()
    gate = recorder.gates[0] = threading.Event()
    done: list[Job] = []
    lane = HostcallLane("late", FailingLateService(recorder), 1, done.append)
    try:
        first = make_job(0, method="fs", op="read")
        lane.submit(first)
        wait_for(lambda: first.state == RUNNING)
        assert lane.abandon(first)
        gate.set()  # it finishes late; noting that fails
        lane.submit(make_job(1, method="fs", op="stat"))
        wait_for(lambda: [j.hid for j in done] == [1])  # the lane's only thread still serves
    finally:
        lane.close()
