"""Issue 9, items 1 and 2, end to end: a real hostile extension (``hostile/host_hog.ts``) asks the host for
work that used to freeze it, grow it without bound or reach other extensions, next to a well-behaved guard
(``hostile/guard.ts``) and the canary. Each test checks that the host stays responsive (the guard's calls
finish in their normal time while the hog misbehaves), that the hog and nobody else is charged, and that
every call is in the ledger.

Everything hostile targets the test's own temp workspace or its own 127.0.0.1 listener.
"""

from __future__ import annotations

import json
import os
import statistics
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from pi_sandbox.audit.port import FOLDED_KIND
from pi_sandbox.audit.verify import verify_ledger
from pi_sandbox.runtime.discovery import ExtensionSource
from pi_sandbox.runtime.host import ExtensionHost
from tests.conftest import PiEnv
from tests.runtime.conftest import MakeHost

HOSTILE = Path(__file__).resolve().parent / "hostile"
HOG = "host_hog"
#: The drip server would hold a call this long; the http deadline below ends it far sooner.
DRIP_SECONDS = 30
HTTP_DEADLINE_MS = 2000


class _Drip(BaseHTTPRequestHandler):
    """Sends headers, then one byte every 0.2 s for DRIP_SECONDS: never trips a per-read timeout."""

    def do_GET(self) -> None:  # noqa: N802 - http.server naming
        steps = int(DRIP_SECONDS / 0.2)
        self.send_response(200)
        self.send_header("Content-Length", str(steps))
        self.end_headers()
        try:
            for _ in range(steps):
                self.wfile.write(b"d")
                self.wfile.flush()
                time.sleep(0.2)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def log_message(self, *_args: object) -> None:
        pass


@pytest.fixture(scope="module")
def drip_url() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Drip)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/drip"
    httpd.shutdown()


def _src(name: str) -> ExtensionSource:
    return ExtensionSource(name, HOSTILE / f"{name}.ts", HOSTILE, "cli")


SETTINGS: dict[str, Any] = {
    "extensionPolicy": {"http": {"allowHosts": ["127.0.0.1"]}},
    "extensionRuntime": {
        "hostcallDeadlineMs": {"http": HTTP_DEADLINE_MS},
        "maxFsIoBytes": 1024 * 1024,
        "sessionMaxEntries": 25,
        "sessionMaxBytes": 64 * 1024,
        "maxAlertsPerMinute": 5,
    },
}


@pytest.fixture()
def host(make_host: MakeHost) -> ExtensionHost:
    """canary, guard, then the hog (load order matters for tool_call: the guard decides first)."""
    made = make_host(sandbox_kwargs={"settings": SETTINGS})
    loaded = made.load([_src("canary"), _src("guard"), _src(HOG)])
    assert {e.extension_id: e.status for e in loaded} == {"canary": "loaded", "guard": "loaded", HOG: "loaded"}
    return made


def _text(result: dict[str, Any]) -> str:
    return "".join(str(c.get("text", "")) for c in result["content"])


def _hog(host: ExtensionHost, tool: str, **params: Any) -> str:
    return _text(host.call_tool(HOG, tool, params))


def _guard_read(host: ExtensionHost) -> float:
    """One ordinary guard call that makes an fs hostcall; returns its duration."""
    started = time.monotonic()
    assert _text(host.call_tool("guard", "read", {"path": "notes.txt"})) == "6"
    return time.monotonic() - started


def _responsive_while(host: ExtensionHost, misbehave: Callable[[], str], *, rounds: int = 8) -> tuple[str, float]:
    """Run ``misbehave`` on its own thread; meanwhile the guard makes ``rounds`` calls. Every guard call must
    finish in its normal time, and all of them before the hog's call returns. Returns the hog's answer and
    how long it took."""
    baseline = statistics.median(_guard_read(host) for _ in range(5))
    answer: list[str] = []
    hog_started = time.monotonic()
    hog_took: list[float] = []

    def run() -> None:
        answer.append(misbehave())
        hog_took.append(time.monotonic() - hog_started)

    thread = threading.Thread(target=run)
    thread.start()
    time.sleep(0.2)  # the hog's call is under way
    during = [_guard_read(host) for _ in range(rounds)]
    hog_was_running = thread.is_alive()
    thread.join(timeout=60)
    assert not thread.is_alive(), "the hog's call never returned"
    assert hog_was_running, "the hog finished before the guard's calls: nothing was measured"
    # Normal time: a generous multiple of the quiet median (the machine is shared), never the hog's wait.
    assert max(during) < max(10 * baseline, 0.75), (baseline, during)
    return answer[0], hog_took[0]


