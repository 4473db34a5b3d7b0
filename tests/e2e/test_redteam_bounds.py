"""Red-team variants of host bounds, by a real hostile extension (``hostile/redteam.ts``): values nested
hundreds of levels deep through every way one reaches the supervisor and on to other extensions. Each is a
clear error for the caller only — never a Python exception out of the host, never a killed worker, never a
neighbour harmed (an event 990 levels deep raised RecursionError out of the emitter's call while it was
delivered to the other extensions; a tool result that deep killed its own worker)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pi_sandbox.errors import ExtensionRuntimeError
from pi_sandbox.runtime.discovery import ExtensionSource
from pi_sandbox.runtime.host import ExtensionHost
from tests.runtime.conftest import MakeHost

HOSTILE = Path(__file__).resolve().parent / "hostile"
EXT = "redteam"


@pytest.fixture()
def host(make_host: MakeHost) -> ExtensionHost:
    made = make_host()
    loaded = made.load([ExtensionSource(n, HOSTILE / f"{n}.ts", HOSTILE, "cli") for n in ("canary", "guard", EXT)])
    assert [e.status for e in loaded] == ["loaded"] * 3, [e.error for e in loaded]
    return made


@pytest.mark.parametrize("depth", [300, 990])
@pytest.mark.parametrize("via", ["entry", "event", "message", "result", "log", "fs"])
def test_deeply_nested_values_fail_the_caller_only(host: ExtensionHost, via: str, depth: int) -> None:
    try:
        result = host.call_tool(EXT, "deep", {"depth": depth, "via": via, "kind": "object" if depth < 900 else "array"})
        text = str(result["content"][0]["text"])
    except ExtensionRuntimeError as exc:  # the tool failed with the reason (a too-deep result)
        text = str(exc)
        assert via == "result" and "nested too deeply" in text, text
    if text.startswith("error"):
        assert "invalid_request" in text and ("nested too deeply" in text or "not JSON" in text), text
    if via in ("event", "message") and depth > 255:  # refused before it is passed on
        assert "nested too deeply to pass on" in text, text
    ext = host.get(EXT)
    assert ext.status == "loaded" and ext.restarts == 0 and ext.worker is not None and ext.worker.alive
    assert host.call_tool("canary", "ping", {})["content"][0]["text"] == "pong"
    assert host.get("guard").restarts == 0 and host.call_tool("guard", "seen", {})["isError"] is False


@pytest.mark.parametrize("via", ["entry", "event", "message"])
def test_params_nested_past_the_json_reader_get_the_real_reason_and_are_recorded(host: ExtensionHost,
                                                                                 via: str) -> None:
    """Params nested deeper than JSON is read here (~1,000 levels) were refused as "'params' must be a JSON
    object" (the worker sent null in their place): the caller now reads the real reason with the limit, the
    ledger's invalid entry says so, and nobody is harmed."""
    result = host.call_tool(EXT, "deep", {"depth": 1500, "via": via, "kind": "array"})
    text = str(result["content"][0]["text"])
    assert text.startswith("error invalid_request") and "nested too deeply" in text, text
    assert "must be a JSON object" not in text and "1,000 levels" in text, text
    invalid = [e for e in host.sandbox.store.query_ledger(extension_id=EXT) if e.decision == "invalid"]
    assert invalid and invalid[-1].detail.get("params_too_deep") is True, invalid[-1:]
    ext = host.get(EXT)
    assert ext.status == "loaded" and ext.restarts == 0 and ext.worker is not None and ext.worker.alive
    assert host.call_tool("canary", "ping", {})["content"][0]["text"] == "pong"
