"""The ``http`` connector: outbound requests on httpx, confined by address.

``{method, url, headers?, body?, timeout_ms?}`` → ``{status, headers, body}``.

- the request was already scanned for withheld secret values (every spelling the broker knows) by
  the mediation stage, which refuses it and raises a ``secret_exposure`` alert on a hit;
- every destination (the first URL and every redirect) is decided by the extension's host policy
  (``policy/hosts.py``): ``denyHosts`` / ``allowHosts`` (global and per extension); in ``safe`` no host is
  reachable until listed, ``balanced`` asks the user per host; a host no rule can allow is refused before
  its name is even resolved; the name is then resolved and every address checked (non-public addresses
  need an explicit entry), and the connection goes to the checked address (no second lookup);
- redirects are followed by hand (at most ``http.maxRedirects``), each one re-checked like the first;
- the response body is capped at ``http.maxResponseBytes``;
- time is bounded three ways: ``http.connectTimeoutMs`` per connection, ``http.readTimeoutMs``
  between received bytes, and ``http.timeoutMs`` (or the hostcall's deadline, if sooner) for the
  whole call, redirects included. The total is enforced by shutting the socket down when it runs
  out, so a server that drips one byte at a time cannot hold the call (or its host thread) longer.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import socket
import threading
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import urljoin, urlsplit, urlunsplit

from pi_sandbox.config.hosts import normalise_host
from pi_sandbox.config.model import HttpSettings
from pi_sandbox.connectors.base import ConnectorContext
from pi_sandbox.connectors.http_decode import BoundedDecoder, codings_to_decode
from pi_sandbox.errors import ConnectorError
from pi_sandbox.mediation.secret_broker import SecretBroker
from pi_sandbox.policy.hosts import HostDecision, HostPolicy, HostPrompt
from pi_sandbox.vocabulary import PolicyOutcome

if TYPE_CHECKING:  # imported at the first request: httpx (and the CLI it pulls in) costs 0.1-0.2 s at start
    import httpx

METHODS: Final = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
MAX_REQUEST_BYTES: Final = 50 * 1024 * 1024
_HOP_HEADERS: Final = frozenset({"host", "content-length", "transfer-encoding", "connection"})

Resolver = Callable[[str, int], list[str]]


def system_resolver(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise ConnectorError(f"cannot resolve host '{host}': {exc.strerror}", code="io", reason="dns_failure") from None
    return sorted({str(info[4][0]) for info in infos})


class _TotalDeadline:
    """Shuts the request's socket down when the whole call's time runs out.

    httpx's read timeout is per read: a server sending a byte now and then never trips it. The
    socket is learned from httpcore's ``connect_tcp`` trace event; ``shutdown`` makes a blocked
    ``recv`` return at once (closing the descriptor would not).
    """

    def __init__(self, seconds: float) -> None:
        self.fired = False
        self._sock: socket.socket | None = None
        self._lock = threading.Lock()
        self._timer = threading.Timer(max(0.0, seconds), self._fire)
        self._timer.daemon = True
        self._timer.start()

    def trace(self, name: str, info: Mapping[str, Any]) -> None:
        if name != "connection.connect_tcp.complete":
            return
        stream = info.get("return_value")
        sock = stream.get_extra_info("socket") if stream is not None else None
        with self._lock:
            self._sock = sock
            fired = self.fired
        if fired:
            self._shutdown(sock)

    def _fire(self) -> None:
        with self._lock:
            self.fired = True
            sock = self._sock
        self._shutdown(sock)

    @staticmethod
    def _shutdown(sock: socket.socket | None) -> None:
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def cancel(self) -> None:
        self._timer.cancel()


class HttpConnector:
    """Carries out allowed ``http`` hostcalls."""

    def __init__(self, broker: SecretBroker, *, resolver: Resolver = system_resolver,
                 ask: HostPrompt | None = None) -> None:
        self.broker = broker
        self.resolver = resolver
        #: Asks the user about a host the policy says to prompt for (``host_prompter``); None = headless: deny.
        self.ask = ask

    def call(self, ctx: ConnectorContext, params: Mapping[str, Any]) -> Any:
        settings: HttpSettings = ctx.config.http
        method, url, headers, body = _parse(params)
        timeout_ms = params.get("timeout_ms", settings.timeout_ms)
        if isinstance(timeout_ms, bool) or not isinstance(timeout_ms, int) or timeout_ms <= 0:
            raise ConnectorError("http 'timeout_ms' must be a positive integer", code="invalid_request")
        total_ms = min(timeout_ms, settings.timeout_ms, ctx.timeout_ms or settings.timeout_ms)
        deadline = _TotalDeadline(total_ms / 1000)
        try:
            return self._follow(ctx, client_timeout(settings, total_ms), deadline, method, url, headers, body)
        finally:
            deadline.cancel()

    def check(self, ctx: ConnectorContext, params: Mapping[str, Any]) -> None:
        """Everything :meth:`call` decides before it connects, without connecting (a dry run): the params, the
        URL, the host lists, and the addresses the name resolves to (a lookup, as the real call makes it).
        Raises the ``ConnectorError`` the real call would. Redirects cannot be known without the request."""
        settings: HttpSettings = ctx.config.http
        _method, url, _headers, _body = _parse(params)
        timeout_ms = params.get("timeout_ms", settings.timeout_ms)
        if isinstance(timeout_ms, bool) or not isinstance(timeout_ms, int) or timeout_ms <= 0:
            raise ConnectorError("http 'timeout_ms' must be a positive integer", code="invalid_request")
        self._check_destination(ctx, HostPolicy.for_extension(ctx.config, ctx.extension_id), url)

    def _follow(self, ctx: ConnectorContext, timeout: httpx.Timeout, deadline: _TotalDeadline, method: str,
                url: str, headers: dict[str, str], body: str | bytes | None) -> Any:
        settings: HttpSettings = ctx.config.http
        import httpx

        hosts = HostPolicy.for_extension(ctx.config, ctx.extension_id)
        with httpx.Client(follow_redirects=False, timeout=timeout, trust_env=False) as client:
            for _hop in range(settings.max_redirects + 1):
                address = self._check_destination(ctx, hosts, url)
                response = self._send(client, method, url, address, headers, body, settings.max_response_bytes,
                                      deadline)
                location = response["location"]
                if location is None or response["status"] not in (301, 302, 303, 307, 308):
                    return self._result(response, redirected=_hop > 0)
                previous_host = urlsplit(url).hostname
                url = urljoin(url, location)
                if response["status"] in (301, 302, 303) and method not in ("GET", "HEAD"):
                    method, body = "GET", None
                    headers = {k: v for k, v in headers.items() if k.lower() != "content-type"}
                if urlsplit(url).hostname != previous_host:
                    headers = {k: v for k, v in headers.items() if k.lower() not in ("authorization", "cookie")}
        raise ConnectorError(f"more than {settings.max_redirects} redirects (http.maxRedirects)", code="io",
                             reason="too_many_redirects")

    # ------------------------------------------------------------------ checks
    def destinations(self, ctx: ConnectorContext) -> Callable[[str], str]:
        """The host decision of ``ctx``'s extension, for the exec network proxy: ``url`` → the checked
        address to connect to (``ConnectorError`` when the host is refused)."""
        hosts = HostPolicy.for_extension(ctx.config, ctx.extension_id)
        return lambda url: self._check_destination(ctx, hosts, url)

    def _check_destination(self, ctx: ConnectorContext, hosts: HostPolicy, url: str) -> str:
        """Decide the URL's host and every address it resolves to; returns the address to connect to."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https"):
            raise ConnectorError(
                f"http only supports http and https URLs, not '{parts.scheme}'",
                code="invalid_request",
                reason="bad_scheme",
            )
        # The name as checked is the name resolved and reached (its IDNA ASCII form): never two spellings.
        host = normalise_host(parts.hostname) if parts.hostname else ""
        if not host:
            raise ConnectorError("http URL has no host", code="invalid_request", reason="bad_url")
        try:
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError:
            raise ConnectorError("http URL has an invalid port", code="invalid_request", reason="bad_url") from None
        approved = False
        early = hosts.check_name(host)
        if early is not None:
            approved = self._settle(ctx, host, early)
        addresses = [host] if _is_ip(host) else self.resolver(host, port)
        if not addresses:
            raise ConnectorError(f"host '{host}' resolves to no address", code="io", reason="dns_failure")
        final = hosts.decide(host, addresses)
        if not (approved and final.decision is PolicyOutcome.PROMPT):
            self._settle(ctx, host, final)
        return addresses[0]

    def _settle(self, ctx: ConnectorContext, host: str, decision: HostDecision) -> bool:
        """Raise for a deny (or an unapproved prompt); True once the user approved a prompt."""
        if decision.decision is PolicyOutcome.ALLOW:
            return False
        if decision.decision is PolicyOutcome.PROMPT:
            if self.ask is not None and self.ask(ctx.extension_id, normalise_host(host), decision.message):
                return True
            raise ConnectorError(f"host '{normalise_host(host)}' was not approved by the user (a host without a UI "
                                 f"cannot ask); to allow it without asking: {decision.remedy}", code="denied",
                                 reason="host_not_approved")
        raise ConnectorError(decision.message, code="denied", reason=decision.reason)

    # ------------------------------------------------------------------ transport
    @staticmethod
    def _send(
        client: httpx.Client,
        method: str,
        url: str,
        address: str,
        headers: Mapping[str, str],
        body: str | bytes | None,
        cap: int,
        deadline: _TotalDeadline,
    ) -> dict[str, Any]:
        import httpx

        # Connect to the address that was checked, not to whatever a second DNS lookup returns (DNS
        # rebinding): the URL carries the IP; the Host header and TLS SNI / certificate check use the name.
        parts = urlsplit(url)
        host = normalise_host(parts.hostname) if parts.hostname else ""
        send_headers = dict(headers)
        extensions: dict[str, Any] = {"trace": deadline.trace}
        target = url
        if not _is_ip(host):
            ip = f"[{address}]" if ":" in address else address
            netloc = ip if parts.port is None else f"{ip}:{parts.port}"
            target = urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
            send_headers["Host"] = host if parts.port is None else f"{host}:{parts.port}"
            if parts.scheme == "https":
                extensions["sni_hostname"] = host
        content = body.encode("utf-8") if isinstance(body, str) else body
        try:
            with client.stream(
                method, target, headers=send_headers, content=content, extensions=extensions
            ) as response:
                # the raw body, decoded here with every layer's output bounded (httpx inflates a read whole)
                codings = codings_to_decode(response.headers.get_list("content-encoding", split_commas=True))
                decoder = BoundedDecoder(codings or [], cap, lambda: deadline.fired)
                for chunk in response.iter_raw():
                    if deadline.fired:
                        break
                    decoder.feed(chunk)
                content = decoder.finish()
                if deadline.fired:
                    raise httpx.ReadTimeout("total deadline")
                return {
                    "status": response.status_code,
                    "headers": {k.lower(): v for k, v in response.headers.multi_items()},
                    "body": content,
                    "location": response.headers.get("location"),
                    "url": str(response.url),
                    "encoding": response.charset_encoding or "utf-8",
                    "decoded": codings is not None,
                }
        except httpx.TimeoutException:
            raise ConnectorError("http request timed out", code="timeout", reason="http_timeout") from None
        except httpx.HTTPError as exc:
            if deadline.fired:  # the socket was shut down under a slow response
                raise ConnectorError("http request ran past its total time (http.timeoutMs)", code="timeout",
                                     reason="http_timeout") from None
            raise ConnectorError(f"http request failed: {type(exc).__name__}", code="io", reason="http_error") from None

    def _result(self, response: Mapping[str, Any], *, redirected: bool = False) -> dict[str, Any]:
        # The bytes as received first: the charset is the server's word, and the UTF-8 bytes of a withheld value
        # served as ``charset=utf-16-le`` or ``cp037`` decoded to characters no spelling matched — the extension
        # encoded the string back and had the value. Then the text, for a value the server really encoded so.
        raw: bytes = self.broker.redact(response["body"])
        try:
            text: str | None = raw.decode(response["encoding"])
        except LookupError:
            text = _utf8(raw)
        except UnicodeDecodeError:
            text = None
        # Bytes that are not text in their charset (an image, a PDF, a zip) travel as base64, so fetch's
        # arrayBuffer()/blob() get them unchanged (redacted as bytes above, like text).
        body: dict[str, str] = ({"body": self.broker.redact(text)} if text is not None else
                                {"body_base64": base64.b64encode(raw).decode("ascii")})
        return {
            "status": response["status"],
            "headers": {k: self.broker.redact(v) for k, v in response["headers"].items()},
            **body,
            # where the redirects ended (fetch's ``response.url`` / ``redirected``), redacted like the rest
            "url": self.broker.redact(response["url"]),
            "redirected": redirected,
            # the body was transfer-decoded here (gzip/deflate): its content-encoding header no longer
            # describes it; node:http drops the header so a client library does not inflate it twice
            **({"decoded": True} if response.get("decoded") else {}),
        }


