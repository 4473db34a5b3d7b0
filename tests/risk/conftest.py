"""Risk controller tests: a real Sandbox (real SQLite ledger, real connectors) with the controller on.

``risky_box(enforce=...)`` opens a sandbox whose policy lets the test extension do everything an
attacker would use — exec, http to a local listener, reading the workspace's ``.env`` (its
``readSecretFiles``) — so what refuses an attack is the risk controller, not another stage.
"""

from __future__ import annotations

import http.server
import itertools
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from pi_sandbox.dispatch import Sandbox
from pi_sandbox.dispatch.request import HostcallResult
from tests.conftest import OpenSandbox, PiEnv

EXT = "ext.risky"
#: What the workspace's .env holds: it must never appear in evidence.
SECRET_VALUE = "sk-live-5f3a9c1e7b2d4f60a8e9"


def risky_settings(port: int | None = None, **risk: Any) -> dict[str, Any]:
    """Settings under which only the risk controller can stop the test extension."""
    return {
        "extensionPolicy": {
            "profile": "permissive", "allowDangerous": True,
            "http": {"allowHosts": ["127.0.0.1"], "allowLoopback": True},
            "perExtension": {EXT: {"readSecretFiles": [".env", ".ENV"]}},
        },
        "extensionRisk": {"enabled": True, "enforce": True, **risk},
    }


class Listener:
    """A 127.0.0.1 HTTP server standing in for the attacker's endpoint; records every request path."""

    def __init__(self) -> None:
        self.paths: list[str] = []
        listener = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def _answer(self) -> None:
                listener.paths.append(self.path)
                length = int(self.headers.get("content-length") or 0)
                if length:
                    self.rfile.read(length)
                self.send_response(200)
                self.send_header("content-length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            do_GET = do_POST = _answer

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture()
def listener() -> Iterator[Listener]:
    server = Listener()
    yield server
    server.close()


RiskyBox = Callable[..., Sandbox]


@pytest.fixture()
def risky_box(open_sandbox: OpenSandbox, pi_env: PiEnv, listener: Listener) -> RiskyBox:
    """Factory: a sandbox with the controller on (``enforce`` etc. as keyword arguments)."""
    (pi_env.workspace / ".env").write_text(f"API_TOKEN={SECRET_VALUE}\n")

    def make(**risk: Any) -> Sandbox:
        box = open_sandbox(settings=risky_settings(listener.port, **risk))
        register(box, pi_env)
        return box

    return make


_ids = itertools.count(1)


def register(box: Sandbox, pi_env: PiEnv, extension_id: str = EXT) -> None:
    """Register the extension's own folder (its readSecretFiles apply from then on, as for a loaded one)."""
    root = pi_env.root / "exts" / extension_id
    root.mkdir(parents=True, exist_ok=True)
    box.register_extension(extension_id, root)


def hostcall(box: Sandbox, method: str, params: dict[str, Any], extension_id: str = EXT) -> HostcallResult:
    """One hostcall with a fresh call id."""
    return box.hostcall(extension_id, {"call_id": f"r{next(_ids)}", "method": method, "params": params})


def entry_for(box: Sandbox, result: HostcallResult) -> Any:
    """The ledger entry a result names."""
    [entry] = [e for e in box.store.query_ledger(kind="hostcall") if e.seq == result.ledger_seq]
    return entry


def warm_up(box: Sandbox, workspace: Path, count: int = 20, extension_id: str = EXT) -> None:
    """Ordinary work first, so an attack is not the extension's first call."""
    for i in range(count):
        (workspace / f"f{i}.txt").write_text("x")
        assert hostcall(box, "fs", {"op": "read", "path": f"f{i}.txt"}, extension_id).ok
