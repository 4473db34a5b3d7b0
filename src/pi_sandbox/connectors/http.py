"""The ``http`` connector: outbound requests on httpx, confined by address.

``{method, url, headers?, body?, timeout_ms?}`` → ``{status, headers, body}``.

- the request was already scanned for withheld secret values (every spelling the broker knows) by
  the mediation stage, which refuses it and raises a ``secret_exposure`` alert on a hit;
- ``http.denyHosts`` / ``http.allowHosts`` (exact host, or ``.example.com`` / ``*.example.com`` for
  a domain and its subdomains) are checked on the first URL and on every redirect;
- the host is resolved and every address it resolves to is checked: loopback, link-local
  (169.254.0.0/16, fe80::/10), unspecified and cloud metadata addresses are refused unless
  ``http.allowLoopback`` is set; the connection then goes to the checked address (no second lookup);
- redirects are followed by hand (at most 5), each one re-checked like the first request;
- the response body is capped at ``http.maxResponseBytes``.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Mapping
from typing import Any, Final
from urllib.parse import urljoin, urlsplit, urlunsplit

import httpx

from pi_sandbox.config.model import HttpSettings
from pi_sandbox.connectors.base import ConnectorContext
from pi_sandbox.errors import ConnectorError
from pi_sandbox.mediation.secret_broker import SecretBroker

METHODS: Final = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
MAX_REDIRECTS: Final = 5
MAX_REQUEST_BYTES: Final = 50 * 1024 * 1024
#: Cloud instance-metadata endpoints that are not already loopback / link-local.
METADATA_ADDRESSES: Final = frozenset({"100.100.100.200", "fd00:ec2::254", "192.0.0.192"})
_HOP_HEADERS: Final = frozenset({"host", "content-length", "transfer-encoding", "connection"})

Resolver = Callable[[str, int], list[str]]


def system_resolver(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise ConnectorError(f"cannot resolve host '{host}': {exc.strerror}", code="io", reason="dns_failure") from None
    return sorted({str(info[4][0]) for info in infos})


def host_matches(host: str, pattern: str) -> bool:
    """``example.com`` matches itself; ``.example.com`` / ``*.example.com`` match it and its subdomains."""
    host = host.lower().rstrip(".")
    pattern = pattern.lower().rstrip(".")
    if pattern.startswith("*."):
        pattern = pattern[1:]
    if pattern.startswith("."):
        return host == pattern[1:] or host.endswith(pattern)
    return host == pattern


def address_refusal(address: str) -> str | None:
    """Why connecting to ``address`` is refused by default (None when it is fine)."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return "unparseable_address"
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if str(ip) in METADATA_ADDRESSES:
        return "metadata_address"
    if ip.is_loopback:
        return "loopback_address"
    if ip.is_link_local:
        return "link_local_address"
    if ip.is_unspecified:
        return "unspecified_address"
    if ip.is_multicast or ip.is_reserved:
        return "reserved_address"
    return None