def _ledger(host: ExtensionHost, extension_id: str) -> list[Any]:
    return host.sandbox.store.query_ledger(extension_id=extension_id, limit=1000)


def _charged_only_to_hog(host: ExtensionHost, reason: str) -> None:
    report = verify_ledger(host.sandbox.store)  # nothing was lost or broken while the hog misbehaved
    assert report.chain_valid, report.to_dict()
    for innocent in ("canary", "guard"):
        assert not [e for e in _ledger(host, innocent) if e.reason == reason or e.kind == "runtime"], innocent
        # (loading records an informational trust_transition alert for every extension)
        assert not [a for a in host.sandbox.store.query_alerts(extension_id=innocent)
                    if a.category != "trust_transition"], innocent
        assert host.get(innocent).restarts == 0 and host.get(innocent).status == "loaded"


@pytest.fixture(autouse=True)
def _notes(pi_env: PiEnv) -> None:
    (pi_env.workspace / "notes.txt").write_text("needle")


def test_slow_drip_http_times_out_at_its_deadline_and_only_the_caller_waits(host: ExtensionHost,
                                                                            drip_url: str) -> None:
    answer, took = _responsive_while(host, lambda: _hog(host, "fetch", url=drip_url))
    assert answer.startswith("error timeout|"), answer
    assert took < HTTP_DEADLINE_MS / 1000 + 3  # the deadline, not the server's 30 s
    timeouts = [e for e in _ledger(host, HOG) if e.decision == "timeout" or e.reason == "http_timeout"]
    assert timeouts and all(e.extension_id == HOG and e.method == "http" for e in timeouts)
    alerts = host.sandbox.store.query_alerts(extension_id=HOG)
    assert {c for a in alerts for c in a.reason_codes} & {"hostcall_deadline", "http_timeout"} or \
        [e for e in timeouts if e.reason == "http_timeout"]
    _charged_only_to_hog(host, "hostcall_deadline")
    assert _text(host.call_tool("canary", "ping", {})) == "pong"


def test_catastrophic_regex_runs_in_linear_time_and_backreferences_are_refused(host: ExtensionHost,
                                                                               pi_env: PiEnv) -> None:
    # (a+)+$ against a line of a's ending in b: exponential on a backtracking engine (Python re, JS), and
    # it held the interpreter lock while it ran. 5 000 lines of 60 a's: hours of backtracking per line.
    (pi_env.workspace / "evil.txt").write_text(("a" * 60 + "b\n") * 5000)
    started = time.monotonic()
    answer = _hog(host, "grep", pattern="(a+)+$", path=".")
    assert answer == "No matches found" and time.monotonic() - started < 10
    for pattern in (r"(a)\1", r"(?=a)a", r"(?<!x)a"):  # backreference, look-ahead, look-behind
        refused = _hog(host, "grep", pattern=pattern, path=".")
        assert refused.startswith("error invalid_request|unsupported_pattern|"), refused
        assert "RE2" in refused and "literal" in refused
    assert "needle" not in _hog(host, "grep", pattern="(a+)+$", path=".")
    assert _hog(host, "grep", pattern="ne+dle", path=".") == "notes.txt:1: needle"
    _charged_only_to_hog(host, "unsupported_pattern")


