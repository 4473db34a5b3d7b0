"""Every quota key: a hostile use exceeds it and is stopped (quota_exceeded, breach record, alert, trust
feed); a benign use within the same limits is not. Real files, real processes, a real local HTTP server."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from pi_sandbox.dispatch import HostcallResult, Sandbox
from pi_sandbox.quota import quota_status
from pi_sandbox.runtime.host import replace_limits
from pi_sandbox.trust import Actor, TransitionReason, TrustState
from tests.conftest import OpenSandbox, PiEnv
from tests.runtime.conftest import FAST_LIMITS, MakeHost, ext_dir, make_host, source_for, write_file  # noqa: F401

Call = Callable[..., HostcallResult]


class _Big(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - http.server API
        body = b"x" * 300
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Big)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()


def _box(open_sandbox: OpenSandbox, **quota: int) -> tuple[Sandbox, Call]:
    box = open_sandbox(settings={"extensionPolicy": {"profile": "permissive", "allowDangerous": True,
                                                     "http": {"allowLoopback": True}, "quota": quota}})
    counter = iter(range(1_000_000))

    def call(method: str, ext: str = "hostile", **params: Any) -> HostcallResult:
        return box.hostcall(ext, {"call_id": f"q{next(counter)}", "method": method, "params": params})

    return box, call


def _breaches(box: Sandbox, ext: str = "hostile") -> list[dict[str, Any]]:
    return [dict(r.payload) for r in box.store.query_records(kind="quota_breach", extension_id=ext)]


def _assert_refused(box: Sandbox, result: HostcallResult, resource: str) -> None:
    assert (result.ok, result.error_code, result.reason) == (False, "quota_exceeded", "quota_exceeded"), result
    assert resource in (result.message or "")
    entry = box.store.query_ledger(extension_id="hostile")[-1]
    assert (entry.decision, entry.detail["stage"], entry.detail["quota_resource"]) == ("deny", "quota", resource)
    breach = _breaches(box)[-1]
    assert breach["resource"] == resource and breach["actual"] > breach["limit"] - 1 and breach["ts_ms"] > 0
    assert any(resource in a.reason_codes for a in box.store.query_alerts(category="quota_breach"))


def test_hostcall_rate_token_bucket(open_sandbox: OpenSandbox) -> None:
    box, call = _box(open_sandbox, maxHostcallsPerSecond=5, hostcallBurst=5)
    results = [call("fs", op="stat", path=".") for _ in range(8)]
    assert [r.ok for r in results] == [True] * 5 + [False] * 3
    _assert_refused(box, results[-1], "hostcalls_per_second")
    assert len(_breaches(box)) == 1  # one episode, however many calls it refused
    time.sleep(0.45)  # refills at 5/s
    assert call("fs", op="stat", path=".").ok
    assert all(call("fs", ext="benign", op="stat", path=".").ok for _ in range(5))


def test_write_bytes(open_sandbox: OpenSandbox, pi_env: PiEnv) -> None:
    box, call = _box(open_sandbox, maxWriteBytes=1000)
    assert call("fs", op="write", path="a.txt", data="x" * 600).ok
    refused = call("fs", op="write", path="b.txt", data="y" * 600)
    _assert_refused(box, refused, "write_bytes")
    assert not (pi_env.workspace / "b.txt").exists()
    assert call("tool", name="write", input={"path": "c.txt", "content": "z" * 300}).ok  # still within 1000
    assert call("fs", ext="benign", op="write", path="d.txt", data="w" * 900).ok


def test_read_bytes(open_sandbox: OpenSandbox, pi_env: PiEnv) -> None:
    (pi_env.workspace / "data.txt").write_text("r" * 800)
    box, call = _box(open_sandbox, maxReadBytes=1000)
    assert call("fs", op="read", path="data.txt").ok
    assert call("fs", op="read", path="data.txt").ok  # this one crosses the limit: recorded as a breach
    assert _breaches(box)[-1]["resource"] == "read_bytes"
    _assert_refused(box, call("tool", name="read", input={"path": "data.txt"}), "read_bytes")
    assert call("fs", ext="benign", op="read", path="data.txt").ok


def test_http_requests_and_bytes(open_sandbox: OpenSandbox, server: str) -> None:
    box, call = _box(open_sandbox, maxHttpRequests=2)
    assert call("http", url=server).ok and call("http", url=server).ok
    _assert_refused(box, call("http", url=server), "http_requests")
    box2, call2 = _box(open_sandbox, maxHttpBytes=500)
    assert call2("http", url=server).ok and call2("http", url=server).ok  # 600 bytes: crossed
    _assert_refused(box2, call2("http", url=server), "http_bytes")
    assert call2("http", ext="benign", url=server).ok


def test_concurrent_and_total_subprocesses(open_sandbox: OpenSandbox) -> None:
    box, call = _box(open_sandbox, maxSubprocesses=1, maxSubprocessesTotal=3)
    done: list[HostcallResult] = []
    slow = threading.Thread(target=lambda: done.append(call("exec", cmd="sleep", args=["0.6"])))
    slow.start()
    time.sleep(0.2)
    _assert_refused(box, call("exec", cmd="true"), "subprocesses")
    slow.join()
    assert done[0].ok
    assert call("exec", cmd="true").ok and call("exec", cmd="true").ok  # 3 in total
    _assert_refused(box, call("exec", cmd="true"), "subprocesses_total")
    assert call("exec", ext="benign", cmd="true").ok


def test_exec_wall_time(open_sandbox: OpenSandbox) -> None:
    box, call = _box(open_sandbox, maxExecWallMs=300)
    assert call("exec", cmd="sleep", args=["0.4"]).ok  # crosses 300 ms
    assert _breaches(box)[-1]["resource"] == "exec_wall_ms"
    _assert_refused(box, call("exec", cmd="true"), "exec_wall_ms")
    assert call("exec", ext="benign", cmd="sleep", args=["0.1"]).ok


def test_breaches_feed_trust_into_quarantine(open_sandbox: OpenSandbox) -> None:
    box = open_sandbox(settings={"extensionPolicy": {"quota": {"maxHostcallsPerSecond": 1, "hostcallBurst": 1}},
                                 "extensionTrust": {"quarantineAfterQuotaBreaches": 2}})
    box.controls.registry.observe_load("hostile", "project", "h")
    n = iter(range(1000))
    for _ in range(2):
        box.hostcall("hostile", {"call_id": f"a{next(n)}", "method": "fs", "params": {"op": "stat", "path": "."}})
        box.hostcall("hostile", {"call_id": f"b{next(n)}", "method": "fs", "params": {"op": "stat", "path": "."}})
        time.sleep(1.05)  # a new breach episode
    assert box.controls.registry.state("hostile") is TrustState.QUARANTINED
    after = box.hostcall("hostile", {"call_id": "z", "method": "fs", "params": {"op": "stat", "path": "."}})
    assert after.reason == "quarantined"


def test_probation_halves_the_quota(open_sandbox: OpenSandbox) -> None:
    box, call = _box(open_sandbox, maxWriteBytes=1000)
    box.controls.registry.observe_load("hostile", "project", "h")  # probation: factor 0.5
    assert box.quota_limits("hostile").max_write_bytes == 500
    _assert_refused(box, call("fs", op="write", path="a.txt", data="x" * 600), "write_bytes")
    box.controls.registry.transition("hostile", TrustState.TRUSTED, actor=Actor.OPERATOR,
                                     reason=TransitionReason.OPERATOR_PROMOTION, note="ok")
    assert call("fs", op="write", path="a.txt", data="x" * 600).ok


def test_status_shows_usage_against_limits(open_sandbox: OpenSandbox, pi_env: PiEnv) -> None:
    box, call = _box(open_sandbox, maxWriteBytes=1000)
    assert call("fs", op="write", path="a.txt", data="x" * 600).ok
    call("fs", op="write", path="b.txt", data="y" * 600)
    box.close()
    from pi_sandbox.audit import AuditStore

    with AuditStore.open_read_only(pi_env.state_dir) as store:
        (status,) = quota_status(store, "hostile")
    rows = {r["resource"]: r for r in status["resources"]}
    assert rows["write_bytes"] == {"resource": "write_bytes", "used": 600, "limit": 1000}
    assert status["breaches"][0]["resource"] == "write_bytes"


CPU_HOG = """
export default function (pi: any) {
  pi.registerTool({ name: "spin", execute: async (_id: string, p: any) => {
    const until = Date.now() + p.ms; let n = 0; while (Date.now() < until) { n++; }
    return { content: [{ type: "text", text: String(n) }] };
  } });
}
"""
MEMORY_HOG = """
export default function (pi: any) {
  pi.registerTool({ name: "hog", execute: async () => {
    const a: string[] = []; for (;;) a.push("x".repeat(1 << 20) + a.length);
  } });
  pi.registerTool({ name: "small", execute: async () => ({ content: [{ type: "text", text: "ok" }] }) });
}
"""


def test_cpu_time_stops_the_extension(make_host: MakeHost, ext_dir: Path, open_sandbox: OpenSandbox) -> None:  # noqa: F811
    # 1,000 ms, halved while new code is in probation: 500 ms each. A worker's boot counts too (~150 ms on a
    # loaded 2-core machine), so the calm extension keeps a wide margin and the hog crosses it for sure.
    box = open_sandbox(settings={"extensionPolicy": {"quota": {"maxCpuTimeMs": 1000}}})
    host = make_host(sandbox=box, limits=replace_limits(FAST_LIMITS, call_timeout_s=10.0))
    write_file(ext_dir / "hog.ts", CPU_HOG)
    write_file(ext_dir / "calm.ts", CPU_HOG)
    host.load([source_for(ext_dir / "hog.ts"), source_for(ext_dir / "calm.ts")])
    host.call_tool("calm", "spin", {"ms": 50})
    host.call_tool("hog", "spin", {"ms": 1500})  # crosses its 500 ms of CPU
    with pytest.raises(Exception, match="CPU time quota"):
        host.call_tool("hog", "spin", {"ms": 1})
    assert [b["resource"] for b in _breaches(box, "hog")] == ["cpu_time_ms"]
    assert host.call_tool("calm", "spin", {"ms": 20})["content"][0]["text"]


def test_memory_quota_breach_is_recorded(make_host: MakeHost, ext_dir: Path, open_sandbox: OpenSandbox) -> None:  # noqa: F811
    box = open_sandbox(settings={"extensionPolicy": {"quota": {"maxMemoryMb": 48}}})
    host = make_host(sandbox=box, limits=None)
    write_file(ext_dir / "mem.ts", MEMORY_HOG)
    host.load([source_for(ext_dir / "mem.ts")])
    assert host.call_tool("mem", "small", {})["content"][0]["text"] == "ok"
    with pytest.raises(Exception, match="killed"):
        host.call_tool("mem", "hog", {})
    (breach,) = _breaches(box, "mem")
    assert (breach["resource"], breach["limit"]) == ("memory_mb", 48)
