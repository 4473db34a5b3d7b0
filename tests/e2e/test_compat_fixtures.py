"""Compatibility fixtures (tests/fixtures/extensions/compat): each loads in a real worker under `safe`,
registers, and its tools answer the way pi's own runtime would (API shapes, built-ins, output, polyfills)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pi_sandbox.runtime.discovery import scan_folder
from pi_sandbox.runtime.host import ExtensionHost
from tests.conftest import PiEnv
from tests.runtime.conftest import MakeHost

COMPAT = Path(__file__).resolve().parents[1] / "fixtures" / "extensions" / "compat"


def load(make_host: MakeHost, *names: str, **kwargs: Any) -> ExtensionHost:
    """A host with the named compat fixtures loaded (each must load)."""
    host = make_host(**kwargs)
    sources = [s for s in scan_folder(COMPAT) if s.extension_id in names]
    assert sorted(s.extension_id for s in sources) == sorted(names)
    for ext in host.load(sources):
        assert ext.status == "loaded", ext.error
    return host


def details(result: dict[str, Any]) -> Any:
    assert not result["isError"], result["content"]
    return result["details"]


def text(result: dict[str, Any]) -> str:
    return "".join(str(c.get("text", "")) for c in result["content"])


def test_every_compat_fixture_loads_and_registers(make_host: MakeHost) -> None:
    sources = scan_folder(COMPAT)
    assert len(sources) >= 20
    host = make_host()
    loaded = host.load(sources)
    assert {e.extension_id: e.error for e in loaded if e.status != "loaded"} == {}
    for ext in loaded:
        regs = ext.registrations
        assert any(regs.get(k) for k in ("tools", "commands", "events", "shortcuts")), ext.extension_id


# --- item 5: API shapes -------------------------------------------------------------------------------


def test_current_execute_signature(make_host: MakeHost, pi_env: PiEnv) -> None:
    host = load(make_host, "execute-current")
    result = host.call_tool("execute-current", "probe", {"n": 3}, tool_call_id="tc-1")
    assert details(result) == {"id": "tc-1", "n": 3, "signalAborted": False, "signalIsAbortSignal": True,
                               "cwd": str(pi_env.workspace), "hasUI": False, "updates": 2}
    assert result["updates"] == 2


def test_pre_051_execute_signature(make_host: MakeHost, pi_env: PiEnv) -> None:
    host = load(make_host, "execute-legacy")
    result = host.call_tool("execute-legacy", "legacy", {"n": 1})
    assert details(result) == {"n": 1, "cwd": str(pi_env.workspace), "uiNotify": "function",
                               "sessionEntries": "array", "signalAborted": False, "listened": True}
    assert result["updates"] == 1


def test_bare_results_json_schema_and_prepare_arguments(make_host: MakeHost) -> None:
    host = load(make_host, "execute-minimal")
    assert text(host.call_tool("execute-minimal", "bare", {})) == "bare result"
    assert text(host.call_tool("execute-minimal", "object_result", {})) == '{"a":1}'
    assert text(host.call_tool("execute-minimal", "json_schema", {"q": "x"})) == "q=x"
    prepared = host.call_tool("execute-minimal", "prepared", {"count": "7", "old": "renamed"})
    assert details(prepared) == {"count": 7, "type": "number", "legacyName": "renamed"}
