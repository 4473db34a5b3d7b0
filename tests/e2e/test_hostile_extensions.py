"""Hostile extensions are contained: clear error, ledger entry, alert, and the others keep answering."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from pi_sandbox.errors import ExtensionRuntimeError
from pi_sandbox.runtime.discovery import ExtensionSource
from pi_sandbox.runtime.host import ExtensionHost
from tests.runtime.conftest import MakeHost

HOSTILE = Path(__file__).resolve().parent / "hostile"


def src(name: str) -> ExtensionSource:
    return ExtensionSource(name, HOSTILE / f"{name}.ts", HOSTILE, "cli")


def load(host: ExtensionHost, *names: str) -> dict[str, str]:
    loaded = host.load([src(n) for n in ("canary", *names)])
    return {e.extension_id: e.status for e in loaded}


def canary_answers(host: ExtensionHost) -> bool:
    return host.call_tool("canary", "ping", {})["content"][0]["text"] == "pong"


def runtime_entries(host: ExtensionHost, extension_id: str) -> list[tuple[str, str]]:
    entries = host.sandbox.store.query_ledger(extension_id=extension_id, limit=200)
    return [(e.decision, e.reason) for e in entries if e.kind == "runtime"]


def runtime_alerts(host: ExtensionHost, extension_id: str) -> list[str]:
    return [
        c
        for a in host.sandbox.store.query_alerts(category="runtime", extension_id=extension_id)
        for c in a.reason_codes
    ]


def denials(host: ExtensionHost, extension_id: str) -> list[tuple[str | None, str]]:
    entries = host.sandbox.store.query_ledger(extension_id=extension_id, limit=200)
    return [(e.method, e.reason) for e in entries if e.kind == "hostcall" and e.decision == "deny"]


def test_infinite_loop_in_tool_is_killed_then_restarted(make_host: MakeHost) -> None:
    host = make_host()
    assert load(host, "loop_tool") == {"canary": "loaded", "loop_tool": "loaded"}
    started = time.monotonic()
    with pytest.raises(ExtensionRuntimeError, match="was killed: exceeded the 1.5s time budget"):
        host.call_tool("loop_tool", "spin", {})
    assert time.monotonic() - started < 5
    assert ("kill", "timeout") in runtime_entries(host, "loop_tool")
    assert "timeout" in runtime_alerts(host, "loop_tool")
    assert canary_answers(host)
    # The dead worker is restarted on next use (top level re-run), within the restart budget.
    assert host.call_tool("loop_tool", "ok", {})["content"][0]["text"] == "alive"
    assert host.get("loop_tool").restarts == 1


def test_infinite_loop_in_event_handler_does_not_block_the_event(make_host: MakeHost) -> None:
    host = make_host()
    load(host, "loop_event")
    outcome = host.emit("tool_call", {"toolName": "bash", "input": {"command": "ls"}})
    by_ext = {e["extension_id"]: e for e in outcome["extensions"]}
    assert by_ext["canary"]["handled"] == 1
    assert "was killed" in by_ext["loop_event"]["error"]
    assert outcome["block"] is False
    assert ("kill", "timeout") in runtime_entries(host, "loop_event")
    assert canary_answers(host)


def test_infinite_loop_at_top_level_fails_the_load_only(make_host: MakeHost) -> None:
    host = make_host()
    statuses = load(host, "loop_toplevel")
    assert statuses == {"canary": "loaded", "loop_toplevel": "failed"}
    ext = host.get("loop_toplevel")
    assert ext.error_code == "timeout" and "loop_toplevel.ts" in (ext.error or "")
    assert ("kill", "timeout") in runtime_entries(host, "loop_toplevel")
    assert canary_answers(host)


def test_memory_bomb_is_killed(make_host: MakeHost) -> None:
    host = make_host()
    load(host, "memory_bomb")
    with pytest.raises(ExtensionRuntimeError, match="was killed: out of memory"):
        host.call_tool("memory_bomb", "bomb", {})
    assert ("kill", "oom") in runtime_entries(host, "memory_bomb")
    assert "oom" in runtime_alerts(host, "memory_bomb")
    assert canary_answers(host)


def test_deep_recursion_is_a_contained_error(make_host: MakeHost) -> None:
    host = make_host()
    load(host, "deep_recursion")
    result = host.call_tool("deep_recursion", "recurse", {})
    assert result["isError"] and "call stack" in result["content"][0]["text"]
    assert ("error", "stack_overflow") in runtime_entries(host, "deep_recursion")
    assert host.get("deep_recursion").worker is not None and host.get("deep_recursion").worker.alive  # type: ignore[union-attr]
    assert canary_answers(host)


def test_worker_crash_is_detected_recorded_and_recovered(make_host: MakeHost) -> None:
    host = make_host()
    load(host, "crash")
    exit_result = host.call_tool("crash", "exit", {})  # process.exit cannot end the worker: it throws
    assert exit_result["isError"] and "not allowed" in exit_result["content"][0]["text"]
    worker = host.get("crash").worker
    assert worker is not None and worker.pid is not None
    os.kill(worker.pid, signal.SIGKILL)  # what a native crash of the engine looks like from outside
    with pytest.raises(ExtensionRuntimeError, match="worker process ended unexpectedly"):
        host.call_tool("crash", "ok", {})
    assert ("kill", "crash") in runtime_entries(host, "crash")
    assert canary_answers(host)
    assert host.call_tool("crash", "ok", {})["content"][0]["text"] == "alive"


def test_reads_outside_roots_secrets_exec_and_fetch_are_denied(
    make_host: MakeHost, monkeypatch: pytest.MonkeyPatch, pi_env: object
) -> None:
    monkeypatch.setenv("PI_TEST_SECRET_TOKEN", "tok-7f3e9b1c-supersecret")
    host = make_host()
    load(host, "snoop")
    outside = Path(os.getcwd()).parent.parent / "outside-secret.txt"
    for tool in ("passwd", "traverse"):
        result = host.call_tool("snoop", tool, {})
        assert result["isError"] and "EACCES" in result["content"][0]["text"]
    env_result = host.call_tool("snoop", "env", {})
    assert "supersecret" not in str(env_result)
    for tool in ("spawn", "pi_exec"):
        result = host.call_tool("snoop", tool, {})
        assert result["isError"] and "denied" in result["content"][0]["text"]
    fetched = host.call_tool("snoop", "fetch", {})
    assert fetched["isError"]
    denied = denials(host, "snoop")
    assert ("fs", "path_outside_roots") in denied
    assert {m for m, _ in denied} >= {"fs", "env", "exec"}
    http_entries = [
        e for e in host.sandbox.store.query_ledger(extension_id="snoop", limit=200) if e.method == "http"
    ]
    assert http_entries, "the fetch attempt must be on the ledger"
    ledger_text = str([e.to_dict() for e in host.sandbox.store.query_ledger(extension_id="snoop", limit=200)])
    assert "supersecret" not in ledger_text and "/etc/passwd" not in ledger_text
    assert not outside.exists()
    assert canary_answers(host)


def test_fetch_to_a_local_service_is_refused_under_safe(make_host: MakeHost) -> None:
    import threading
    from http.server import BaseHTTPRequestHandler, HTTPServer

    hits: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            hits.append(self.path)
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"internal secret")

        def log_message(self, *_args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        host = make_host()
        load(host, "snoop")
        url = f"http://127.0.0.1:{server.server_address[1]}/admin"
        result = host.call_tool("snoop", "fetch_local", {"url": url})
        assert result["isError"] and "internal secret" not in str(result)
        assert hits == []  # nothing ever reached the local service
        assert any(m == "http" for m, _ in denials(host, "snoop"))
        assert canary_answers(host)
    finally:
        server.shutdown()
        server.server_close()


def test_prototype_pollution_stays_inside_the_polluter(make_host: MakeHost) -> None:
    host = make_host()
    load(host, "polluter")
    host.call_tool("polluter", "pollute", {})
    assert host.call_tool("polluter", "probe", {})["content"][0]["text"] == "true"
    # The neighbour's objects and the host's view of events are untouched.
    outcome = host.emit("tool_call", {"toolName": "bash", "input": {"command": "ls"}})
    assert outcome["block"] is False
    assert canary_answers(host)


def test_the_workers_python_is_out_of_reach(make_host: MakeHost) -> None:
    host = make_host()
    load(host, "python_probe")
    import json

    probes = json.loads(host.call_tool("python_probe", "escape", {})["content"][0]["text"])
    assert probes["raw"] == "undefined,undefined,undefined,undefined"
    assert probes["builtins"] == "undefined,undefined,undefined,undefined,undefined,undefined,undefined"
    assert probes["importSys"] == "blocked" and probes["importFile"] == "blocked"
    assert probes["hostModule"] == "blocked"
    assert canary_answers(host)


def test_vm_loads_but_gives_no_second_realm_and_no_bridge(make_host: MakeHost) -> None:
    host = make_host()
    assert load(host, "forbidden") == {"canary": "loaded", "forbidden": "loaded"}
    import json

    out = json.loads(host.call_tool("forbidden", "run", {})["content"][0]["text"])
    assert out == {"newContext": "ERR_NOT_SUPPORTED", "createContext": "ERR_NOT_SUPPORTED",
                   "thisContext": "undefined,function", "compiled": "5"}
    assert canary_answers(host)


def test_socket_and_thread_builtins_load_and_their_use_is_denied_and_ledgered(make_host: MakeHost) -> None:
    host = make_host()
    load(host, "dynamic_forbidden")
    codes = host.call_tool("dynamic_forbidden", "sneak", {})["content"][0]["text"].split(",")
    assert codes == ["EACCES", "EACCES", "EACCES"]  # Worker, unix socket, listening server
    entries = [e for e in host.sandbox.store.query_ledger(extension_id="dynamic_forbidden", limit=50)
               if e.method == "net"]
    assert [(e.decision, e.capability, e.reason) for e in entries] == [("deny", "exec", "deny_caps")] * 3
    assert host.sandbox.store.query_alerts(category="policy_violation", extension_id="dynamic_forbidden")
    assert canary_answers(host)
