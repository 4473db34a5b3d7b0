# ruff: noqa: E501  (embedded JavaScript extension sources keep their natural line length)
"""Per-method hostcall deadlines and per-extension lanes (runtime/hostcalls.py), with real workers and a
host whose work can hang: the caller gets ``timeout`` at its deadline and is the one charged, a late result
is dropped and noted, and another extension's calls complete while the first one's host work hangs."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator, Mapping
from typing import Any

import pytest

from pi_sandbox.runtime.hostcalls import Job
from pi_sandbox.runtime.modules import load_module_table
from pi_sandbox.runtime.supervisor import ExtensionWorker, WorkerLimits
from pi_sandbox.runtime.toolchain import default_toolchain

BUNDLE = r"""
import * as host from "pi:host";
const text = (t) => ({ content: [{ type: "text", text: JSON.stringify(t) }] });
const attempt = (f) => { try { return f(); } catch (e) { return { code: e.code, reason: e.reason, message: e.message }; } };
export default function (pi) {
  pi.registerTool({ name: "stat", execute: async (_id, p) => text(attempt(() => host.callSync("fs", { op: "stat", path: p.path }))) });
  pi.registerTool({ name: "many", execute: async (_id, p) => {
    const all = Array.from({ length: p.n }, (_, i) => host.call("fs", { op: "stat", path: p.path + i }).then((r) => "ok", (e) => e.reason));
    return text(await Promise.all(all));
  } });
}
"""


class HangingHost:
    """A host service whose fs work on paths starting with ``hang`` blocks until released (a stuck connector)."""

    def __init__(self, deadline_s: float) -> None:
        self.deadline = deadline_s
        self.release = threading.Event()
        self.timed_out_jobs: list[Job] = []
        self.late: list[tuple[str, bool]] = []
        self._ids = iter(range(1, 1 << 30))

    def deadline_s(self, method: Any) -> float:
        return self.deadline if method == "fs" else 60.0

    def new_call_id(self) -> str:
        return f"call-{next(self._ids)}"

    def serve(self, method: Any, params: Any, call_id: str, timeout_ms: int) -> dict[str, Any]:
        if str(params.get("path", "")).startswith("hang"):
            self.release.wait(30)
        return {"ok": True, "result": {"path": params.get("path"), "timeout_ms": timeout_ms}}

    def timed_out(self, job: Job) -> None:
        self.timed_out_jobs.append(job)

    def finished_late(self, job: Job, reply: Mapping[str, Any]) -> None:
        self.late.append((job.call_id, bool(reply.get("ok"))))


@pytest.fixture(scope="module")
def table() -> Any:
    return load_module_table(default_toolchain())


@pytest.fixture()
def spawn(table: Any) -> Iterator[Any]:
    workers: list[ExtensionWorker] = []
    hosts: list[HangingHost] = []

    def make(name: str, deadline_s: float = 0.4, **limits: Any) -> tuple[ExtensionWorker, HangingHost]:
        service = HangingHost(deadline_s)
        worker = ExtensionWorker(name, service, WorkerLimits(memory_bytes=64 << 20, call_timeout_s=2.0, **limits))
        worker.spawn({"modules": table.sources, "bundle": BUNDLE, "boot": list(table.boot), "info": {"cwd": "/ws"}})
        worker.wait_ready()
        assert worker.request("load", {})["ok"]
        workers.append(worker)
        hosts.append(service)
        return worker, service

    yield make
    for service in hosts:
        service.release.set()
    for worker in workers:
        worker.close()


def run(worker: ExtensionWorker, name: str, **args: Any) -> Any:
    reply = worker.request("tool", {"name": name, "input": args})
    assert reply["ok"], reply
    return json.loads(reply["result"]["content"][0]["text"])


def test_a_hung_call_times_out_at_its_deadline_and_is_charged_to_its_caller(spawn: Any) -> None:
    worker, host = spawn("hog", deadline_s=0.4)
    started = time.monotonic()
    answer = run(worker, "stat", path="hang")
    took = time.monotonic() - started
    assert (answer["code"], answer["reason"]) == ("timeout", "hostcall_deadline")
    assert "400 ms deadline" in answer["message"] and "hostcallDeadlineMs" in answer["message"]
    assert 0.35 < took < 1.8
    (job,) = host.timed_out_jobs
    assert (job.method, job.params, job.deadline_ms, job.started_at is not None) == ("fs", {"op": "stat", "path": "hang"}, 400, True)
    # The worker was not killed (the wait was the host's, not its JS), and its next calls work.
    assert worker.alive and run(worker, "stat", path="fine")["path"] == "fine"
    host.release.set()
    for _ in range(100):
        if host.late:
            break
        time.sleep(0.02)
    assert host.late == [(job.call_id, True)]  # the late result was dropped, and noted


def test_the_connector_is_told_how_much_time_is_left(spawn: Any) -> None:
    worker, _host = spawn("ext", deadline_s=5.0)
    assert 4000 <= run(worker, "stat", path="x")["timeout_ms"] <= 5000


def test_another_extension_is_served_while_one_extensions_host_work_hangs(spawn: Any) -> None:
    hog, hog_host = spawn("hog", deadline_s=3.0)
    neighbour, _ = spawn("neighbour", deadline_s=3.0)
    answers: list[Any] = []
    thread = threading.Thread(target=lambda: answers.append(run(hog, "many", path="hang", n=8)))
    thread.start()
    time.sleep(0.3)  # every one of the hog's lane threads is now stuck
    timings = []
    for i in range(10):
        started = time.monotonic()
        assert run(neighbour, "stat", path=f"n{i}")["path"] == f"n{i}"
        timings.append(time.monotonic() - started)
    assert thread.is_alive(), "the hog's calls should still be hanging"
    assert max(timings) < 1.0, timings
    thread.join(10)
    assert answers == [["hostcall_deadline"] * 8]
    assert len(hog_host.timed_out_jobs) == 8


def test_a_flood_of_pending_calls_is_refused_not_queued_without_bound(spawn: Any) -> None:
    worker, host = spawn("flood", deadline_s=0.5, max_pending_hostcalls=5)
    reasons = run(worker, "many", path="hang", n=12)
    assert reasons.count("too_many_pending") == 7 and reasons.count("hostcall_deadline") == 5
    assert len(host.timed_out_jobs) == 12  # every refused call is recorded against the caller
    assert sum(job.flooded for job in host.timed_out_jobs) == 7


def test_timeouts_are_recorded_against_the_caller_with_their_reason(open_sandbox: Any) -> None:
    box = open_sandbox()
    box.record_hostcall_timeout("ext.hog", "c1", "fs", {"op": "read", "path": "x"}, 400, started=True)
    box.record_hostcall_timeout("ext.hog", "c2", "http", {"url": "http://x"}, 0, started=False, flooded=True)
    box.record_hostcall_timeout("ext.hog", "c3", "no\u0000such", None, 50, started=False)
    entries = box.store.query_ledger(extension_id="ext.hog", limit=10)
    assert [(e.call_id, e.decision, e.reason, e.method) for e in entries] == [
        ("c1", "timeout", "hostcall_deadline", "fs"), ("c2", "timeout", "too_many_pending", "http"),
        ("c3", "timeout", "hostcall_deadline", None)]
    assert entries[0].detail["deadline_ms"] == 400 and "method_hash" in entries[2].detail
    alerts = box.store.query_alerts(extension_id="ext.hog")
    assert [a.reason_codes for a in alerts] == [("hostcall_deadline",), ("too_many_pending",), ("hostcall_deadline",)]
    assert not box.store.query_ledger(extension_id="ext.other", limit=10)
