"""Serving the MCP server: stdio (what MCP clients start), or streamable HTTP on 127.0.0.1."""

from __future__ import annotations

import socket
from collections.abc import Callable

import anyio
from mcp.server.stdio import stdio_server

from pi_sandbox.mcp_server.calls import PromptRouter
from pi_sandbox.mcp_server.server import build_server
from pi_sandbox.mcp_server.sockets import HTTP_HOST, HTTP_PATH
from pi_sandbox.session import Session


def serve_stdio(session: Session, router: PromptRouter) -> None:
    """Serve one client on stdin/stdout until it closes stdin."""
    server = build_server(session, router)

    async def main() -> None:
        async with stdio_server() as (read_stream, write_stream):
            await server.run(read_stream, write_stream, server.create_initialization_options())

    anyio.run(main)


def serve_http(session: Session, router: PromptRouter, sock: socket.socket,
               on_ready: Callable[[str], None] | None = None) -> None:
    """Serve streamable HTTP on ``sock`` (from :func:`bind_http`) until SIGINT/SIGTERM."""
    import uvicorn

    app = build_server(session, router).streamable_http_app(streamable_http_path=HTTP_PATH, host=HTTP_HOST)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    if on_ready is not None:
        on_ready(f"http://{HTTP_HOST}:{sock.getsockname()[1]}{HTTP_PATH}")
    server.run(sockets=[sock])
