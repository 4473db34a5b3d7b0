# ruff: noqa: E501  (embedded JavaScript extension sources keep their natural line length)
"""Posts: hostcalls the extension does not wait for (``console.*`` lines, status-like UI updates; runtime/worker.py
``_hc_post``).

The extension runs on while the host carries a post out; the host still runs posts in the order sent, before
any later synchronous call, records each one, never answers them, and never drops one: a burst waits for the
host (at most ``POST_WINDOW`` unconfirmed), ``finish_posts`` (called by the host before a host call returns)
waits for the rest, and a worker closing right after a post lets it finish first."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.runtime.conftest import MakeHost, source_for, write_file

from pi_sandbox.runtime.hostcalls import Job
from pi_sandbox.runtime.modules import load_module_table
from pi_sandbox.runtime.protocol import POST_WINDOW
from pi_sandbox.runtime.supervisor import ExtensionWorker, WorkerFailure, WorkerLimits
from pi_sandbox.runtime.toolchain import default_toolchain

BUNDLE = r"""
const text = (t) => ({ content: [{ type: "text", text: JSON.stringify(t) }] });
export default function (pi) {
  pi.registerTool({ name: "lines", execute: async (_id, p) => {
    for (let i = 0; i < p.n; i++) console.log("line", i);
    return text("sent");
  } });
  pi.registerTool({ name: "line_then_read", execute: async () => {
    console.log("before");
    const fs = await import("node:fs");
    return text(fs.readFileSync("/ws/x.txt", "utf8"));
  } });
  pi.registerTool({ name: "line_then_spin", execute: async () => {
    console.log("slow line");
    for (;;) {}
  } });
}
"""


class Host:
    """Serves the worker's calls like the real host, recording what took effect, in order; ``gate`` holds
    back every log line until set; ``log_delay_s`` slows each one."""

    def __init__(self, log_delay_s: float = 0.0, deadline_s: float = 30.0) -> None:
        self.applied: list[Any] = []
        self.timed_out_calls: list[Job] = []
        self.gate = threading.Event()
        self.gate.set()
        self.log_delay_s = log_delay_s
        self._deadline_s = deadline_s
        self.lock = threading.Lock()
        self._ids = iter(range(1, 1 << 30))

    def deadline_s(self, method: Any) -> float:
        return self._deadline_s

    def new_call_id(self) -> str:
        return f"call-{next(self._ids)}"

    def serve(self, method: Any, params: Any, call_id: str, timeout_ms: int) -> dict[str, Any]:
        if method == "log":
            self.gate.wait(20)
            time.sleep(self.log_delay_s)
            entry: Any = params["message"]
        else:
            entry = (method, params.get("op"))
        with self.lock:
            self.applied.append(entry)
        if method == "fs":
            return {"ok": True, "result": {"data": "file text", "encoding": "utf8"}}
        return {"ok": True, "result": None}

    def timed_out(self, job: Job) -> None:
        with self.lock:
            self.timed_out_calls.append(job)

    def finished_late(self, job: Job, reply: Any) -> None:
        return None


@pytest.fixture()
def worker_for() -> Iterator[Any]:
    workers: list[ExtensionWorker] = []
    table = load_module_table(default_toolchain())

    def start(host: Host, **limits: Any) -> ExtensionWorker:
        worker = ExtensionWorker("posts", host, WorkerLimits(memory_bytes=64 << 20, **limits))
        workers.append(worker)
        worker.spawn({"modules": table.sources, "bundle": BUNDLE, "boot": list(table.boot), "info": {"cwd": "/ws"}})
        worker.wait_ready()
        assert worker.request("load", {})["ok"]
        return worker

    yield start
    for worker in workers:
        worker.close()


def wait_for(predicate: Any, timeout: float = 10.0) -> None:
    end = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < end, "timed out"
        time.sleep(0.005)


def text_of(reply: dict[str, Any]) -> Any:
    assert reply["ok"], reply
    return json.loads(reply["result"]["content"][0]["text"])


def test_the_extension_does_not_wait_for_its_console_lines(worker_for: Any) -> None:
    host = Host()
    host.gate.clear()  # the host cannot write a single line yet
    worker = worker_for(host)
    assert text_of(worker.request("tool", {"name": "lines", "input": {"n": 3}})) == "sent"
    assert host.applied == []  # the tool finished while its lines were still waiting
    host.gate.set()
    worker.finish_posts()
    assert host.applied == ["line 0", "line 1", "line 2"]
    assert worker.posts_pending == 0


def test_finish_posts_returns_once_every_line_is_carried_out(worker_for: Any) -> None:
    host = Host(log_delay_s=0.03)
    worker = worker_for(host)
    assert text_of(worker.request("tool", {"name": "lines", "input": {"n": 5}})) == "sent"
    assert worker.posts_pending > 0
    worker.finish_posts()
    assert host.applied == [f"line {i}" for i in range(5)]


def test_a_synchronous_call_runs_after_the_lines_sent_before_it(worker_for: Any) -> None:
    host = Host(log_delay_s=0.05)
    worker = worker_for(host)
    assert text_of(worker.request("tool", {"name": "line_then_read", "input": {}})) == "file text"
    assert host.applied == ["before", ("fs", "read")]


def test_a_burst_far_beyond_the_window_and_the_pending_limit_loses_no_line(worker_for: Any) -> None:
    n = POST_WINDOW * 4 + 7
    host = Host()
    # Fewer calls may wait than the burst holds: without backpressure most lines would be refused as a flood.
    worker = worker_for(host, max_pending_hostcalls=POST_WINDOW + 8)
    assert text_of(worker.request("tool", {"name": "lines", "input": {"n": n}})) == "sent"
    worker.finish_posts()
    assert host.applied == [f"line {i}" for i in range(n)]
    assert host.timed_out_calls == []  # none refused as a flood


def test_closing_the_worker_lets_its_last_lines_finish(worker_for: Any) -> None:
    host = Host(log_delay_s=0.05)
    worker = worker_for(host)
    assert text_of(worker.request("tool", {"name": "lines", "input": {"n": 4}})) == "sent"
    worker.close()
    assert host.applied == [f"line {i}" for i in range(4)]  # all written before close() returned


def test_a_post_past_its_deadline_is_recorded_and_never_answered(worker_for: Any) -> None:
    host = Host(deadline_s=0.3)
    host.gate.clear()
    worker = worker_for(host)
    assert text_of(worker.request("tool", {"name": "lines", "input": {"n": 1}})) == "sent"
    # The next request finds the line overdue: recorded as timed out, no stray answer reaches the worker.
    # Its own line hangs too and is given up at its deadline; the read behind it then runs.
    time.sleep(0.4)
    assert text_of(worker.request("tool", {"name": "line_then_read", "input": {}})) == "file text"
    assert [(job.method, job.params["message"]) for job in host.timed_out_calls] == [("log", "line 0"), ("log", "before")]
    host.gate.set()


def test_pending_posts_do_not_pause_the_javascript_time_budget(worker_for: Any) -> None:
    # While a call the worker waits for is pending, the JS budget is paused; a post is waited for by no one,
    # so a worker spinning after one still hits its budget (not only the 10x wall-clock ceiling).
    host = Host()
    host.gate.clear()
    worker = worker_for(host, call_timeout_s=0.5)
    started = time.monotonic()
    with pytest.raises(WorkerFailure) as failure:
        worker.request("tool", {"name": "line_then_spin", "input": {}})
    assert failure.value.code == "timeout"
    assert "time budget" in str(failure.value)
    assert time.monotonic() - started < 4.0  # the ceiling would be 5 s
    host.gate.set()


def test_finish_posts_gives_a_hung_line_up_at_its_deadline_and_records_it(worker_for: Any) -> None:
    host = Host(deadline_s=0.3)
    host.gate.clear()
    worker = worker_for(host)
    assert text_of(worker.request("tool", {"name": "lines", "input": {"n": 2}})) == "sent"
    started = time.monotonic()
    worker.finish_posts()
    assert time.monotonic() - started < 5.0  # bounded by the deadlines, not by the hung connector
    assert worker.posts_pending == 0
    assert [job.params["message"] for job in host.timed_out_calls] == ["line 0", "line 1"]
    host.gate.set()


CHATTY = """
export default function (pi: any) {
  pi.registerTool({ name: "chat", execute: async (_id: string, p: any, _s: any, _u: any, ctx: any) => {
    for (let i = 0; i < p.n; i++) console.log("chat line", i);
    ctx.ui.setStatus("chat", "done");
    return { content: [{ type: "text", text: "ok" }] };
  } });
  pi.on("turn_end", async () => { console.log("turn over"); });
}
"""


def test_a_host_call_returns_once_its_posts_are_recorded_in_order(make_host: MakeHost, ext_dir: Path,
                                                                   capfd: pytest.CaptureFixture[str]) -> None:
    # The extension did not wait for its lines; the host's caller does, once: when call_tool or emit returns,
    # the output has been shown and the ledger holds every call, in the order the extension made them.
    host = make_host()
    host.load([source_for(write_file(ext_dir / "chatty.ts", CHATTY), "chatty")])
    ids: list[str] = []
    assert host.call_tool("chatty", "chat", {"n": 30}, hostcall_ids=ids)["content"][0]["text"] == "ok"
    assert host.get("chatty").worker.posts_pending == 0
    entries = sorted((e for e in host.sandbox.store.query_ledger(extension_id="chatty", limit=100)
                      if e.call_id in ids), key=lambda e: e.seq)
    assert [e.method for e in entries] == ["log"] * 30 + ["ui"]
    assert all(e.decision == "allow" for e in entries)
    host.emit("turn_end", {"turnIndex": 0})
    err = capfd.readouterr().err
    assert "[chatty] info: chat line 29" in err and "[chatty] info: turn over" in err
