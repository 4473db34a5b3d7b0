"""Which hosts ``http`` reaches, through the whole pipeline with real settings files (ARCHITECTURE §3.11).

``safe`` reaches no host until ``allowHosts`` names it; non-public addresses need an explicit entry even when
a wildcard matches; ``balanced`` asks per host; a denial names the settings line that would allow the host.
Only 127.0.0.1 is ever contacted (a local server); other names resolve through a fake resolver and are
refused before any connection.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from pi_sandbox.cli.main import main
from pi_sandbox.connectors.http import HttpConnector
from pi_sandbox.dispatch import Sandbox
from pi_sandbox.policy import PromptAnswer, PromptRequest
from pi_sandbox.policy.hosts import host_prompter
from tests.conftest import OpenSandbox, PiEnv


class _Hello(BaseHTTPRequestHandler):
    hits: list[str] = []

    def do_GET(self) -> None:  # noqa: N802 - http.server naming
        _Hello.hits.append(self.headers.get("Host", ""))
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"hello from the local server")

    def log_message(self, *_args: object) -> None:
        pass


@pytest.fixture(scope="module")
def port() -> Iterator[int]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Hello)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield int(httpd.server_address[1])
    httpd.shutdown()


class FakeDns:
    """Names under ``.example.com`` resolve as listed; every lookup is recorded."""

    def __init__(self, table: dict[str, str]) -> None:
        self.table = table
        self.looked_up: list[str] = []

    def __call__(self, host: str, _port: int) -> list[str]:
        self.looked_up.append(host)
        return [self.table[host]]


def _get(box: Sandbox, url: str, ext: str = "ext.a") -> Any:
    return box.hostcall(ext, {"call_id": f"c-{url}", "method": "http", "params": {"url": url}})


def _with_dns(box: Sandbox, dns: FakeDns, ask: Any = None) -> Sandbox:
    box.connectors["http"] = HttpConnector(box.broker, resolver=dns, ask=ask)
    return box


def test_safe_reaches_no_public_host_and_names_the_settings_line(open_sandbox: OpenSandbox) -> None:
    dns = FakeDns({"api.example.com": "93.184.216.34"})
    box = _with_dns(open_sandbox(), dns)
    result = _get(box, "https://api.example.com/v1")
    assert (result.ok, result.error_code) == (False, "denied")
    assert "extensionPolicy.perExtension.ext.a.http.allowHosts" in result.message
    assert '{"extensionPolicy": {"perExtension": {"ext.a": {"http": {"allowHosts": ["api.example.com"]}}}}}' \
        in result.message
    assert dns.looked_up == []  # refused before the name was even resolved: no DNS side channel
    # the capability was allowed (recorded before the effect); the connector's host refusal is recorded after it
    assert [e.decision for e in box.store.query_ledger(extension_id="ext.a") if e.kind == "hostcall"][-1] == "deny"


def test_allow_listed_host_is_reached(open_sandbox: OpenSandbox, port: int) -> None:
    box = open_sandbox(settings={"extensionPolicy": {"http": {"allowHosts": ["127.0.0.1"]}}})
    result = _get(box, f"http://127.0.0.1:{port}/")
    assert result.ok and result.result["body"] == "hello from the local server"
    assert not _get(box, "http://other.test/").ok  # still nothing else


def test_private_address_is_refused_under_a_wildcard(open_sandbox: OpenSandbox, port: int) -> None:
    dns = FakeDns({"www.example.com": "93.184.216.34", "intranet.example.com": "10.20.30.40",
                   "svc.example.com": "127.0.0.1"})
    box = _with_dns(open_sandbox(settings={"extensionPolicy": {"http": {"allowHosts": ["*.example.com"]}}}), dns)
    for host, reason in (("intranet.example.com", "private_address"), ("svc.example.com", "loopback_address")):
        result = _get(box, f"http://{host}:{port}/")
        assert (result.ok, result.error_code) == (False, "denied"), host
        assert "explicit entry" in result.message and host in result.message
        assert reason.replace("_", " ") in result.message
    hits = len(_Hello.hits)
    # an exact entry is explicit: the same loopback name is reached once it is named
    box = _with_dns(open_sandbox(settings={"extensionPolicy": {"http": {
        "allowHosts": ["*.example.com", "svc.example.com"]}}}), dns)
    assert _get(box, f"http://svc.example.com:{port}/").ok
    assert _Hello.hits[hits:] == [f"svc.example.com:{port}"]


def test_per_extension_hosts_apply_to_that_extension_only(open_sandbox: OpenSandbox, port: int) -> None:
    box = open_sandbox(settings={"extensionPolicy": {"perExtension": {
        "ext.a": {"http": {"allowHosts": ["127.0.0.1"]}},
        "ext.b": {"http": {"denyHosts": ["127.0.0.1"]}}}}})
    assert _get(box, f"http://127.0.0.1:{port}/", "ext.a").ok
    other = _get(box, f"http://127.0.0.1:{port}/", "ext.c")
    assert not other.ok and "perExtension.ext.c.http.allowHosts" in other.message
    denied = _get(box, f"http://127.0.0.1:{port}/", "ext.b")
    assert not denied.ok and "denyHosts" in denied.message


def test_a_redirect_to_an_unlisted_host_is_refused(open_sandbox: OpenSandbox, port: int) -> None:
    class Redirect(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            self.send_response(302)
            self.send_header("Location", "http://elsewhere.example.com/steal")
            self.end_headers()

        def log_message(self, *_args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Redirect)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        dns = FakeDns({})
        box = _with_dns(open_sandbox(settings={"extensionPolicy": {"http": {"allowHosts": ["127.0.0.1"]}}}), dns)
        result = _get(box, f"http://127.0.0.1:{httpd.server_address[1]}/")
        assert not result.ok and "elsewhere.example.com" in result.message and dns.looked_up == []
    finally:
        httpd.shutdown()


class Recorder:
    """A prompter that answers per host and remembers what it was asked."""

    def __init__(self, answers: dict[str, PromptAnswer]) -> None:
        self.answers = answers
        self.asked: list[PromptRequest] = []

    def ask(self, request: PromptRequest) -> PromptAnswer | None:
        self.asked.append(request)
        return self.answers.get(request.target or "")


def test_balanced_asks_per_host(open_sandbox: OpenSandbox, pi_env: PiEnv, port: int,
                                capsys: pytest.CaptureFixture[str]) -> None:
    dns = FakeDns({"api.example.com": "10.1.2.3", "evil.example.com": "93.184.216.34"})
    recorder = Recorder({"127.0.0.1": PromptAnswer(True, "always"), "api.example.com": PromptAnswer(True, "session"),
                         "evil.example.com": PromptAnswer(False, "once")})
    # allowLoopback lets the local test server count as an ordinary host; a prompt never opens private ranges
    box = open_sandbox(settings={"extensionPolicy": {"profile": "balanced", "http": {"allowLoopback": True}}},
                       prompter=recorder)
    _with_dns(box, dns, ask=host_prompter(box.prompts))
    assert _get(box, f"http://127.0.0.1:{port}/").ok
    assert _get(box, f"http://127.0.0.1:{port}/").ok  # remembered: asked once
    denied = _get(box, f"http://evil.example.com:{port}/")
    assert not denied.ok and "not approved" in denied.message and "allowHosts" in denied.message
    assert dns.looked_up == []  # the user said no before the name was looked up
    # a name the user approves still needs an explicit entry when it resolves to a non-public address
    assert not _get(box, f"http://api.example.com:{port}/").ok
    assert [r.target for r in recorder.asked] == ["127.0.0.1", "evil.example.com", "api.example.com"]
    assert {r.capability.value for r in recorder.asked} == {"http"}
    # the 'always' answer is remembered per host and listed with the host
    assert main(["policy", "decisions", "--json"]) == 0
    assert [d["capability"] for d in json.loads(capsys.readouterr().out)] == ["http:127.0.0.1"]
    assert main(["policy", "revoke", "-e", "ext.a", "--capability", "http", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"revoked": 1}


def test_balanced_without_a_ui_denies(open_sandbox: OpenSandbox, port: int) -> None:
    box = open_sandbox(settings={"extensionPolicy": {"profile": "balanced", "http": {"allowLoopback": True}}})
    _with_dns(box, FakeDns({}), ask=host_prompter(box.prompts))
    result = _get(box, f"http://127.0.0.1:{port}/")
    assert not result.ok and "not approved" in result.message


def test_explain_lists_the_hosts_and_their_sources(pi_env: PiEnv, capsys: pytest.CaptureFixture[str]) -> None:
    pi_env.write_global({"extensionPolicy": {"http": {"allowHosts": ["api.github.com", "*.githubusercontent.com"]},
                                             "perExtension": {"ext.a": {"http": {"allowHosts": ["127.0.0.1"]}}}}})
    assert main(["--explain-extension-policy", "-e", "ext.a", "--json"]) == 0
    hosts = json.loads(capsys.readouterr().out)["http_hosts"]
    assert [(e["pattern"], e["key"]) for e in hosts["allow"]] == [
        ("api.github.com", "extensionPolicy.http.allowHosts"),
        ("*.githubusercontent.com", "extensionPolicy.http.allowHosts"),
        ("127.0.0.1", "extensionPolicy.perExtension.ext.a.http.allowHosts")]
    assert all(str(pi_env.global_settings) in e["source"] for e in hosts["allow"])
    assert hosts["unlisted_hosts"] == "deny"
    assert main(["--explain-extension-policy"]) == 0
    out = capsys.readouterr().out
    assert "api.github.com" in out and "unlisted hosts" in out and str(pi_env.global_settings) in out


@pytest.mark.parametrize("entry", ["https://api.example.com", "api.example.com:443", "api.*.com", "a b",
                                   "*example.com", "bücher.example"])
def test_bad_host_entries_are_config_errors(pi_env: PiEnv, capsys: pytest.CaptureFixture[str], entry: str) -> None:
    pi_env.write_global({"extensionPolicy": {"http": {"allowHosts": [entry]}}})
    assert main(["policy", "check", "-e", "x", "--capability", "http"]) == 2
    err = capsys.readouterr().err
    assert "extensionPolicy.http.allowHosts" in err and entry in err
