"""The http connector against a real local server on 127.0.0.1 (nothing leaves the machine)."""

from __future__ import annotations

import base64
import json
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from pi_sandbox.audit import AuditStore
from pi_sandbox.audit.port import StoreEvidence
from pi_sandbox.capabilities import Capability
from pi_sandbox.config.hosts import parse_address, parse_host_pattern
from pi_sandbox.config.model import HttpSettings
from pi_sandbox.connectors.base import ConnectorContext
from pi_sandbox.connectors.http import HttpConnector
from pi_sandbox.errors import ConnectorError
from pi_sandbox.mediation.paths import PathRules
from pi_sandbox.mediation.secret_broker import SecretBroker, value_fingerprint
from pi_sandbox.policy.hosts import address_class
from tests.conftest import MakeConfig, OpenSandbox, PiEnv

SECRET = "xoxb-" + "2048-4096-Tq9Wr8Es7Dz6Xc5Vb4Nm3"


class Handler(BaseHTTPRequestHandler):
    """Routes: /echo (request back as JSON), /big, /leak, /slow, /redirect?to=URL&code=N."""

    def log_message(self, *_args: Any) -> None:
        return

    def _reply(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        try:
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout / size cap tests)
            pass

    def _handle(self) -> None:
        url = urllib.parse.urlsplit(self.path)
        query = dict(urllib.parse.parse_qsl(url.query))
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if url.path == "/raw":  # the bytes back as they came
            self._reply(200, raw, {"Content-Type": "application/octet-stream"})
            return
        if url.path == "/rawleak":
            self._reply(200, b"\xff\x00" + SECRET.encode() + b"\xfe", {"Content-Type": "application/octet-stream"})
            return
        body = raw.decode()
        if url.path == "/echo":
            payload = {"method": self.command, "body": body, "headers": {k.lower(): v for k, v in self.headers.items()}}
            self._reply(200, json.dumps(payload).encode(), {"Content-Type": "application/json", "X-Test": "1"})
        elif url.path == "/big":
            self._reply(200, b"x" * int(query.get("n", "5000")))
        elif url.path == "/leak":
            text = f"raw={SECRET} b64={base64.b64encode(SECRET.encode()).decode()}"
            self._reply(200, text.encode(), {"X-Leak": SECRET})
        elif url.path == "/slow":
            time.sleep(1.5)
            self._reply(200, b"late")
        elif url.path == "/drip":
            # A slow-drip server: headers at once, then one byte every `gap` seconds (never trips a read timeout).
            self.send_response(200)
            self.send_header("Content-Length", query.get("n", "40"))
            self.end_headers()
            try:
                for _ in range(int(query.get("n", "40"))):
                    self.wfile.write(b"d")
                    self.wfile.flush()
                    time.sleep(float(query.get("gap", "0.1")))
            except (BrokenPipeError, ConnectionResetError):
                pass
        elif url.path == "/drip-headers":
            # Drips the status line and headers themselves, one byte at a time.
            try:
                for byte in b"HTTP/1.1 200 OK\r\nX-Slow: " + b"s" * 60:
                    self.wfile.write(bytes([byte]))
                    self.wfile.flush()
                    time.sleep(0.05)
            except (BrokenPipeError, ConnectionResetError):
                pass
            self.close_connection = True
        elif url.path == "/redirect":
            self._reply(int(query.get("code", "302")), b"", {"Location": query.get("to", "/redirect")})
        else:
            self._reply(404, b"nope")

    do_GET = do_POST = do_PUT = do_DELETE = _handle


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


MakeHttp = Callable[..., tuple[HttpConnector, ConnectorContext, AuditStore]]


