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
