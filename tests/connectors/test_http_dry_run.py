"""A dry run of an ``http`` hostcall reaches the decision the real call would (host lists, the resolved addresses,
private ranges), without sending anything: ``pi-sandbox debug hostcall --dry-run`` and ``Sandbox.hostcall``.

Only 127.0.0.1 is ever contacted (a local listener, and only by real calls made for comparison); other names
resolve through a fake resolver.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from pi_sandbox.audit import AuditStore
from pi_sandbox.cli.main import main
from pi_sandbox.connectors.http import HttpConnector
from pi_sandbox.dispatch import Sandbox
from tests.conftest import OpenSandbox, PiEnv
from tests.connectors.test_http_hosts import FakeDns


class _Listener(BaseHTTPRequestHandler):
    hits: list[str] = []

    def do_GET(self) -> None:  # noqa: N802 - http.server naming
        _Listener.hits.append(self.path)
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"reached")

    def log_message(self, *_args: object) -> None:
        pass


@pytest.fixture(scope="module")
def port() -> Iterator[int]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Listener)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield int(httpd.server_address[1])
    httpd.shutdown()


def _call(box: Sandbox, url: str, *, dry_run: bool, ext: str = "ext.a") -> Any:
    return box.hostcall(ext, {"call_id": f"c-{dry_run}-{url}", "method": "http", "params": {"url": url}},
                        dry_run=dry_run)


def _dns(box: Sandbox, dns: FakeDns) -> Sandbox:
    box.connectors["http"] = HttpConnector(box.broker, resolver=dns)
    return box


@pytest.mark.parametrize(("settings", "path", "allowed"), [
    ({}, "/nothing-listed", False),  # safe: no host until listed
    ({"http": {"allowHosts": ["127.0.0.1"]}}, "/listed", True),
    ({"http": {"allowHosts": ["127.0.0.1"], "denyHosts": ["127.0.0.1"]}}, "/deny-wins", False),
    ({"perExtension": {"ext.a": {"http": {"allowHosts": ["127.0.0.1"]}}}}, "/per-extension", True),
    ({"perExtension": {"ext.b": {"http": {"allowHosts": ["127.0.0.1"]}}}}, "/other-extension", False),
])
def test_a_dry_run_decides_like_the_real_call_and_sends_nothing(
    open_sandbox: OpenSandbox, port: int, settings: dict[str, Any], path: str, allowed: bool
) -> None:
    box = open_sandbox(settings={"extensionPolicy": settings})
    url = f"http://127.0.0.1:{port}{path}"
    dry = _call(box, url, dry_run=True)
    assert _Listener.hits.count(path) == 0, "a dry run sent the request"
    assert dry.ok is allowed, dry.to_dict()
    real = _call(box, url, dry_run=False)
    assert (real.ok, real.error_code) == (dry.ok, dry.error_code)
    assert _Listener.hits.count(path) == (1 if allowed else 0)
    if allowed:
        assert dry.result == {"dry_run": True, "decision": "allow"}
    else:
        assert dry.error_code == "denied" and (dry.reason, dry.message) == (real.reason, real.message)


def test_a_dry_run_resolves_the_name_and_refuses_a_private_answer(open_sandbox: OpenSandbox) -> None:
    dns = FakeDns({"www.example.com": "93.184.216.34", "intranet.example.com": "10.20.30.40",
                   "svc.example.com": "127.0.0.1", "meta.example.com": "169.254.169.254"})
    box = _dns(open_sandbox(settings={"extensionPolicy": {"http": {"allowHosts": ["*.example.com"]}}}), dns)
    for host in ("intranet.example.com", "svc.example.com", "meta.example.com"):
        result = _call(box, f"http://{host}/", dry_run=True)
        assert (result.ok, result.error_code) == (False, "denied"), host
        assert "explicit entry" in result.message and host in result.message
    assert _call(box, "https://www.example.com/", dry_run=True).ok
    assert dns.looked_up == ["intranet.example.com", "svc.example.com", "meta.example.com", "www.example.com"]
    # a name no rule can allow is refused before it is resolved, as the real call does
    assert not _call(box, "https://unlisted.test/", dry_run=True).ok
    assert "unlisted.test" not in dns.looked_up
    # each refusal is recorded as the real call's would be (a second entry after the allow), marked dry_run
    with AuditStore.open(box.config.state_dir) as store:
        entries = [e for e in store.query_ledger(extension_id="ext.a") if e.kind == "hostcall"]
    denied = [e for e in entries if e.decision == "deny"]
    assert len(denied) == 4 and all(e.detail.get("dry_run") is True for e in denied)


def test_bad_urls_are_refused_in_a_dry_run_too(open_sandbox: OpenSandbox) -> None:
    box = open_sandbox(settings={"extensionPolicy": {"http": {"allowHosts": ["127.0.0.1"]}}})
    for url in ("ftp://127.0.0.1/x", "http:///nohost", "http://127.0.0.1:99999/"):
        dry = _call(box, url, dry_run=True)
        real = _call(box, url, dry_run=False)
        assert (dry.ok, dry.error_code, dry.reason) == (False, real.error_code, real.reason), url


def _debug(url: str, ext: str = "ext.dbg") -> list[str]:
    return ["debug", "hostcall", "--extension", ext, "--method", "http", "--params", json.dumps({"url": url}),
            "--dry-run", "--json"]


def test_debug_hostcall_dry_run_refuses_what_the_real_call_refuses(
    pi_env: PiEnv, port: int, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(_debug(f"http://127.0.0.1:{port}/cli-refused")) == 1
    doc = json.loads(capsys.readouterr().out)
    assert (doc["ok"], doc["error_code"]) == (False, "denied") and "allowHosts" in doc["message"]
    pi_env.global_settings.write_text(json.dumps({"extensionPolicy": {"http": {"allowHosts": ["127.0.0.1"]}}}))
    assert main(_debug(f"http://127.0.0.1:{port}/cli-allowed")) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["ok"] and doc["result"] == {"dry_run": True, "decision": "allow"}
    assert main(_debug("http://localhost.invalid./")) == 1  # a name that does not resolve: as the real call
    capsys.readouterr()
    assert "/cli-refused" not in _Listener.hits and "/cli-allowed" not in _Listener.hits