@pytest.fixture()
def http_ctx(make_config: MakeConfig, pi_env: PiEnv) -> Iterator[MakeHttp]:
    stores: list[AuditStore] = []

    def build(
        resolver: Callable[[str, int], list[str]] | None = None, **http: Any
    ) -> tuple[HttpConnector, ConnectorContext, AuditStore]:
        config = make_config(env={"SLACK_TOKEN": SECRET})
        # The local server is reached through an explicit entry, as an operator would allow it.
        config = replace(config, http=HttpSettings(**{"allow_hosts": ("127.0.0.1",), **http}))
        store = AuditStore.open(config.state_dir)
        stores.append(store)
        ctx = ConnectorContext("ext", "c1", "http", Capability.HTTP, PathRules((pi_env.workspace,)), config,
                               StoreEvidence(store))
        broker = SecretBroker(config.secret_broker, config.environ)
        conn = HttpConnector(broker, resolver=resolver) if resolver else HttpConnector(broker)
        return conn, ctx, store

    yield build
    for store in stores:
        store.close()


def test_get_and_post(http_ctx: MakeHttp, server: str) -> None:
    conn, ctx, _ = http_ctx()
    out = conn.call(ctx, {"method": "POST", "url": server + "/echo", "headers": {"X-A": "b"}, "body": "hello"})
    assert out["status"] == 200 and out["headers"]["x-test"] == "1"
    echoed = json.loads(out["body"])
    assert (echoed["method"], echoed["body"], echoed["headers"]["x-a"]) == ("POST", "hello", "b")
    assert conn.call(ctx, {"url": server + "/missing"})["status"] == 404


@pytest.mark.parametrize(
    "where",
    ["body", "body_b64", "binary_body", "binary_body_b64", "header", "header_name", "url_query", "url_encoded"],
)
def test_outbound_secret_is_blocked_with_alert(open_sandbox: OpenSandbox, server: str, where: str) -> None:
    """The mediation stage scans every string of the request; nothing is sent, one deny entry is left."""
    box = open_sandbox(env={"SLACK_TOKEN": SECRET, "PI_HTTP_ALLOW_LOOPBACK": "1"})
    store = box.store
    params: dict[str, Any] = {"method": "POST", "url": server + "/echo", "body": "ok"}
    if where == "body":
        params["body"] = f"token={SECRET}"
    elif where == "body_b64":
        params["body"] = json.dumps({"t": base64.b64encode(SECRET.encode()).decode()})
    elif where.startswith("binary_body"):
        # bytes that are not text travel as `body_base64`: the value at an offset that hides it from the
        # base64 spelling's alignment, raw or itself base64-encoded inside the bytes
        inner = SECRET.encode() if where == "binary_body" else base64.b64encode(SECRET.encode())
        del params["body"]
        params["body_base64"] = base64.b64encode(b"\xff\x00" + inner + b"\xfe").decode()
    elif where == "header":
        params["headers"] = {"Authorization": f"Bearer {SECRET}"}
    elif where == "header_name":
        params["headers"] = {SECRET: "x"}
    elif where == "url_query":
        params["url"] = f"{server}/echo?t={SECRET}"
    else:
        params["url"] = f"{server}/echo?t={urllib.parse.quote(SECRET + '/x', safe='')}"
    result = box.hostcall("ext", {"call_id": "c1", "method": "http", "params": params})
    assert (result.ok, result.error_code, result.reason) == (False, "denied", "secret_exposure")
    (entry,) = store.query_ledger(extension_id="ext")
    assert (entry.decision, entry.detail["stage"]) == ("deny", "mediation")
    (alert,) = store.query_alerts(category="secret_exposure")
    assert alert.severity == "critical" and alert.context_hash == value_fingerprint(SECRET)
    assert SECRET not in json.dumps([alert.summary, alert.reason_codes, alert.remediation, result.message])


def test_binary_bodies_travel_as_base64_both_ways(http_ctx: MakeHttp, server: str) -> None:
    conn, ctx, _ = http_ctx()
    sent = bytes(range(255, -1, -1))
    out = conn.call(ctx, {"method": "POST", "url": server + "/raw",
                          "body_base64": base64.b64encode(sent).decode()})
    assert "body" not in out and base64.b64decode(out["body_base64"]) == sent
    leak = conn.call(ctx, {"url": server + "/rawleak"})
    raw = base64.b64decode(leak["body_base64"])
    assert SECRET.encode() not in raw and raw == b"\xff\x00[REDACTED]\xfe"
    for bad in ({"body_base64": "not base64!"}, {"body_base64": "AA==", "body": "x"}, {"body_base64": 5}):
        with pytest.raises(ConnectorError):
            conn.call(ctx, {"method": "POST", "url": server + "/raw", **bad})


