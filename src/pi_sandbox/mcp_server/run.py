"""Serving the MCP server: stdio (what MCP clients start), or streamable HTTP on 127.0.0.1."""

from __future__ import annotations

import socket
from collections.abc import Callable
from typing import Final

import anyio
from mcp.server.stdio import stdio_server

from pi_sandbox.errors import ServerStartError
from pi_sandbox.mcp_server.calls import PromptRouter
from pi_sandbox.mcp_server.server import build_server
from pi_sandbox.session import Session

#: HTTP listens on loopback only: the server holds the sandbox's authority, so no other host may reach it
#: (the SDK adds DNS-rebinding protection for this address: Host and Origin must be local too).
HTTP_HOST: Final = "127.0.0.1"
HTTP_PATH: Final = "/mcp"


def serve_stdio(session: Session, router: PromptRouter) -> None:
    """Serve one client on stdin/stdout until it closes stdin."""
    server = build_server(session, router)

    async def main() -> None:
        async with stdio_server() as (read_stream, write_stream):
            await server.run(read_stream, write_stream, server.create_initialization_options())

    anyio.run(main)


def bind_http(port: int) -> socket.socket:
    """A listening socket on 127.0.0.1:``port`` (0: a free port); :class:`ServerStartError` if it is taken."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((HTTP_HOST, port))
        sock.listen(64)
    except OSError as exc:
        sock.close()
        raise ServerStartError(f"cannot listen on {HTTP_HOST}:{port}: {exc.strerror or exc}") from None
    return sock


def serve_http(session: Session, router: PromptRouter, sock: socket.socket,
               on_ready: Callable[[str], None] | None = None) -> None:
    """Serve streamable HTTP on ``sock`` (from :func:`bind_http`) until SIGINT/SIGTERM."""
    import uvicorn

    app = build_server(session, router).streamable_http_app(streamable_http_path=HTTP_PATH, host=HTTP_HOST)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    if on_ready is not None:
        on_ready(f"http://{HTTP_HOST}:{sock.getsockname()[1]}{HTTP_PATH}")
    server.run(sockets=[sock])
