"""The HTTP listening socket of ``pi-sandbox mcp --http`` (bound before anything loads: a taken port fails fast)."""

from __future__ import annotations

import socket
from typing import Final

from pi_sandbox.errors import ServerStartError

#: HTTP listens on loopback only: the server holds the sandbox's authority, so no other host may reach it
#: (the SDK adds DNS-rebinding protection for this address: Host and Origin must be local too).
HTTP_HOST: Final = "127.0.0.1"
HTTP_PATH: Final = "/mcp"


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
