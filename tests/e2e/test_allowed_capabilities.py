# ruff: noqa: E501  (embedded JavaScript extension source)
"""With a permissive, allowDangerous config the same runtime really runs commands, reads the environment
and fetches URLs — and secrets still never reach the extension."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest

from pi_sandbox.runtime.discovery import ExtensionSource
from pi_sandbox.runtime.host import ExtensionHost
from tests.runtime.conftest import MakeHost, promote_to_trusted

ALLOWED = Path(__file__).resolve().parent / "allowed"
SECRET = "sk-e2e-0f1e2d3c4b5a69788796a5b4"


class _Echo(BaseHTTPRequestHandler):
    def do_POST(self) -> None:  # noqa: N802 - http.server naming
        body = self.rfile.read(int(self.headers.get("content-length", "0")))
        reply = b"got " + body
        self.send_response(200)
        self.send_header("content-length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    def log_message(self, *_args: Any) -> None:
        pass


@pytest.fixture()
def local_server() -> Iterator[str]:
    server = HTTPServer(("127.0.0.1", 0), _Echo)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/echo"
    server.shutdown()
    server.server_close()


@pytest.fixture()
def capable(make_host: MakeHost, open_sandbox: Any, monkeypatch: pytest.MonkeyPatch) -> ExtensionHost:
    monkeypatch.setenv("PI_E2E_PLAIN", "plain-value")
    monkeypatch.setenv("PI_E2E_SERVICE_API_KEY", SECRET)
    sandbox = open_sandbox(
        settings={"extensionPolicy": {"profile": "permissive", "allowDangerous": True, "http": {"allowLoopback": True}}}
    )
    host = make_host(sandbox=sandbox)
    [ext] = host.load([ExtensionSource("capable", ALLOWED / "capable.ts", ALLOWED, "cli")])
    assert ext.status == "loaded", ext.error
    promote_to_trusted(host, "capable")
    return host


def text(host: ExtensionHost, tool: str, args: dict[str, Any] | None = None) -> str:
    result = host.call_tool("capable", tool, args or {})
    return str(result["content"][0]["text"])


def test_exec_runs_through_the_pipeline(capable: ExtensionHost) -> None:
    assert text(capable, "pi_exec") == "0:hello world"
    assert text(capable, "exec_sync") == "sync-ok"
    assert text(capable, "spawn_sync") == "0:x"
    allowed = [e for e in capable.sandbox.store.query_ledger(extension_id="capable", limit=50) if e.method == "exec"]
    assert len(allowed) == 3 and all(e.decision == "allow" for e in allowed)


def test_environment_reads_withhold_secrets(capable: ExtensionHost) -> None:
    plain, secret = text(capable, "env").split("|")
    assert plain == "plain-value"
    assert SECRET not in secret
    assert SECRET not in text(capable, "leak_via_exec")  # children never inherit secrets either


def test_fetch_to_an_allowed_local_server(capable: ExtensionHost, local_server: str) -> None:
    assert text(capable, "fetch", {"url": local_server}) == "200:got ping"