def test_response_is_redacted(http_ctx: MakeHttp, server: str) -> None:
    conn, ctx, _ = http_ctx()
    out = conn.call(ctx, {"url": server + "/leak"})
    assert SECRET not in json.dumps(out) and base64.b64encode(SECRET.encode()).decode() not in out["body"]
    assert out["body"].count("[REDACTED]") == 2 and out["headers"]["x-leak"] == "[REDACTED]"


def test_loopback_needs_an_explicit_entry_even_under_a_wildcard(http_ctx: MakeHttp, server: str) -> None:
    conn, ctx, _ = http_ctx(allow_hosts=("*",))
    for url in (
        server + "/echo",
        server.replace("127.0.0.1", "localhost") + "/echo",
        "http://[::1]:9/x",
        "http://0.0.0.0:9/",
    ):
        with pytest.raises(ConnectorError) as err:
            conn.call(ctx, {"url": url})
        assert err.value.code == "denied" and err.value.reason in ("loopback_address", "unspecified_address")
        assert "explicit entry" in str(err.value)
    conn, ctx, _ = http_ctx(allow_hosts=("*",), allow_loopback=True)  # the development switch
    assert conn.call(ctx, {"url": server + "/echo"})["status"] == 200


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("169.254.169.254", "metadata_address"),
        ("169.254.1.1", "link_local_address"),
        ("fe80::1", "link_local_address"),
        ("100.100.100.200", "metadata_address"),
        ("fd00:ec2::254", "metadata_address"),
        ("127.8.8.8", "loopback_address"),
        ("::ffff:127.0.0.1", "loopback_address"),
        ("224.0.0.1", "reserved_address"),
        ("10.1.2.3", "private_address"),
        ("172.20.0.5", "private_address"),
        ("192.168.1.1", "private_address"),
        ("100.64.0.1", "private_address"),
        ("fd12:3456::1", "private_address"),
        # IPv6 spellings that carry an IPv4 address a relay or translator connects to
        ("::ffff:7f00:1", "loopback_address"),
        ("::ffff:a9fe:a9fe", "metadata_address"),
        ("2002:7f00:1::1", "loopback_address"),
        ("2002:a9fe:a9fe::1", "metadata_address"),
        ("2002:a00:1::1", "private_address"),
        ("64:ff9b::a9fe:a9fe", "metadata_address"),
        ("64:ff9b::c0a8:101", "private_address"),
    ],
)
def test_resolved_addresses_are_checked(http_ctx: MakeHttp, address: str, reason: str) -> None:
    """A wildcard entry never reaches a non-public address, whichever of the name's addresses it is."""
    conn, ctx, _ = http_ctx(resolver=lambda host, port: ["93.184.216.34", address], allow_hosts=("*.example",))
    with pytest.raises(ConnectorError) as err:
        conn.call(ctx, {"url": "http://innocent.example/"})
    assert err.value.reason == reason
    public = parse_address("93.184.216.34")
    assert public is not None and address_class(public) is None


def test_slow_drip_server_cannot_hold_the_call_past_the_total(http_ctx: MakeHttp, server: str) -> None:
    """One byte per 0.1 s never trips a 1 s read timeout; the 0.6 s total still ends the call."""
    conn, ctx, _ = http_ctx(timeout_ms=600, read_timeout_ms=1000)
    for path in ("/drip?n=60&gap=0.1", "/drip-headers"):
        started = time.monotonic()
        with pytest.raises(ConnectorError) as err:
            conn.call(ctx, {"url": server + path})
        elapsed = time.monotonic() - started
        assert (err.value.code, err.value.reason) == ("timeout", "http_timeout"), path
        assert elapsed < 3.0, (path, elapsed)  # the drip would take 6 s; generous bound for a shared machine
    # the hostcall's own deadline (ConnectorContext.timeout_ms) caps the total too
    conn, ctx, _ = http_ctx(timeout_ms=30_000)
    started = time.monotonic()
    with pytest.raises(ConnectorError):
        conn.call(replace(ctx, timeout_ms=500), {"url": server + "/drip?n=60&gap=0.1"})
    assert time.monotonic() - started < 3.0


