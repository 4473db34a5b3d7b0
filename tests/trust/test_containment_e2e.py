"""Kill switches and quarantine contain a *running* extension: a busy event handler and a live exec child
are stopped within the watcher's bound, from another process's command, without a restart."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from pi_sandbox.config.model import TrustSettings
from pi_sandbox.runtime.host import ExtensionHost, replace_limits
from pi_sandbox.trust import quarantine, set_kill_switch
from tests.runtime.conftest import (  # noqa: F401
    FAST_LIMITS,
    MakeHost,
    ext_dir,
    make_host,
    promote_to_trusted,
    source_for,
    write_file,
)

#: Generous bound for a shared, noisy 2-core machine; the benchmark reports the real figure (~tens of ms).
CONTAINED_WITHIN_S = 2.0

BUSY = """
export default function (pi: any) {
  // Starts a long child (it writes its pid so the test can watch it), then spins: only containment stops it.
  pi.registerTool({ name: "spin_with_child", execute: async (_id: string, p: any) => {
    pi.exec("sh", ["-c", `echo $$ > ${p.pidfile}; exec sleep 61.5`]);
    const until = Date.now() + 60000; while (Date.now() < until) {}
    return { content: [{ type: "text", text: "finished" }] };
  } });
  pi.on("before_agent_start", () => { const until = Date.now() + 60000; while (Date.now() < until) {} });
  pi.registerTool({ name: "ping", execute: async () => ({ content: [{ type: "text", text: "pong" }] }) });
}
"""


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/status", encoding="utf-8") as handle:
            return "State:\tZ" not in handle.read()
    except (FileNotFoundError, ProcessLookupError):  # gone, or exiting while its status was read (ESRCH)
        return False


def _host_pid(marker: bytes) -> int | None:
    """The host pid of the exec child (it runs in its own PID namespace: ``$$`` there is not a host pid)."""
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as handle:
                    if handle.read() == marker:
                        return int(entry)
            except OSError:
                continue
    return None


def _wait_for(predicate: Any, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.005)
    return predicate()


@pytest.fixture()
def busy(make_host: MakeHost, ext_dir: Path, open_sandbox: Any) -> ExtensionHost:  # noqa: F811
    sandbox = open_sandbox(settings={"extensionPolicy": {"profile": "permissive", "allowDangerous": True}})
    host = make_host(sandbox=sandbox, limits=replace_limits(FAST_LIMITS, call_timeout_s=90.0))
    write_file(ext_dir / "busy.ts", BUSY)
    write_file(ext_dir / "bystander.ts", BUSY.replace("busy", "bystander"))
    loaded = host.load([source_for(ext_dir / "busy.ts"), source_for(ext_dir / "bystander.ts")])
    assert [e.status for e in loaded] == ["loaded", "loaded"], [e.error for e in loaded]
    promote_to_trusted(host, "busy")
    return host


def _run_in_thread(fn: Any) -> tuple[threading.Thread, dict[str, Any]]:
    out: dict[str, Any] = {}

    def run() -> None:
        try:
            out["result"] = fn()
        except Exception as exc:  # the contained call ends with an error: that is the point
            out["error"] = exc
        out["ended_at"] = time.monotonic()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, out


@pytest.mark.parametrize("control", ["kill_switch", "quarantine"])
def test_busy_tool_and_its_child_are_contained(busy: ExtensionHost, pi_env: Any, control: str) -> None:
    pidfile = pi_env.workspace / "child.pid"
    thread, out = _run_in_thread(lambda: busy.call_tool("busy", "spin_with_child", {"pidfile": str(pidfile)}))
    assert _wait_for(lambda: pidfile.exists() and pidfile.read_text().strip(), 10), "child never started"
    assert _wait_for(lambda: _host_pid(b"sleep\x0061.5\x00") is not None, 10), "child not found"
    child = _host_pid(b"sleep\x0061.5\x00")
    assert child is not None and _alive(child)
    started = time.monotonic()
    if control == "kill_switch":
        set_kill_switch(pi_env.state_dir, True, "busy", "incident 42: exfil suspected")
    else:
        quarantine(pi_env.state_dir, TrustSettings(), "busy", "incident 42: exfil suspected")
    assert _wait_for(lambda: "ended_at" in out and not _alive(child), CONTAINED_WITHIN_S), (
        f"not contained within {CONTAINED_WITHIN_S}s")
    elapsed = max(out["ended_at"], time.monotonic()) - started
    assert elapsed < CONTAINED_WITHIN_S
    assert "stopped" in str(out.get("error", ""))
    thread.join(5)
    # nothing of it runs any more: tools, handlers, hostcalls
    with pytest.raises(Exception, match="stopped"):
        busy.call_tool("busy", "ping", {})
    reason = "kill_switch" if control == "kill_switch" else "quarantined"
    refused = busy.sandbox.hostcall("busy", {"call_id": "after", "method": "fs", "params": {"op": "stat", "path": "."}})
    assert (refused.ok, refused.reason) == (False, reason)
    entry = busy.sandbox.store.query_ledger(extension_id="busy")[-1]
    assert (entry.decision, entry.reason, entry.detail["stage"]) == ("deny", reason, "trust")
    assert [e.status for e in busy.extensions() if e.extension_id == "busy"] == [
        "killed" if control == "kill_switch" else "quarantined"]
    # the bystander keeps working
    assert busy.call_tool("bystander", "ping", {})["content"][0]["text"] == "pong"
    category = "kill_switch" if control == "kill_switch" else "quarantine"
    assert busy.sandbox.store.query_alerts(category=category, extension_id="busy")


def test_busy_event_handler_is_contained_and_others_still_answer(busy: ExtensionHost, pi_env: Any) -> None:
    thread, out = _run_in_thread(lambda: busy.emit("before_agent_start", {}, only=["busy"]))
    time.sleep(0.3)  # the handler is spinning now
    started = time.monotonic()
    set_kill_switch(pi_env.state_dir, True, None, "global stop")
    assert _wait_for(lambda: "ended_at" in out, CONTAINED_WITHIN_S)
    assert out["ended_at"] - started < CONTAINED_WITHIN_S
    thread.join(5)
    outcome = out["result"]
    assert "stopped" in outcome["extensions"][0]["error"]
    # a global switch stops every extension ...
    with pytest.raises(Exception, match="stopped"):
        busy.call_tool("bystander", "ping", {})
    # ... until it is lifted (also recorded): the next use starts fresh workers
    set_kill_switch(pi_env.state_dir, False, None, "contained, lifting")
    assert _wait_for(lambda: busy.sandbox.controls.blocked("bystander") is None, CONTAINED_WITHIN_S)
    assert busy.call_tool("bystander", "ping", {})["content"][0]["text"] == "pong"
    entries = [(e.decision, e.detail["actor"] != "") for e in busy.sandbox.store.query_ledger(kind="kill_switch")]
    assert entries == [("on", True), ("off", True)]


def test_quarantined_extension_does_not_load_in_a_new_session(
    busy: ExtensionHost, pi_env: Any, ext_dir: Path, make_host: MakeHost, open_sandbox: Any,  # noqa: F811
) -> None:
    quarantine(pi_env.state_dir, TrustSettings(), "busy", "hostile")
    host = make_host(sandbox=open_sandbox())
    [ext] = host.load([source_for(ext_dir / "busy.ts")])
    assert ext.status == "quarantined" and ext.worker is None
    assert "quarantined" in (ext.error or "")
    assert os.path.exists(pi_env.state_dir / "security.db")
