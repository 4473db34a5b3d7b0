"""Red team (secret broker), end to end: credentials in values and bare names no rule knew (see
``tests/mediation/test_secret_values_redteam.py``) are read by a real extension through ``process.env``,
``Object.keys`` and the whole environment: it sees none of them, and ordinary variables stay readable."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pi_sandbox.runtime.discovery import ExtensionSource
from tests.mediation.test_secret_values_redteam import SECRET_VALUES
from tests.runtime.conftest import MakeHost, promote_to_trusted


def test_an_extension_reads_none_of_them(make_host: MakeHost, ext_dir: Path) -> None:
    """End to end: the names and values above, through ``process.env`` reads, ``Object.keys`` and the whole
    environment stringified, in a real worker."""
    fixture = Path(__file__).resolve().parents[1] / "fixtures" / "extensions" / "hostile" / "secret-env.js"
    env: dict[str, str | None] = {f"APP_SETTING_{i}": v for i, v in enumerate(sorted(SECRET_VALUES))}
    env.update({"CONNECTION_STRING": "Server=db;Database=app", "WEBHOOK_URL": "https://example.com/in/abc",
                "DSN": "mysql:host=db", "APP_MODE": "production"})
    settings: dict[str, Any] = {"extensionPolicy": {"profile": "permissive", "allowDangerous": True}}
    host = make_host(sandbox_kwargs={"settings": settings, "env": env})
    loaded = host.load([ExtensionSource("secret-env", fixture, fixture.parent, "cli")])
    assert [e.status for e in loaded] == ["loaded"], [e.error for e in loaded]
    promote_to_trusted(host, "secret-env")  # reviewed: its env reads need no prompt (headless would deny them)
    names = sorted(env)
    details = host.call_tool("secret-env", "read_secrets", {"names": names})["details"]
    assert details["values"]["APP_MODE"] == "production"  # the broker is on and env is allowed
    assert {n: v for n, v in details["values"].items() if n != "APP_MODE"} == {
        n: "[REDACTED]" for n in names if n != "APP_MODE"}
    assert "APP_MODE" in details["enumerated"] and not set(details["enumerated"]) & (set(names) - {"APP_MODE"})
    shown = json.dumps(details)
    assert not [v for v in env.values() if v and v != "production" and v in shown]