def test_redirect_limit_is_a_setting(http_ctx: MakeHttp, server: str) -> None:
    conn, ctx, _ = http_ctx(max_redirects=1)
    to_echo = urllib.parse.quote(server + "/echo", safe="")
    assert conn.call(ctx, {"url": f"{server}/redirect?to={to_echo}"})["status"] == 200
    twice = urllib.parse.quote(f"{server}/redirect?to={to_echo}", safe="")
    with pytest.raises(ConnectorError, match="http.maxRedirects") as err:
        conn.call(ctx, {"url": f"{server}/redirect?to={twice}"})
    assert err.value.reason == "too_many_redirects"


def test_host_allow_and_deny_lists(http_ctx: MakeHttp, server: str) -> None:
    conn, ctx, _ = http_ctx(deny_hosts=("127.0.0.1",))
    with pytest.raises(ConnectorError, match="denyHosts"):
        conn.call(ctx, {"url": server + "/echo"})
    conn, ctx, _ = http_ctx(allow_hosts=("api.example.com",))
    with pytest.raises(ConnectorError, match="allowHosts"):
        conn.call(ctx, {"url": server + "/echo"})
    conn, ctx, _ = http_ctx(allow_hosts=("127.0.0.0/8",))  # a network is an explicit entry too
    assert conn.call(ctx, {"url": server + "/echo"})["status"] == 200

    def matches(pattern: str, host: str) -> bool:
        return parse_host_pattern(pattern).matches_name(host)

    assert matches("*.example.com", "a.b.example.com") and not matches("*.example.com", "example.com")
    assert matches(".example.com", "example.com") and matches(".example.com", "x.example.com")
    assert not matches(".example.com", "badexample.com") and not matches("example.com", "x.example.com")
    assert not matches("*.example.com", "1.2.3.4") and matches("*", "anything.test")


def test_redirects_are_followed_and_rechecked(http_ctx: MakeHttp, server: str) -> None:
    conn, ctx, _ = http_ctx()
    to_echo = urllib.parse.quote(server + "/echo", safe="")
    out = conn.call(ctx, {"method": "POST", "url": f"{server}/redirect?to={to_echo}&code=302", "body": "x"})
    assert json.loads(out["body"])["method"] == "GET"
    out = conn.call(ctx, {"method": "POST", "url": f"{server}/redirect?to={to_echo}&code=307", "body": "keep"})
    assert json.loads(out["body"])["body"] == "keep"
    # a redirect to a denied host is refused at that hop
    conn, ctx, _ = http_ctx(deny_hosts=("blocked.example",))
    evil = urllib.parse.quote("http://blocked.example/steal", safe="")
    with pytest.raises(ConnectorError) as err:
        conn.call(ctx, {"url": f"{server}/redirect?to={evil}"})
    assert err.value.reason == "host_denied"
    # endless redirects end
    loop = urllib.parse.quote(f"{server}/redirect?to=/redirect", safe="")
    with pytest.raises(ConnectorError) as err:
        conn.call(ctx, {"url": f"{server}/redirect?to={loop}"})
    assert err.value.reason == "too_many_redirects"