def test_an_overlong_glob_or_pattern_is_refused_at_once(host: ExtensionHost) -> None:
    """A 300 KB glob went to fnmatch, whose Python ``re`` compiler froze the supervisor ~12 s with the
    interpreter lock held (no deadline stops a compile); a multi-megabyte pattern made RE2 log a line per node
    to the host's stderr. Both are refused before anything is compiled; an ordinary glob still filters."""
    for args in ({"pattern": "needle", "glob": "*a" * 150_000}, {"pattern": "(a|b)" * 200_000},
                 {"pattern": "needle", "glob": "[ab]" * 80_000}):
        started = time.monotonic()
        answer = _hog(host, "grep", path=".", **args)
        assert time.monotonic() - started < 3, args
        assert answer.startswith("error invalid_request|pattern_too_long|"), answer[:200]
    assert _hog(host, "grep", pattern="needle", path=".", glob="*.txt") == "notes.txt:1: needle"
    _charged_only_to_hog(host, "pattern_too_long")
    assert _text(host.call_tool("canary", "ping", {})) == "pong"


def test_fifos_and_devices_are_refused_at_once(host: ExtensionHost, pi_env: PiEnv) -> None:
    os.mkfifo(pi_env.workspace / "pipe")
    started = time.monotonic()
    answer = _hog(host, "write", path="pipe")  # opening a FIFO for writing waits for a reader: forever
    assert time.monotonic() - started < 10
    assert answer.startswith("error EACCES|") and "is a FIFO, socket or device" in answer, answer
    assert "is a FIFO, socket or device" in _hog(host, "read", path="pipe")
    denied = [e for e in _ledger(host, HOG) if e.reason == "special_file"]
    assert [e.decision for e in denied] == ["deny", "deny"]
    _charged_only_to_hog(host, "special_file")


def test_writes_past_the_byte_cap_are_refused_and_charged(host: ExtensionHost, pi_env: PiEnv) -> None:
    big = 3 * 1024 * 1024
    answer = _hog(host, "write", path="big.bin", repeat=big)
    assert answer.startswith("error EFBIG|") and "extensionRuntime.maxFsIoBytes" in answer, answer
    assert not (pi_env.workspace / "big.bin").exists()
    assert _hog(host, "write", path="small.bin", repeat=1000) == "wrote"
    sizes = [e.detail.get("write_bytes") for e in _ledger(host, HOG) if e.method == "fs"]
    assert big in sizes and 1000 in sizes  # who asked to write how much is evidence
    _charged_only_to_hog(host, "too_large")


def test_session_is_namespaced_capped_and_cannot_be_renamed(host: ExtensionHost) -> None:
    assert _text(host.call_tool("guard", "note", {})) == "noted"
    flood = _hog(host, "flood", count=10_000)
    assert flood.startswith("appended 25 then error quota_exceeded|session_entries_limit|"), flood
    assert host.sandbox.session.usage(HOG)[0] == 25 and host.sandbox.session.usage("guard")[0] == 1
    seen = json.loads(_hog(host, "entries"))
    assert {owner for owner, _type, _data in seen} == {HOG}  # never the guard's entry
    assert "guard-private" not in json.dumps(seen)
    assert "guard-private" in _text(host.call_tool("guard", "entries", {}))
    renamed = _hog(host, "rename")
    assert renamed.startswith("error ") and "session_admin" in renamed
    assert host.sandbox.session.name is None
    refusals = [(e.decision, e.reason) for e in _ledger(host, HOG) if e.method == "session" and e.decision == "deny"]
    assert ("deny", "session_entries_limit") in refusals and len(refusals) == 2
    _charged_only_to_hog(host, "session_entries_limit")


