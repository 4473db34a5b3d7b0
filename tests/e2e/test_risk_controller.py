"""A real hostile extension in a real worker: the runtime risk controller stops its exfiltration.

The extension may read the workspace's ``.env`` (``readSecretFiles``), run commands and reach the test's
127.0.0.1 listener: policy and mediation let every single call through, so what stops it is the
sequence. In enforce mode nothing reaches the listener, the refusals are ledgered with their score and
features, and three of them quarantine the extension; in shadow mode the same calls go through and the
refusals it would have made are recorded. Ordinary work of the same extension is never refused.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pi_sandbox.runtime.discovery import ExtensionSource
from pi_sandbox.runtime.host import ExtensionHost
from pi_sandbox.trust import TrustState
from pi_sandbox.vocabulary import AlertCategory, Reason
from tests.risk.conftest import SECRET_VALUE, Listener
from tests.runtime.conftest import MakeHost, promote_to_trusted

HOSTILE = Path(__file__).resolve().parent / "hostile"
EXT = "exfiltrator"


def _host(make_host: MakeHost, open_sandbox: Any, pi_env: Any, enforce: bool) -> ExtensionHost:
    (pi_env.workspace / ".env").write_text(f"API_TOKEN={SECRET_VALUE}\n")
    (pi_env.workspace / "README.md").write_text("# project\n")
    sandbox = open_sandbox(settings={
        "extensionPolicy": {"profile": "permissive", "allowDangerous": True,
                            "http": {"allowHosts": ["127.0.0.1"], "allowLoopback": True},
                            "perExtension": {EXT: {"readSecretFiles": [".env"]}}},
        "extensionRisk": {"enforce": enforce}})
    host = make_host(sandbox=sandbox)
    [ext] = host.load([ExtensionSource(EXT, HOSTILE / "exfiltrator.ts", HOSTILE, "cli")])
    assert ext.status == "loaded", ext.error
    promote_to_trusted(host, EXT)  # exec without a prompt: only the risk controller stands in the way
    return host


def _call(host: ExtensionHost, tool: str, **params: Any) -> str:
    return str(host.call_tool(EXT, tool, params)["content"][0]["text"])


def _risk_refusals(host: ExtensionHost) -> list[Any]:
    return [e for e in host.sandbox.store.query_ledger(kind="hostcall", extension_id=EXT)
            if e.reason == Reason.RISK_DENIED]


@pytest.fixture()
def listener() -> Any:
    server = Listener()
    yield server
    server.close()


def test_enforce_refuses_exfiltration_and_quarantines(make_host: MakeHost, open_sandbox: Any, pi_env: Any,
                                                      listener: Listener) -> None:
    host = _host(make_host, open_sandbox, pi_env, enforce=True)
    for _ in range(3):
        assert _call(host, "work", url=f"{listener.url}/page").startswith("ok:")
    assert len(listener.paths) == 3

    out = _call(host, "dropper")  # writes stage.sh, runs it through child_process
    assert out.startswith("err:") and "risk" in out, out
    out = _call(host, "steal_fetch", url=f"{listener.url}/loot")  # fs read of .env, then fetch
    assert out.startswith("err:") and "risk" in out, out
    # cat .env through child_process: the third refusal quarantines the extension in the middle of its tool
    with pytest.raises(Exception, match="quarantined"):
        _call(host, "steal_exec", url=f"{listener.url}/loot2")
    assert not [p for p in listener.paths if "loot" in p]

    refusals = _risk_refusals(host)
    assert [e.method for e in refusals] == ["exec", "http", "exec"]
    features = [set(e.detail["risk"]["features"]) for e in refusals]
    assert "write_then_exec" in features[0]
    assert "secret_then_egress" in features[1] and "secret_then_egress" in features[2]
    assert len(host.sandbox.store.query_alerts(category=AlertCategory.ANOMALY_DENIAL, extension_id=EXT)) == 3
    # quarantined: even its ordinary work stops
    assert host.sandbox.controls.registry.state(EXT) is TrustState.QUARANTINED
    with pytest.raises(Exception, match="quarantined"):
        _call(host, "work", url=f"{listener.url}/after")
    assert not [p for p in listener.paths if "after" in p]
    for entry in host.sandbox.store.query_ledger():
        assert SECRET_VALUE not in json.dumps(entry.to_dict())


def test_shadow_only_records(make_host: MakeHost, open_sandbox: Any, pi_env: Any, listener: Listener) -> None:
    host = _host(make_host, open_sandbox, pi_env, enforce=False)
    assert _call(host, "work", url=f"{listener.url}/page").startswith("ok:")
    assert _call(host, "steal_fetch", url=f"{listener.url}/loot") == "ok:200"
    assert "/loot" in listener.paths  # shadow mode refuses nothing (the listener is the test's own)
    assert _risk_refusals(host) == []
    alarms = [r.payload for r in host.sandbox.store.query_records(kind="risk_alarm", extension_id=EXT)]
    assert alarms and alarms[0]["action"] == "shadow_deny" and alarms[0]["method"] == "http"
    assert host.sandbox.store.query_alerts(category=AlertCategory.ANOMALY_DENIAL) == []
    assert host.sandbox.controls.registry.state(EXT) is not TrustState.QUARANTINED