def test_response_cap_timeout_and_bad_params(http_ctx: MakeHttp, server: str) -> None:
    conn, ctx, _ = http_ctx(max_response_bytes=1000)
    assert len(conn.call(ctx, {"url": server + "/big?n=1000"})["body"]) == 1000
    with pytest.raises(ConnectorError) as err:
        conn.call(ctx, {"url": server + "/big?n=5000"})
    assert err.value.reason == "response_too_large"
    with pytest.raises(ConnectorError) as err:
        conn.call(ctx, {"url": server + "/slow", "timeout_ms": 200})
    assert err.value.code == "timeout"
    for params in (
        {"url": "ftp://x/"},
        {"url": ""},
        {"url": server, "method": "TRACE"},
        {"url": server, "headers": {"a": 1}},
        {"url": server, "body": 5},
        {"url": "http:///nohost"},
    ):
        with pytest.raises(ConnectorError) as err:
            conn.call(ctx, params)
        assert err.value.code == "invalid_request"


def test_connection_goes_to_the_checked_address(http_ctx: MakeHttp, server: str) -> None:
    # "pinned.test" does not exist in DNS: the request only works if the connector connects to the address its
    # resolver returned (no second lookup), while the Host header still names the host.
    port = server.rsplit(":", 1)[1]
    seen: list[str] = []

    def resolver(host: str, _port: int) -> list[str]:
        seen.append(host)
        return ["127.0.0.1"]

    conn, ctx, _ = http_ctx(resolver=resolver, allow_hosts=("pinned.test",))
    out = conn.call(ctx, {"url": f"http://pinned.test:{port}/echo"})
    assert out["status"] == 200 and json.loads(out["body"])["headers"]["host"] == f"pinned.test:{port}"
    assert seen == ["pinned.test"]


@pytest.mark.parametrize("target", ["http://metadata.example/latest", "http://169.254.169.254/latest",
                                    "http://[::ffff:10.0.0.1]/", "http://internal.example:8080/admin"])
def test_a_redirect_into_private_space_is_refused_after_resolution(http_ctx: MakeHttp, server: str,
                                                                   target: str) -> None:
    """The first hop is allowed (the local server, listed by address); the redirect's host matches the wildcard
    but resolves (or is) a non-public address: refused at that hop, before any connection to it."""
    looked_up: list[str] = []

    def dns(host: str, _port: int) -> list[str]:
        looked_up.append(host)
        return {"metadata.example": ["169.254.169.254"], "internal.example": ["93.184.216.34", "10.9.8.7"]}[host]

    conn, ctx, _ = http_ctx(resolver=dns, allow_hosts=("127.0.0.1", "*.example"))
    to = urllib.parse.quote(target, safe="")
    with pytest.raises(ConnectorError) as err:
        conn.call(ctx, {"url": f"{server}/redirect?to={to}"})
    assert err.value.code == "denied"
    assert err.value.reason in ("metadata_address", "private_address", "link_local_address"), err.value.reason


def test_the_connectors_own_timeout_leaves_its_entry(open_sandbox: OpenSandbox, make_config: MakeConfig,
                                                     server: str) -> None:
    """An extension never hears 'timeout' that the ledger does not show: the http connector's own total
    (shorter than the hostcall deadline here) leaves a second, linked entry and a runtime alert."""
    config = make_config(settings={"extensionPolicy": {"profile": "permissive"}})
    box = open_sandbox(replace(config, http=HttpSettings(allow_hosts=("127.0.0.1",), timeout_ms=500)))
    result = box.hostcall("ext", {"call_id": "slow", "method": "http",
                                  "params": {"url": server + "/drip?n=60&gap=0.1"}})
    assert (result.ok, result.error_code, result.reason) == (False, "timeout", "http_timeout")
    allowed, timed_out = [e for e in box.store.query_ledger(extension_id="ext") if e.call_id == "slow"]
    assert (allowed.decision, timed_out.decision, timed_out.reason) == ("allow", "timeout", "http_timeout")
    assert timed_out.detail["allowed_seq"] == allowed.seq and result.ledger_seq == timed_out.seq
    assert [a.reason_codes for a in box.store.query_alerts(extension_id="ext", category="runtime")] == [
        ("http_timeout",)]