def test_messages_for_the_agent_are_capped_like_session_entries(host: ExtensionHost) -> None:
    """Every sendMessage / sendUserMessage stayed in the host's outbox for the whole session, uncapped: 1 MiB
    messages in a loop grew the supervisor by ~16 MB a second. They now take the session caps (here 25
    messages, 64 KiB), by size first and by count after; the refusals are the hog's alone."""
    def hog_queued() -> list[dict[str, Any]]:
        return [m for m in host.outbox if m["extension_id"] == HOG]

    big = _hog(host, "messages", count=100, pad=30_000)  # ~30 KB each: the third passes 64 KiB
    assert big.startswith("sent 2 then error quota_exceeded|session_messages_limit|"), big[:300]
    assert "sessionMaxBytes" in big
    assert len(hog_queued()) == 2
    many = _hog(host, "messages", count=10_000)
    assert many.startswith("sent 23 then error quota_exceeded|session_messages_limit|"), many[:300]
    assert "sessionMaxEntries" in many
    queued = hog_queued()
    assert len(queued) == 25 and {m["kind"] for m in queued} == {"message", "user_message"}
    assert sum(len(json.dumps(m)) for m in queued) < 64 * 1024 + 25 * 200
    refusals = [e for e in _ledger(host, HOG) if e.method == "events" and e.decision == "deny"]
    assert [e.reason for e in refusals] == ["session_messages_limit"] * 2
    _charged_only_to_hog(host, "session_messages_limit")
    assert _text(host.call_tool("guard", "note", {})) == "noted"  # the guard's own session budget is untouched


def test_events_waiting_for_delivery_are_bounded(host: ExtensionHost) -> None:
    """Every ``pi.events.emit`` waited in the host until the call ended: 1 MiB events in a loop made the
    supervisor hold ~250 MB after 8 s (~1 GB within one 30 s call), and past 200 they were dropped without a
    word. Now the emitter is refused (``event_queue_full``) past 16 MiB or 200 events waiting; what was queued
    is delivered, and the next call starts empty."""
    from pi_sandbox.runtime.host import MAX_BUS_QUEUE_BYTES, MAX_BUS_QUEUE_EVENTS

    big = _hog(host, "emit", count=1000, pad=1024 * 1024)
    fit = MAX_BUS_QUEUE_BYTES // (1024 * 1024 + 40)
    assert big.startswith(f"emitted {fit} then error quota_exceeded|event_queue_full|"), big[:300]
    seen = json.loads(_text(host.call_tool("guard", "seen", {})))
    assert len(seen) == fit  # what was queued was delivered
    many = _hog(host, "emit", count=10_000)
    assert many.startswith(f"emitted {MAX_BUS_QUEUE_EVENTS} then error quota_exceeded|event_queue_full|"), many[:300]
    assert _hog(host, "emit", count=3) == "emitted 3"  # a new call, an empty queue
    assert len(json.loads(_text(host.call_tool("guard", "seen", {})))) == fit + MAX_BUS_QUEUE_EVENTS + 3
    refusals = [e for e in _ledger(host, HOG) if e.method == "events" and e.decision == "deny"]
    assert [e.reason for e in refusals] == ["event_queue_full"] * 2
    _charged_only_to_hog(host, "event_queue_full")


def test_one_extension_filling_the_event_queue_refuses_no_other_extension(host: ExtensionHost) -> None:
    """The bound on waiting events is each emitter's own: while the hog's call holds 200 queued events, the
    guard's emit (another extension's call, running meanwhile) is queued and delivered. It was one queue for
    everybody, so the hog could have every other extension's events refused (``event_queue_full``)."""
    from pi_sandbox.runtime.host import MAX_BUS_QUEUE_EVENTS

    answer: list[str] = []
    thread = threading.Thread(target=lambda: answer.append(
        _hog(host, "emit", count=MAX_BUS_QUEUE_EVENTS + 5, holdMs=1000)))  # held under callTimeoutMs
    thread.start()
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not [e for e in _ledger(host, HOG) if e.reason == "event_queue_full"]:
            time.sleep(0.01)  # the hog's 201st emit was refused: its 200 wait, and it holds its call
        # seen 0: the hog's events were still waiting (its call had not ended) when the guard emitted
        assert _text(host.call_tool("guard", "emit", {})) == "emitted, seen 0"
    finally:
        thread.join(timeout=60)
    assert answer and answer[0].startswith(f"emitted {MAX_BUS_QUEUE_EVENTS} then error quota_exceeded|"
                                           "event_queue_full"), answer
    assert len(json.loads(_text(host.call_tool("guard", "seen", {})))) == MAX_BUS_QUEUE_EVENTS  # all delivered
    assert not [e for e in _ledger(host, "guard") if e.method == "events" and e.decision == "deny"]