def client_timeout(settings: HttpSettings, total_ms: int) -> httpx.Timeout:
    """Per-phase timeouts, none longer than the whole call's."""
    import httpx

    total = total_ms / 1000
    return httpx.Timeout(connect=min(settings.connect_timeout_ms / 1000, total),
                         read=min(settings.read_timeout_ms / 1000, total), write=total, pool=total)


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _parse(params: Mapping[str, Any]) -> tuple[str, str, dict[str, str], str | bytes | None]:
    method = str(params.get("method", "GET")).upper()
    if method not in METHODS:
        raise ConnectorError(
            f"unsupported http method '{method}' (known: {', '.join(sorted(METHODS))})", code="invalid_request"
        )
    url = params.get("url")
    if not isinstance(url, str) or not url:
        raise ConnectorError("http needs a non-empty string 'url'", code="invalid_request")
    headers = params.get("headers") or {}
    if not isinstance(headers, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in headers.items()
    ):
        raise ConnectorError("http 'headers' must map strings to strings", code="invalid_request")
    headers = {k: v for k, v in headers.items() if k.lower() not in _HOP_HEADERS}
    body: str | bytes | None = params.get("body")
    if body is not None and not isinstance(body, str):
        raise ConnectorError("http 'body' must be a string", code="invalid_request")
    encoded = params.get("body_base64")
    if encoded is not None:
        # bytes that are not text (an upload): sent unchanged
        if body is not None or not isinstance(encoded, str):
            raise ConnectorError("http takes one of 'body' (a string) or 'body_base64' (a base64 string)",
                                 code="invalid_request")
        if len(encoded) > MAX_REQUEST_BYTES * 4 // 3 + 4:
            raise ConnectorError("http request body too large", code="invalid_request")
        try:
            body = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            raise ConnectorError("http 'body_base64' is not base64", code="invalid_request") from None
    if body is not None and len(body) > MAX_REQUEST_BYTES:
        raise ConnectorError("http request body too large", code="invalid_request")
    return method, url, headers, body


def _utf8(raw: bytes) -> str | None:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return None
