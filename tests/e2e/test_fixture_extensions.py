"""Every benign fixture extension (TS/JS, ESM/CJS, single/multi-file, packages) loads under `safe`."""

from __future__ import annotations

from pathlib import Path

from pi_sandbox.runtime.discovery import scan_folder
from tests.runtime.conftest import MakeHost

BENIGN = Path(__file__).resolve().parents[1] / "fixtures" / "extensions" / "benign"


def test_all_benign_fixtures_load_and_register(make_host: MakeHost) -> None:
    sources = scan_folder(BENIGN)
    assert len(sources) >= 10
    host = make_host()
    loaded = host.load(sources)
    failures = {e.extension_id: e.error for e in loaded if e.status != "loaded"}
    assert failures == {}
    for ext in loaded:
        regs = ext.registrations
        registered = sum(len(regs.get(k, [])) for k in ("tools", "commands", "events", "busChannels", "shortcuts"))
        assert registered > 0, f"{ext.extension_id} registered nothing"
    # Every fixture is still answering after all the others loaded.
    assert all(e.worker is not None and e.worker.alive for e in host.extensions())


HOSTILE = BENIGN.parent / "hostile"


def test_append_entry_reads_back_through_the_session_manager(make_host: MakeHost) -> None:
    host = make_host()
    [ext] = host.load([s for s in scan_folder(BENIGN) if s.extension_id == "messaging"])
    assert ext.status == "loaded", ext.error
    host.run_command("messaging", "remember", "buy milk")
    host.run_command("messaging", "remember", "call bob")
    assert host.call_tool("messaging", "memories", {})["details"]["texts"] == ["buy milk", "call bob"]


def test_polluted_realm_keeps_its_bridge_and_neighbours_are_clean(make_host: MakeHost) -> None:
    host = make_host()
    sources = [s for s in scan_folder(HOSTILE) if s.extension_id == "proto-pollution"]
    sources += [s for s in scan_folder(BENIGN) if s.extension_id == "hello-tool"]
    loaded = {e.extension_id: e for e in host.load(sources)}
    assert loaded["proto-pollution"].status == "loaded", loaded["proto-pollution"].error
    result = host.call_tool("proto-pollution", "still_works", {})
    assert result["content"][0]["text"] == "bridge ok"
    assert result["details"]["namespaceWrite"] == "TypeError:true"
    assert loaded["hello-tool"].status == "loaded"