class HttpConnector:
    """Carries out allowed ``http`` hostcalls."""

    def __init__(self, broker: SecretBroker, *, resolver: Resolver = system_resolver) -> None:
        self.broker = broker
        self.resolver = resolver

    def call(self, ctx: ConnectorContext, params: Mapping[str, Any]) -> Any:
        settings: HttpSettings = ctx.config.http
        method, url, headers, body = _parse(params)
        timeout_ms = params.get("timeout_ms", settings.timeout_ms)
        if isinstance(timeout_ms, bool) or not isinstance(timeout_ms, int) or timeout_ms <= 0:
            raise ConnectorError("http 'timeout_ms' must be a positive integer", code="invalid_request")
        timeout = min(timeout_ms, settings.timeout_ms if settings.timeout_ms > 0 else timeout_ms) / 1000
        with httpx.Client(follow_redirects=False, timeout=timeout, trust_env=False) as client:
            for _hop in range(MAX_REDIRECTS + 1):
                address = self._check_destination(url, settings)
                response = self._send(client, method, url, address, headers, body, settings.max_response_bytes)
                location = response["location"]
                if location is None or response["status"] not in (301, 302, 303, 307, 308):
                    return self._result(response)
                previous_host = urlsplit(url).hostname
                url = urljoin(url, location)
                if response["status"] in (301, 302, 303) and method not in ("GET", "HEAD"):
                    method, body = "GET", None
                    headers = {k: v for k, v in headers.items() if k.lower() != "content-type"}
                if urlsplit(url).hostname != previous_host:
                    headers = {k: v for k, v in headers.items() if k.lower() not in ("authorization", "cookie")}
        raise ConnectorError(f"more than {MAX_REDIRECTS} redirects", code="io", reason="too_many_redirects")

    # ------------------------------------------------------------------ checks
    def _check_destination(self, url: str, settings: HttpSettings) -> str:
        """Check the URL's host and every address it resolves to; returns the address to connect to."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https"):
            raise ConnectorError(
                f"http only supports http and https URLs, not '{parts.scheme}'",
                code="invalid_request",
                reason="bad_scheme",
            )
        host = parts.hostname
        if not host:
            raise ConnectorError("http URL has no host", code="invalid_request", reason="bad_url")
        if any(host_matches(host, p) for p in settings.deny_hosts):
            raise ConnectorError(f"host '{host}' is in http.denyHosts", code="denied", reason="host_denied")
        if settings.allow_hosts and not any(host_matches(host, p) for p in settings.allow_hosts):
            raise ConnectorError(f"host '{host}' is not in http.allowHosts", code="denied", reason="host_not_allowed")
        try:
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError:
            raise ConnectorError("http URL has an invalid port", code="invalid_request", reason="bad_url") from None
        addresses = [host] if _is_ip(host) else self.resolver(host, port)
        if not addresses:
            raise ConnectorError(f"host '{host}' resolves to no address", code="io", reason="dns_failure")
        for address in () if settings.allow_loopback else addresses:
            refusal = address_refusal(address)
            if refusal is not None:
                raise ConnectorError(
                    f"host '{host}' resolves to a {refusal.replace('_', ' ')}; requests there are refused "
                    "unless http.allowLoopback is set",
                    code="denied",
                    reason=refusal,
                )
        return addresses[0]

    # ------------------------------------------------------------------ transport
    @staticmethod
    def _send(
        client: httpx.Client,
        method: str,
        url: str,
        address: str,
        headers: Mapping[str, str],
        body: str | None,
        cap: int,
    ) -> dict[str, Any]:
        # Connect to the address that was checked, not to whatever a second DNS lookup returns (DNS
        # rebinding): the URL carries the IP; the Host header and TLS SNI / certificate check use the name.
        parts = urlsplit(url)
        host = parts.hostname or ""
        send_headers = dict(headers)
        extensions: dict[str, Any] = {}
        target = url
        if not _is_ip(host):
            ip = f"[{address}]" if ":" in address else address
            netloc = ip if parts.port is None else f"{ip}:{parts.port}"
            target = urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
            send_headers["Host"] = host if parts.port is None else f"{host}:{parts.port}"
            if parts.scheme == "https":
                extensions["sni_hostname"] = host
        content = body.encode("utf-8") if body is not None else None
        try:
            with client.stream(
                method, target, headers=send_headers, content=content, extensions=extensions
            ) as response:
                chunks: list[bytes] = []
                size = 0
                for chunk in response.iter_bytes():
                    size += len(chunk)
                    if size > cap:
                        raise ConnectorError(
                            f"response larger than http.maxResponseBytes ({cap} bytes)",
                            code="io",
                            reason="response_too_large",
                        )
                    chunks.append(chunk)
                return {
                    "status": response.status_code,
                    "headers": {k.lower(): v for k, v in response.headers.multi_items()},
                    "body": b"".join(chunks),
                    "location": response.headers.get("location"),
                    "url": str(response.url),
                    "encoding": response.charset_encoding or "utf-8",
                }
        except httpx.TimeoutException:
            raise ConnectorError("http request timed out", code="timeout", reason="http_timeout") from None
        except httpx.HTTPError as exc:
            raise ConnectorError(f"http request failed: {type(exc).__name__}", code="io", reason="http_error") from None

    def _result(self, response: Mapping[str, Any]) -> dict[str, Any]:
        try:
            text = response["body"].decode(response["encoding"], errors="replace")
        except LookupError:
            text = response["body"].decode("utf-8", errors="replace")
        return {
            "status": response["status"],
            "headers": {k: self.broker.redact(v) for k, v in response["headers"].items()},
            "body": self.broker.redact(text),
        }


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _parse(params: Mapping[str, Any]) -> tuple[str, str, dict[str, str], str | None]:
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
    body = params.get("body")
    if body is not None and not isinstance(body, str):
        raise ConnectorError("http 'body' must be a string", code="invalid_request")
    if body is not None and len(body) > MAX_REQUEST_BYTES:
        raise ConnectorError("http request body too large", code="invalid_request")
    return method, url, headers, body
