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
