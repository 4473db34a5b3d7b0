# ruff: noqa: E501  (embedded JavaScript extension sources keep their natural line length)
"""Worker process + supervisor with an in-test hostcall handler (no pipeline): the bridge itself."""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Iterator, Mapping
from typing import Any

import pytest

from pi_sandbox.runtime.modules import load_module_table
from pi_sandbox.runtime.supervisor import ExtensionWorker, WorkerFailure, WorkerLimits
from pi_sandbox.runtime.toolchain import default_toolchain

BUNDLE = r"""
import * as host from "pi:host";
export default function (pi) {
  const text = (t) => ({ content: [{ type: "text", text: typeof t === "string" ? t : JSON.stringify(t) }] });
  pi.registerTool({ name: "sync_stat", execute: async (_id, p) => text(host.callSync("fs", { op: "stat", path: p.path })) });
  pi.registerTool({ name: "async_pair", execute: async () => {
    const [a, b] = await Promise.all([host.call("fs", { op: "stat", path: "a" }), host.call("fs", { op: "stat", path: "b" })]);
    return text([a.path, b.path]);
  } });
  pi.registerTool({ name: "denied", execute: async () => {
    try { host.callSync("exec", { cmd: "sh", args: [] }); return text("ran"); }
    catch (e) { return text([e.name, e.code, e.message]); }
  } });
  pi.registerTool({ name: "sleep", execute: async (_id, p) => {
    const t0 = Date.now();
    await new Promise((r) => host.setTimer(r, p.ms, false));
    return text(Date.now() - t0);
  } });
  pi.registerTool({ name: "interval", execute: async () => {
    let n = 0;
    await new Promise((r) => { const id = host.setTimer(() => { if (++n === 3) { host.clearTimer(id); r(); } }, 5, true); });
    return text(n);
  } });
  pi.registerTool({ name: "later", execute: async () => {
    globalThis.__laterRan = 0;
    host.setTimer(() => { globalThis.__laterRan += 1; }, 0, false);
    host.setTimer(() => { globalThis.__laterRan += 10; }, 150, false);
    return text("scheduled");
  } });
  pi.registerTool({ name: "later_count", execute: async () => text(globalThis.__laterRan) });
  pi.registerTool({ name: "hang_promise", execute: () => new Promise(() => {}) });
  pi.registerTool({ name: "spin", execute: () => { for (;;) {} } });
  pi.registerTool({ name: "spin_after_hostcall", execute: () => { host.callSync("log", { level: "info", message: "x" }); for (;;) {} } });
  pi.registerTool({ name: "flood", execute: () => { for (;;) host.callSync("log", { level: "info", message: "x" }); } });
  pi.registerTool({ name: "many_big", execute: async (_id, p) => {
    // Replies pile up towards the worker while it is still writing a large frame towards the host.
    const pending = Array.from({ length: p.n }, (_, i) => host.call("fs", { op: "read", path: "big" + i }));
    host.callSync("fs", { op: "write", path: "out", data: "z".repeat(2_000_000) });
    const replies = await Promise.all(pending);
    return text(replies.reduce((sum, r) => sum + r.data.length, 0));
  } });
  pi.registerTool({ name: "parallel", execute: async (_id, p) => {
    const t0 = Date.now();
    await Promise.all(Array.from({ length: p.n }, (_, i) => host.call("fs", { op: "stat", path: "slow" + i })));
    return text(Date.now() - t0);
  } });
  pi.registerTool({ name: "bomb", execute: () => { const a = []; for (;;) a.push(new Array(1e6).fill(1)); } });
  pi.registerTool({ name: "recurse", execute: () => { const f = (n) => f(n + 1) + 1; return f(0); } });
  pi.registerTool({ name: "python", execute: async () => {
    const probes = {
      rawBridge: typeof globalThis.__pi_hc_sync + "," + typeof globalThis.__pi_hc_post,
      require: typeof require,
      binding: (() => { try { process.binding("fs"); return "returned"; } catch (e) { return "threw"; } })(),
      importOs: await import("os").then(() => "imported", (e) => "blocked: " + e.message),
      importPy: await import("python").then(() => "imported", (e) => "blocked"),
      ctorEscape: (() => { try { return String(Function("return typeof __pi_hc_sync")()); } catch (e) { return "threw"; } })(),
      rtFrozen: (() => { try { globalThis.__pi_rt = 1; return typeof globalThis.__pi_rt; } catch (e) { return "threw"; } })(),
    };
    return text(probes);
  } });
  pi.registerTool({ name: "pollute", execute: async () => { Object.prototype.polluted = "yes"; Array.prototype.push = () => 0; return text("done"); } });
  pi.registerTool({ name: "check_pollution", execute: async () => text(String(({}).polluted)) });
  pi.registerTool({ name: "rand", execute: async () => text(Array.from(host.randomBytes(16))) });
  pi.registerTool({ name: "forge", execute: async () => text(host.callSync("fs", { op: "stat", path: "x", weird: "}\u0000\"" })) });
}
"""


