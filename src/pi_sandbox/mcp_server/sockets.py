"""The HTTP listening socket of ``pi-sandbox mcp --http`` (bound before anything loads: a taken port fails fast)."""

from __future__ import annotations

import secrets
import socket
from collections.abc import Mapping
from typing import Final

from pi_sandbox.errors import ServerStartError

#: HTTP listens on loopback only: the server holds the sandbox's authority, so no other host may reach it
#: (the SDK adds DNS-rebinding protection for this address: Host and Origin must be local too).
HTTP_HOST: Final = "127.0.0.1"
HTTP_PATH: Final = "/mcp"
#: Environment variable with the bearer token HTTP clients must send (else one is made at start and printed).
TOKEN_ENV: Final = "PI_SANDBOX_MCP_TOKEN"
#: Shortest token accepted from the environment (a guessable token is no protection).
MIN_TOKEN_LENGTH: Final = 16


def http_token(environ: Mapping[str, str]) -> tuple[str, bool]:
    """The bearer token for ``--http`` and whether it was made now (``PI_SANDBOX_MCP_TOKEN`` wins)."""
    given = environ.get(TOKEN_ENV, "")
    if not given:
        return secrets.token_urlsafe(32), True
    if len(given) < MIN_TOKEN_LENGTH or not given.isascii() or not given.isprintable() or " " in given:
        raise ServerStartError(f"{TOKEN_ENV} must be at least {MIN_TOKEN_LENGTH} printable ASCII characters "
                               "without spaces", remediation="set it to e.g. the output of `openssl rand -hex 32`")
    return given, False


def bind_http(port: int) -> socket.socket:
    """A listening socket on 127.0.0.1:``port`` (0: a free port); :class:`ServerStartError` if it is taken."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # no Nagle: small JSON responses otherwise wait for the client's delayed ACK (~60 -> ~18 ms per call here)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        sock.bind((HTTP_HOST, port))
        sock.listen(64)
    except OSError as exc:
        sock.close()
        raise ServerStartError(f"cannot listen on {HTTP_HOST}:{port}: {exc.strerror or exc}") from None
    return sock