# Spellings of 127.0.0.1 and the metadata address a URL parser, libc's resolver and an HTTP client may each
# read differently: decimal, octal, hex, short forms, IPv6 carriers, full-width and ideographic digits, a
# trailing dot, userinfo and fragment tricks, stray whitespace. Each is refused before anything connects.
SPELLINGS = ["http://2130706433:{p}/echo", "http://0177.0.0.1:{p}/echo", "http://0x7f.0.0.1:{p}/echo",
             "http://0x7f000001:{p}/echo", "http://127.1:{p}/echo", "http://[::ffff:127.0.0.1]:{p}/echo",
             "http://[0:0:0:0:0:ffff:7f00:1]:{p}/echo", "http://[2002:7f00:1::1]:{p}/echo", "http://0:{p}/echo",
             "http://[::]:{p}/echo", "http://localhost:{p}/echo", "http://１２７.０.０.１:{p}/echo",
             "http://127。0。0。1:{p}/echo", "http://ⓛⓞⓒⓐⓛⓗⓞⓢⓣ:{p}/echo", "http://example.com@127.0.0.1:{p}/echo",
             "http://example.com\\@127.0.0.1:{p}/echo", "http://127.0.0.1:{p}#@example.com/echo",
             "http://127.0.0.1\t:{p}/echo", " HTTP://127.0.0.1:{p}/echo", "http://0251.0376.0251.0376/",
             "http://2852039166/", "http://[::ffff:a9fe:a9fe]/", "http://[fe80::1%25lo]:{p}/echo",
             "http:\\\\127.0.0.1:{p}/echo", "file:///etc/passwd", "gopher://127.0.0.1:{p}/"]


@pytest.mark.parametrize("spelling", SPELLINGS)
def test_address_spellings_never_reach_a_non_public_address(http_ctx: MakeHttp, server: str, spelling: str) -> None:
    conn, ctx, _ = http_ctx(allow_hosts=("*", "example.com"))  # a wildcard: only the address class stands between
    with pytest.raises(ConnectorError) as err:
        conn.call(ctx, {"url": spelling.format(p=server.rsplit(":", 1)[1])})
    assert err.value.reason in {"loopback_address", "metadata_address", "unspecified_address", "link_local_address",
                                "reserved_address", "private_address", "bad_url", "bad_scheme"}, err.value


# A deny entry against every spelling a resolver maps to the same name (UTS #46): full-width and circled
# letters, an ideographic full stop, a soft hyphen and a zero-width space inside a label, upper case, a
# trailing dot. Before, only the plain spelling was denied and the others reached the denied host.
DENIED_SPELLINGS = ["http://evil.example/", "http://EVIL.example./", "http://ｅｖｉｌ.example/",
                    "http://ⓔⓥⓘⓛ.example/", "http://evil。example/", "http://e\u00advil.example/",
                    "http://ev\u200bil.example/", "http://EVİL.example/".replace("İ", "I")]


@pytest.mark.parametrize("url", DENIED_SPELLINGS)
def test_a_denied_host_is_denied_in_every_spelling_its_lookup_maps(http_ctx: MakeHttp, url: str) -> None:
    looked_up: list[str] = []

    def resolver(host: str, port: int) -> list[str]:
        looked_up.append(host)
        return ["93.184.216.34"]

    conn, ctx, _ = http_ctx(resolver=resolver, allow_hosts=("*",), deny_hosts=("evil.example",))
    with pytest.raises(ConnectorError) as err:
        conn.call(ctx, {"url": url})
    assert err.value.reason == "host_denied", err.value
    assert looked_up == []  # refused by name, before any lookup


def test_an_allowed_international_name_is_resolved_as_it_was_checked(http_ctx: MakeHttp) -> None:
    looked_up: list[str] = []

    def resolver(host: str, port: int) -> list[str]:
        looked_up.append(host)
        raise ConnectorError(f"cannot resolve host '{host}'", code="io", reason="dns_failure")  # nothing is sent

    conn, ctx, _ = http_ctx(resolver=resolver, allow_hosts=("xn--e1afmkfd.example",))
    with pytest.raises(ConnectorError) as err:
        conn.call(ctx, {"url": "http://ПРИМЕР.example/"})
    assert err.value.reason == "dns_failure" and looked_up == ["xn--e1afmkfd.example"]