class BigRecorder:
    """Answers reads with 100 KB: enough replies to fill both pipes many times over."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, method: str, params: Mapping[str, Any]) -> dict[str, Any]:
        self.calls += 1
        return {"ok": True, "result": {"data": "y" * 100_000} if params.get("op") == "read" else {}}


class Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def __call__(self, method: str, params: Mapping[str, Any]) -> dict[str, Any]:
        self.calls.append((method, dict(params)))
        if method == "exec":
            return {"ok": False, "error": {"code": "denied", "message": "exec denied", "reason": "deny_caps"}}
        return {"ok": True, "result": {"path": params.get("path"), "size": 3}}


@pytest.fixture(scope="module")
def table() -> Any:
    return load_module_table(default_toolchain())


def start(table: Any, recorder: Recorder, limits: WorkerLimits | None = None) -> ExtensionWorker:
    worker = ExtensionWorker("toy", recorder, limits or WorkerLimits(memory_bytes=64 << 20, call_timeout_s=1.0))
    worker.spawn({"modules": table.sources, "bundle": BUNDLE, "boot": list(table.boot), "info": {"cwd": "/ws"}})
    worker.wait_ready()
    reply = worker.request("load", {})
    assert reply["ok"], reply
    return worker


@pytest.fixture()
def worker(table: Any) -> Iterator[tuple[ExtensionWorker, Recorder]]:
    recorder = Recorder()
    w = start(table, recorder)
    yield w, recorder
    w.close()


def tool(worker: ExtensionWorker, name: str, args: dict[str, Any] | None = None) -> Any:
    reply = worker.request("tool", {"name": name, "input": args or {}})
    assert reply["ok"], reply
    text = reply["result"]["content"][0]["text"]
    try:
        return json.loads(text)
    except ValueError:
        return text


def test_sync_and_async_hostcalls_reach_the_handler(worker: tuple[ExtensionWorker, Recorder]) -> None:
    w, rec = worker
    assert tool(w, "sync_stat", {"path": "f.txt"}) == {"path": "f.txt", "size": 3}
    assert tool(w, "async_pair") == ["a", "b"]
    paths = [c[1]["path"] for c in rec.calls]
    # The two async reads run side by side on the lane's threads: either may reach the handler first.
    assert paths[0] == "f.txt" and sorted(paths[1:]) == ["a", "b"]
    assert all(c[0] == "fs" for c in rec.calls)


def test_hostcall_errors_become_typed_js_errors(worker: tuple[ExtensionWorker, Recorder]) -> None:
    w, _ = worker
    assert tool(w, "denied") == ["HostcallError", "denied", "exec denied"]


def test_params_are_reencoded_not_spliced(worker: tuple[ExtensionWorker, Recorder]) -> None:
    w, rec = worker
    tool(w, "forge")
    assert rec.calls[-1][1]["weird"] == '}\u0000"'


def test_many_large_async_replies_do_not_deadlock(table: Any) -> None:
    recorder = BigRecorder()
    w = start(table, recorder, WorkerLimits(memory_bytes=256 << 20, call_timeout_s=20))  # type: ignore[arg-type]
    try:
        started = time.monotonic()
        assert tool(w, "many_big", {"n": 400}) == 400 * 100_000
        assert recorder.calls == 401 and time.monotonic() - started < 20
    finally:
        w.close()


def test_async_hostcalls_run_in_parallel_and_do_not_eat_the_budget(table: Any) -> None:
    class SlowStat(Recorder):
        def __call__(self, method: str, params: Mapping[str, Any]) -> dict[str, Any]:
            time.sleep(0.4)
            return super().__call__(method, params)

    recorder = SlowStat()
    w = start(table, recorder, WorkerLimits(memory_bytes=64 << 20, call_timeout_s=0.5))
    try:
        elapsed_ms = tool(w, "parallel", {"n": 4})
        assert elapsed_ms < 1000  # 4 x 0.4 s served concurrently, not one after another
        assert len(recorder.calls) == 4
        # 8 calls = 2 rounds = 0.8 s of waiting: longer than the 0.5 s JS budget, which is paused while
        # the worker only waits for the host.
        assert tool(w, "parallel", {"n": 8}) >= 700
    finally:
        w.close()


def test_host_driven_timers(worker: tuple[ExtensionWorker, Recorder]) -> None:
    w, _ = worker
    assert tool(w, "sleep", {"ms": 60}) >= 55
    assert tool(w, "interval") == 3


def test_timers_after_return_and_tick(worker: tuple[ExtensionWorker, Recorder]) -> None:
    w, _ = worker
    assert tool(w, "later") == "scheduled"
    assert w.next_timer_at is not None and w.next_timer_at - time.monotonic() > 0.05  # the 150 ms timer
    assert tool(w, "later_count") == 1  # the zero-delay timer ran right after the handler returned
    time.sleep(0.2)
    assert w.request("tick", {})["ok"]
    assert tool(w, "later_count") == 11
    assert w.next_timer_at is None


def test_promise_that_can_never_settle_is_reported(worker: tuple[ExtensionWorker, Recorder]) -> None:
    w, _ = worker
    reply = w.request("tool", {"name": "hang_promise", "input": {}})
    assert not reply["ok"] and reply["error"]["code"] == "never_settles"
    assert tool(w, "sync_stat", {"path": "still"})["path"] == "still"


@pytest.mark.parametrize("name", ["spin", "spin_after_hostcall"])
def test_infinite_loop_is_killed_by_the_watchdog(table: Any, name: str) -> None:
    w = start(table, Recorder(), WorkerLimits(memory_bytes=64 << 20, call_timeout_s=0.5))
    started = time.monotonic()
    with pytest.raises(WorkerFailure) as info:
        w.request("tool", {"name": name, "input": {}})
    assert info.value.code == "timeout"
    assert time.monotonic() - started < 3
    assert not w.alive


def test_endless_hostcalls_hit_the_wall_clock_ceiling(table: Any) -> None:
    limits = WorkerLimits(memory_bytes=64 << 20, call_timeout_s=0.4, wall_ceiling_factor=3)

    class SlowRecorder(Recorder):
        def __call__(self, method: str, params: Mapping[str, Any]) -> dict[str, Any]:
            time.sleep(0.05)  # slow hostcalls: not charged to the JS budget, but bounded by the ceiling
            return super().__call__(method, params)

    recorder = SlowRecorder()
    w = start(table, recorder, limits)
    started = time.monotonic()
    with pytest.raises(WorkerFailure, match="wall-clock ceiling") as info:
        w.request("tool", {"name": "flood", "input": {}})
    assert info.value.code == "timeout" and 1.1 < time.monotonic() - started < 4
    assert len(recorder.calls) > 10


def test_memory_bomb_is_fatal_oom(table: Any) -> None:
    w = start(table, Recorder(), WorkerLimits(memory_bytes=48 << 20, call_timeout_s=10))
    with pytest.raises(WorkerFailure) as info:
        w.request("tool", {"name": "bomb", "input": {}})
    assert info.value.code == "oom"
    assert not w.alive


def test_deep_recursion_is_contained(worker: tuple[ExtensionWorker, Recorder]) -> None:
    w, _ = worker
    reply = w.request("tool", {"name": "recurse", "input": {}})
    assert reply["ok"] and reply["result"]["isError"]
    assert "call stack" in reply["result"]["thrown"]["message"]
    assert tool(w, "sync_stat", {"path": "after"})["path"] == "after"


def test_crash_is_detected(table: Any) -> None:
    w = start(table, Recorder())
    assert w.pid is not None
    os.kill(w.pid, signal.SIGKILL)
    with pytest.raises(WorkerFailure) as info:
        w.request("tool", {"name": "sync_stat", "input": {"path": "x"}})
    assert info.value.code == "crash"


def test_python_and_raw_bridge_are_unreachable(worker: tuple[ExtensionWorker, Recorder]) -> None:
    w, _ = worker
    probes = tool(w, "python")
    assert probes["rawBridge"] == "undefined,undefined"
    assert probes["ctorEscape"] == "undefined"
    assert probes["importPy"] == "blocked"
    assert probes["rtFrozen"] in ("object", "threw")  # strict-mode modules throw on the frozen global
    assert tool(w, "sync_stat", {"path": "after-probe"})["path"] == "after-probe"
    assert probes["binding"] == "threw"


def test_prototype_pollution_stays_in_its_own_worker(table: Any) -> None:
    first, second = start(table, Recorder()), start(table, Recorder())
    try:
        assert tool(first, "pollute") == "done"
        assert tool(first, "check_pollution") == "yes"
        assert tool(second, "check_pollution") == "undefined"
    finally:
        first.close()
        second.close()


def test_random_bytes_are_local_entropy(worker: tuple[ExtensionWorker, Recorder]) -> None:
    w, rec = worker
    a, b = tool(w, "rand"), tool(w, "rand")
    assert len(a) == 16 and a != b
    assert rec.calls == []


def test_worker_environment_is_minimal(worker: tuple[ExtensionWorker, Recorder]) -> None:
    w, _ = worker
    with open(f"/proc/{w.pid}/environ", "rb") as env:
        names = {item.split(b"=", 1)[0] for item in env.read().split(b"\0") if item}
    assert names <= {b"LANG", b"LC_ALL"}
    with open(f"/proc/{w.pid}/limits", encoding="ascii") as limits_file:
        limits = {line[:26].strip(): line[26:].split() for line in limits_file.read().splitlines()[1:]}
    assert limits["Max file size"][:2] == ["0", "0"]  # the worker can never write a file
    assert limits["Max core file size"][:2] == ["0", "0"]
    assert limits["Max address space"][0] != "unlimited"
    with open(f"/proc/{w.pid}/cmdline", "rb") as cmdline:
        assert b"-I\0-S" in cmdline.read()  # isolated, no site-packages .pth processing
    fds = os.listdir(f"/proc/{w.pid}/fd")
    assert len(fds) <= 6  # stdio plus the duplicated pipe ends; nothing inherited
