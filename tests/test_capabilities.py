"""The method → capability table (INV-001/002, SLO-12: mapping completeness 100%)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from pi_sandbox.capabilities import (
    ALL_CAPABILITIES,
    DANGEROUS_CAPABILITIES,
    FS_OP_ALIASES,
    FS_OP_CAPABILITY,
    KNOWN_METHODS,
    NET_OP_CAPABILITY,
    SELF_NAMED_METHODS,
    TOOL_NAME_CAPABILITY,
    Capability,
    parse_capability,
    required_capability,
)
from pi_sandbox.dispatch import Sandbox
from pi_sandbox.errors import InvalidRequestError

#: A representative, valid params object for every known method (one per method, test-owned).
SAMPLE_PARAMS: dict[str, dict[str, Any]] = {
    "tool": {"name": "read", "input": {"path": "x"}},
    "fs": {"op": "stat", "path": "."},
    "exec": {"cmd": "true"},
    "env": {"name": "HOME"},
    "http": {"url": "https://example.invalid/"},
    "session": {"op": "get_state"},
    "ui": {"op": "notify"},
    "events": {"op": "emit", "event": "x"},
    "log": {"level": "info", "message": "m"},
    "net": {"op": "connect", "host": "example.invalid", "port": 443},
}

#: Independent expectation of the table, written from the spec (upstream-reference §2).
EXPECTED_TOOL = {"read": "read", "grep": "read", "find": "read", "ls": "read",
                 "write": "write", "edit": "write", "bash": "exec"}
EXPECTED_FS = {"read": "read", "list": "read", "readdir": "read", "stat": "read",
               "write": "write", "mkdir": "write", "delete": "write", "remove": "write", "rm": "write"}


def test_capability_names_and_dangerous_set() -> None:
    assert [c.value for c in ALL_CAPABILITIES] == [
        "read", "write", "http", "events", "session", "ui", "exec", "env", "tool", "log", "session_admin"]
    assert {c.value for c in DANGEROUS_CAPABILITIES} == {"exec", "env"}


def test_every_known_method_has_a_capability_mapping() -> None:
    """Enumerates KNOWN_METHODS: each derives a capability (SLO-12 / INV-001)."""
    assert set(SAMPLE_PARAMS) == set(KNOWN_METHODS), "a method was added without a test sample"
    for method in sorted(KNOWN_METHODS):
        cap = required_capability(method, SAMPLE_PARAMS[method])
        assert isinstance(cap, Capability)
        if method in SELF_NAMED_METHODS:
            assert cap.value == method
    # Self-named methods map to themselves whatever the sub-operation says.
    for method in SELF_NAMED_METHODS:
        assert required_capability(method, {"op": "write", "name": "bash"}).value == method


def test_session_ops_that_change_the_session_need_session_admin() -> None:
    for op in ("set_name", " SET_NAME ", "set-name", "set_model", "set_thinking_level"):
        assert required_capability("session", {"op": op}) is Capability.SESSION_ADMIN, op
    for op in ("get_name", "append_entry", "get_entries", "set_label", "get_state"):
        assert required_capability("session", {"op": op}) is Capability.SESSION, op


def test_every_fs_op_and_alias_maps() -> None:
    assert set(FS_OP_CAPABILITY) | set(FS_OP_ALIASES) == set(EXPECTED_FS)
    for op, expected in EXPECTED_FS.items():
        assert required_capability("fs", {"op": op}).value == expected, op
        assert required_capability("fs", {"op": f" {op.upper()} "}).value == expected, op


#: Independent expectation: a TCP/TLS client is network egress (http); everything else that reaches past the
#: http and exec mediation (unix sockets, servers, UDP, threads, the debugger port) is exec.
EXPECTED_NET = {"connect": "http", "connect_unix": "exec", "listen": "exec", "udp": "exec", "thread": "exec",
                "inspector": "exec"}


def test_every_net_op_maps_and_unknown_ops_are_invalid() -> None:
    assert set(NET_OP_CAPABILITY) == set(EXPECTED_NET)
    for op, expected in EXPECTED_NET.items():
        assert required_capability("net", {"op": op}).value == expected, op
        assert required_capability("net", {"op": f" {op.upper()} "}).value == expected, op
    for bad in ({"op": "bind_raw"}, {}, {"op": 5}):
        with pytest.raises(InvalidRequestError, match="net op"):
            required_capability("net", bad)


def test_every_builtin_tool_name_maps_and_other_tools_need_tool() -> None:
    assert set(TOOL_NAME_CAPABILITY) == set(EXPECTED_TOOL)
    for name, expected in EXPECTED_TOOL.items():
        assert required_capability("tool", {"name": name}).value == expected, name
        assert required_capability("tool", {"name": name.upper()}).value == expected, name
    for other in ("my_tool", "search-web", "Bashful"):
        assert required_capability("tool", {"name": other}) is Capability.TOOL


def test_method_names_are_case_insensitive() -> None:
    assert required_capability(" FS ", {"op": "write"}) is Capability.WRITE
    assert required_capability("Exec", {}) is Capability.EXEC


@pytest.mark.parametrize(
    ("method", "params"),
    [
        ("fsx", {"op": "read"}),
        ("shell", {}),
        ("", {}),
        ("fs", {"op": "chmod"}),
        ("fs", {}),
        ("fs", {"op": 3}),
        ("tool", {"name": ""}),
        ("tool", {"name": "   "}),
        ("tool", {}),
        ("tool", {"name": None}),
    ],
)
def test_underivable_calls_raise_invalid_request(method: str, params: dict[str, Any]) -> None:
    with pytest.raises(InvalidRequestError):
        required_capability(method, params)


def test_parse_capability() -> None:
    assert parse_capability(" EXEC ") is Capability.EXEC
    with pytest.raises(InvalidRequestError, match="unknown capability 'root'"):
        parse_capability("root")


# --- through the real pipeline: nothing runs for an underivable call ----------------------------


@pytest.mark.parametrize(
    ("method", "params"),
    [
        ("fsx", {"op": "write", "path": "pwned.txt", "data": "x"}),
        ("fs", {"op": "writ", "path": "pwned.txt", "data": "x"}),
        ("fs", {"op": "", "path": "pwned.txt", "data": "x"}),
        ("tool", {"name": "", "input": {"path": "pwned.txt", "content": "x"}}),
        ("tool", {"input": {"path": "pwned.txt", "content": "x"}}),
    ],
    ids=["unknown-method", "unknown-fs-op", "empty-fs-op", "empty-tool-name", "missing-tool-name"],
)
def test_underivable_hostcall_is_invalid_and_nothing_runs(
    open_sandbox: Callable[..., Sandbox], make_request: Callable[..., dict[str, Any]],
    method: str, params: dict[str, Any],
) -> None:
    box = open_sandbox(cli_profile="permissive")  # even the loosest policy must not run it
    result = box.hostcall("ext.a", make_request(method, params))
    assert not result.ok
    assert result.error_code == "invalid_request"
    assert not (box.config.project_dir / "pwned.txt").exists()
    entries = box.store.query_ledger(extension_id="ext.a")
    assert [(e.decision, e.reason) for e in entries] == [("invalid", "invalid_request")]
    assert entries[0].capability is None


@pytest.mark.parametrize(
    "request_obj",
    [
        {"method": "fs", "params": {"op": "stat", "path": "."}},
        {"call_id": "", "method": "fs", "params": {"op": "stat", "path": "."}},
        {"call_id": "c1", "method": "fs", "params": ["op", "stat"]},
        {"call_id": "c1", "method": "fs"},
        {"call_id": "c1", "method": 7, "params": {}},
        {"call_id": "c1", "method": "fs", "params": {"op": "stat", "path": "."}, "capability": 5},
        {"call_id": "c1", "method": "log", "params": {}, "timeout_ms": -1},
        "not an object",
    ],
    ids=["no-call-id", "empty-call-id", "params-array", "no-params", "method-not-string",
         "capability-not-string", "bad-timeout", "not-a-mapping"],
)
def test_malformed_request_is_invalid_and_recorded(sandbox: Sandbox, request_obj: Any) -> None:
    result = sandbox.hostcall("ext.a", request_obj)
    assert (result.ok, result.error_code) == (False, "invalid_request")
    entries = sandbox.store.query_ledger(extension_id="ext.a")
    assert [e.decision for e in entries] == ["invalid"]
