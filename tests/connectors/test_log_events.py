"""The log, events, session and headless ui connectors through the real pipeline."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from pi_sandbox.connectors.log import log_path
from pi_sandbox.dispatch import HostcallResult, Sandbox
from tests.conftest import OpenSandbox, PiEnv

Request = Callable[..., dict[str, Any]]


@pytest.fixture()
def box(open_sandbox: OpenSandbox) -> Sandbox:
    """Safe profile (log and ui are default caps); ext.c has log denied per extension; ext.a may rename the session."""
    return open_sandbox(settings={"extensionPolicy": {"perExtension": {"ext.c": {"deny": ["log", "ui"]},
                                                                       "ext.a": {"allow": ["session_admin"]}}}})


def _call(box: Sandbox, make_request: Request, method: str, ext: str = "ext.a", **params: Any) -> HostcallResult:
    return box.hostcall(ext, make_request(method, params))


def test_log_lines_go_to_a_per_extension_file(pi_env: PiEnv, box: Sandbox, make_request: Request) -> None:
    assert _call(box, make_request, "log", level="warn", message="disk almost full").result == {"written": True,
                                                                                                "shown": True}
    assert _call(box, make_request, "log", level="log", message="plain").ok
    assert _call(box, make_request, "log", ext="ext.b", message="from b").ok
    lines = log_path(pi_env.state_dir, "ext.a").read_text().splitlines()
    assert [line.split(" ", 2)[1:] for line in lines] == [["warn", "disk almost full"], ["info", "plain"]]
    assert log_path(pi_env.state_dir, "ext.b").read_text().endswith("info from b\n")


def test_log_cannot_forge_lines_or_escape_its_file(pi_env: PiEnv, open_sandbox: OpenSandbox,
                                                   make_request: Request) -> None:
    box = open_sandbox(cli_profile="permissive")
    forged = "ok\n2026-01-01T00:00:00Z error forged line\r"
    assert _call(box, make_request, "log", ext="../../evil", message=forged).ok
    path = log_path(pi_env.state_dir, "../../evil")
    assert path.parent == pi_env.state_dir / "logs"
    (line,) = path.read_text().splitlines()
    assert line.endswith("info ok\\n2026-01-01T00:00:00Z error forged line\\r")


def test_log_rejects_bad_levels_and_messages(box: Sandbox, make_request: Request) -> None:
    assert _call(box, make_request, "log", level="shout", message="x").error_code == "invalid_request"
    assert _call(box, make_request, "log", message={"not": "text"}).error_code == "invalid_request"


def test_log_needs_the_log_capability(pi_env: PiEnv, box: Sandbox, make_request: Request,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    result = _call(box, make_request, "log", ext="ext.c", message="x")
    assert (result.error_code, result.reason) == ("denied", "extension_deny")
    assert _call(box, make_request, "ui", ext="ext.c", op="notify", message="y").reason == "extension_deny"
    assert not log_path(pi_env.state_dir, "ext.c").exists()
    assert "[ext.c]" not in capsys.readouterr().err


def test_events_emit_reaches_subscribers(box: Sandbox, make_request: Request) -> None:
    received: list[tuple[str, str, Any]] = []
    box.bus.subscribe(lambda source, event, data: received.append((source, event, data)))
    box.bus.subscribe(lambda source, event, data: None)
    result = _call(box, make_request, "events", op="emit", event="build:done", data={"ok": True})
    assert result.result == {"delivered": 2}
    assert received == [("ext.a", "build:done", {"ok": True})]
    assert _call(box, make_request, "events", op="emit", event="").error_code == "invalid_request"
    assert _call(box, make_request, "events").error_code == "invalid_request"


def test_events_host_operations(box: Sandbox, make_request: Request) -> None:
    box.bus.register_op("send_message", lambda ext, params: {"sent_by": ext, "text": params.get("text")})
    assert _call(box, make_request, "events", op="send_message", text="hi").result == {"sent_by": "ext.a",
                                                                                        "text": "hi"}
    assert _call(box, make_request, "events", op="register_command").result == {"accepted": True,
                                                                                "handled": False}
    assert box.bus.recorded == [("ext.a", "send_message"), ("ext.a", "register_command")]


def test_session_connector(box: Sandbox, make_request: Request) -> None:
    assert _call(box, make_request, "session", op="set_name", name="refactor").result == {"name": "refactor"}
    assert _call(box, make_request, "session", op="append_entry", data={"k": 1}).result == {"index": 0}
    state = _call(box, make_request, "session", op="get_state").result
    assert (state["name"], state["entry_count"]) == ("refactor", 1)
    assert _call(box, make_request, "session", op="get_entries").result["entries"][0]["extension_id"] == "ext.a"
    assert _call(box, make_request, "session", op="drop_table").error_code == "invalid_request"


def test_renaming_the_session_needs_session_admin(box: Sandbox, make_request: Request) -> None:
    """Under safe, an extension without an explicit allow cannot rename the session, in any spelling."""
    assert _call(box, make_request, "session", op="set_name", name="mine").ok
    for op in ("set_name", "SET_NAME", " set-name "):
        result = _call(box, make_request, "session", ext="ext.b", op=op, name="hijacked")
        assert (result.error_code, result.reason, result.capability) == (
            "denied", "not_in_default_caps", "session_admin"), op
    assert _call(box, make_request, "session", ext="ext.b", op="get_name").result == {"name": "mine"}


def test_session_entries_are_namespaced(box: Sandbox, make_request: Request) -> None:
    box.session.add_shared({"type": "message", "data": {"role": "user", "text": "hello"}})
    _call(box, make_request, "session", op="append_entry", data={"secret": "a-state"})
    _call(box, make_request, "session", ext="ext.b", op="append_entry", data={"b": 1})
    # a forged owner in params is ignored: the connector stamps the caller
    _call(box, make_request, "session", ext="ext.b", op="append_entry", data={"b": 2}, extension_id="ext.a")
    seen_b = _call(box, make_request, "session", ext="ext.b", op="get_entries").result["entries"]
    assert [e["extension_id"] for e in seen_b] == [None, "ext.b", "ext.b"]
    assert "a-state" not in str(seen_b)
    seen_a = _call(box, make_request, "session", op="get_entries").result["entries"]
    assert [e["extension_id"] for e in seen_a] == [None, "ext.a"]
    assert _call(box, make_request, "session", ext="ext.b", op="get_state").result["entry_count"] == 3


def test_session_growth_is_capped_per_extension(open_sandbox: OpenSandbox, make_request: Request) -> None:
    box = open_sandbox(settings={"extensionRuntime": {"sessionMaxEntries": 3, "sessionMaxBytes": 64}})
    for i in range(3):
        assert _call(box, make_request, "session", op="append_entry", data=i).ok
    full = _call(box, make_request, "session", op="append_entry", data=3)
    assert (full.error_code, full.reason) == ("quota_exceeded", "session_entries_limit")
    big = _call(box, make_request, "session", ext="ext.b", op="append_entry", data="x" * 100)
    assert (big.error_code, big.reason) == ("quota_exceeded", "session_bytes_limit")
    assert _call(box, make_request, "session", ext="ext.b", op="append_entry", data="small").ok  # b's own budget
    assert box.session.usage("ext.a") == (3, 3) and box.session.usage("ext.b") == (1, 7)
    refusals = [e for e in box.store.query_ledger(limit=100) if e.reason.startswith("session_")]
    assert [(e.extension_id, e.decision, e.detail["stage"]) for e in refusals] == [
        ("ext.a", "deny", "connector"), ("ext.b", "deny", "connector")]
    assert {a.category for a in box.store.query_alerts()} >= {"quota_breach"}


def test_headless_ui_never_blocks_and_says_no(box: Sandbox, make_request: Request) -> None:
    assert _call(box, make_request, "ui", op="confirm", title="delete?").result == {"value": False, "has_ui": False}
    assert _call(box, make_request, "ui", op="select", options=["a"]).result["value"] is None
    assert _call(box, make_request, "ui", op="notify", message="hello").ok
    assert _call(box, make_request, "ui", op="explode").error_code == "invalid_request"