def test_every_emitters_waiting_events_are_delivered(host: ExtensionHost) -> None:
    """Each emitter may have 200 events waiting; a flush delivers all that wait when it starts (three emitters:
    600), not a fixed 400 that cut the third emitter's silently."""
    from pi_sandbox.runtime.host import MAX_BUS_QUEUE_EVENTS

    for source in ("canary", HOG, "x-unloaded"):  # what the events connector hands the bus for each emitter
        for n in range(MAX_BUS_QUEUE_EVENTS):
            host.sandbox.bus.handle(source, "emit", {"event": "chan", "data": {"n": n, "from": source}})
    host.call_tool("guard", "seen", {})  # a host call ends: the queue is delivered
    seen = [json.loads(item) for item in json.loads(_text(host.call_tool("guard", "seen", {})))]
    assert len(seen) == 3 * MAX_BUS_QUEUE_EVENTS
    assert {item["from"] for item in seen} == {"canary", HOG, "x-unloaded"}


def test_messages_and_events_carry_the_real_sender(host: ExtensionHost) -> None:
    heard: list[tuple[str, str]] = []
    host.sandbox.bus.subscribe(lambda source, event, _data: heard.append((source, event)))
    assert _hog(host, "spoof") == "sent"
    assert [(m["kind"], m["extension_id"]) for m in host.outbox] == [("message", HOG), ("user_message", HOG)]
    assert all("canary" not in json.dumps({k: v for k, v in m.items() if k == "extension_id"}) for m in host.outbox)
    assert heard == [(HOG, "chan")]
    events = [e for e in _ledger(host, HOG) if e.method == "events"]
    assert len(events) == 3 and {e.decision for e in events} == {"allow"}
    assert not [e for e in _ledger(host, "canary") if e.method == "events"]


def test_a_later_handler_cannot_rewrite_a_call_the_guard_approved(host: ExtensionHost) -> None:
    outcome = host.emit("tool_call", {"toolName": "bash", "input": {"command": "ls"}})
    assert outcome["block"] is False
    assert outcome["data"]["input"] == {"command": "ls"} and outcome["data"]["toolName"] == "bash"
    assert outcome["rewrites_refused"] == [HOG] and "guard" in outcome["approved_by"]
    # Blocking stays possible; and the guard still blocks what it must.
    assert host.emit("tool_call", {"toolName": "bash", "input": {"command": "rm -rf /tmp/x"}})["blocked_by"] == "guard"
    swapped = host.emit("tool_call", {"toolName": "swap", "input": {}})
    assert swapped["data"]["toolName"] == "swap" and swapped["rewrites_refused"] == [HOG]
    recorded = [e for e in _ledger(host, HOG) if e.kind == "runtime" and e.reason == "tool_call_rewrite_refused"]
    assert [e.decision for e in recorded] == ["deny", "deny"]
    _charged_only_to_hog(host, "tool_call_rewrite_refused")


def test_alert_floods_are_folded_but_every_call_is_in_the_ledger(host: ExtensionHost) -> None:
    for _ in range(20):
        assert "error" in _hog(host, "read", path="/etc/passwd")
    denied = [e for e in _ledger(host, HOG) if e.method == "fs" and e.decision == "deny"]
    assert len(denied) == 20  # hostcall decisions are never folded
    alerts = host.sandbox.store.query_alerts(extension_id=HOG)
    assert len([a for a in alerts if a.category == "policy_violation"]) == 5
    assert len([a for a in alerts if FOLDED_KIND in a.reason_codes]) == 1
    host.sandbox.evidence.flush()
    (summary,) = [e for e in _ledger(host, HOG) if e.kind == FOLDED_KIND]
    assert summary.detail["folded"] == {"alert:policy_violation": 15}
    _charged_only_to_hog(host, FOLDED_KIND)
