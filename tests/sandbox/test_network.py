"""Network for exec children only through the filtering proxy, and only where the settings open it.

The "internet" is the test's own HTTP server on 127.0.0.1 (allowed by an explicit ``allowHosts``
entry, as loopback needs) and a second listener that no rule allows.
"""

from __future__ import annotations

import http.server
import json
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from pi_sandbox.sandbox.launch import PROXY_PORT
from tests.conftest import OpenSandbox, PiEnv
from tests.sandbox.conftest import PY, Host, Listener

FETCH = """
import json, sys, urllib.request, urllib.error
out = {}
for url in sys.argv[1:]:
    try:
        out[url] = urllib.request.urlopen(url, timeout=5).read().decode()
    except urllib.error.HTTPError as e:
        out[url] = e.code
    except OSError as e:
        out[url] = type(e).__name__
print(json.dumps(out))
"""
TUNNEL = """
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), 5)
s.sendall(f"CONNECT {sys.argv[2]} HTTP/1.1\\r\\nHost: {sys.argv[2]}\\r\\n\\r\\n".encode())
reply = s.recv(200).decode()
print(reply.split("\\r\\n")[0])
if " 200 " in reply:
    s.sendall(b"GET /tunnelled HTTP/1.0\\r\\nHost: x\\r\\n\\r\\n")
    data = b""
    while chunk := s.recv(4096):  # HTTP/1.0: the server closes after the body
        data += chunk
    print(data.decode().split("\\r\\n\\r\\n", 1)[1])
"""


class _Hello(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        body = f"hello from {self.path}".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture()
def web() -> Iterator[http.server.ThreadingHTTPServer]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Hello)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def _host(pi_env: PiEnv, open_sandbox: OpenSandbox, network: bool) -> Host:
    pi_env.write_global({"extensionPolicy": {
        "profile": "permissive", "allowDangerous": True,
        "perExtension": {"ext.net": {"sandbox": {"network": network}, "http": {"allowHosts": ["127.0.0.1"]}}}}})
    box = open_sandbox()
    return Host(pi_env, box, pi_env.home, pi_env.home, pi_env.home, pi_env.home)


def test_network_goes_through_the_proxy_and_its_host_policy(
    pi_env: PiEnv, open_sandbox: OpenSandbox, web: http.server.ThreadingHTTPServer, tmp_path: Path
) -> None:
    host = _host(pi_env, open_sandbox, network=True)
    port = web.server_address[1]
    other = Listener(socket.AF_INET, ("127.0.0.2", 0))  # no rule allows 127.0.0.2
    try:
        allowed, denied = f"http://127.0.0.1:{port}/ok", f"http://127.0.0.2:{other.address[1]}/nope"
        out = host.run(PY, "-c", FETCH, allowed, denied, "http://example.invalid/", ext="ext.net")
        results = json.loads(out["stdout"])
        assert results[allowed] == "hello from /ok"
        assert results[denied] == 403 and results["http://example.invalid/"] == 403
        tunnel = host.run(PY, "-c", TUNNEL, str(PROXY_PORT), f"127.0.0.1:{port}", ext="ext.net")
        assert tunnel["stdout"].splitlines() == ["HTTP/1.1 200 Connection established", "hello from /tunnelled"]
        refused = host.run(PY, "-c", TUNNEL, str(PROXY_PORT), f"127.0.0.2:{other.address[1]}", ext="ext.net")
        assert refused["stdout"].strip() == "HTTP/1.1 403 Forbidden"
        # a program that ignores the proxy reaches nothing: the child's only interface is its own loopback
        direct = host.run(PY, "-c", f"import socket; socket.create_connection(('127.0.0.1', {port}), 3)",
                          ext="ext.net")
        assert "ConnectionRefusedError" in direct["stderr"]
        assert other.connections == 0
    finally:
        other.close()
    records = [e for e in host.box.store.query_ledger(extension_id="ext.net", limit=100) if e.kind == "exec_network"]
    assert [(e.decision, e.detail["request"]) for e in records] == [
        ("allow", "GET"), ("deny", "GET"), ("deny", "GET"), ("allow", "CONNECT"), ("deny", "CONNECT")]
    assert all(e.call_id and "host_hash" in e.detail and "127.0.0.1" not in json.dumps(e.detail) for e in records)


def test_no_network_without_the_setting(pi_env: PiEnv, open_sandbox: OpenSandbox,
                                        web: http.server.ThreadingHTTPServer) -> None:
    host = _host(pi_env, open_sandbox, network=False)
    url = f"http://127.0.0.1:{web.server_address[1]}/ok"
    out = host.run(PY, "-c", FETCH, url, ext="ext.net")
    assert json.loads(out["stdout"])[url] in ("URLError", "ConnectionRefusedError")
    env = host.run("env", ext="ext.net")["stdout"]
    assert "PROXY" not in env.upper()
    # the same setting for one extension opens nothing for another
    other = host.run(PY, "-c", FETCH, url, ext="ext.other")
    assert "hello" not in other["stdout"]
