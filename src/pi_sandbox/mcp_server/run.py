"""Serving the MCP server: stdio (what MCP clients start), or streamable HTTP on 127.0.0.1."""

from __future__ import annotations

import hmac
import json
import socket
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

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


Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
Asgi = Callable[[Scope, Receive, Send], Awaitable[None]]


class RequireBearer:
    """ASGI wrapper: every HTTP request must carry ``Authorization: Bearer <token>`` (compared in
    constant time). Loopback is not a boundary between the users of one machine, and the server acts with
    the sandbox's authority, so an open port would let any local process call the tools."""

    def __init__(self, app: Asgi, token: str) -> None:
        self.app = app
        self.expected = f"Bearer {token}".encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            given = dict(scope.get("headers") or ()).get(b"authorization", b"")
            if not hmac.compare_digest(given, self.expected):
                body = json.dumps({"error": "unauthorized: send 'Authorization: Bearer <token>' with the token "
                                            "pi-sandbox mcp printed at start (or PI_SANDBOX_MCP_TOKEN)"}).encode()
                await send({"type": "http.response.start", "status": 401, "headers": [
                    (b"content-type", b"application/json"), (b"www-authenticate", b"Bearer")]})
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)


def serve_http(session: Session, router: PromptRouter, sock: socket.socket, token: str,
               on_ready: Callable[[str], None] | None = None) -> None:
    """Serve streamable HTTP on ``sock`` (from :func:`bind_http`) to clients that send ``token``, until
    SIGINT/SIGTERM."""
    import uvicorn

    app = build_server(session, router).streamable_http_app(streamable_http_path=HTTP_PATH, host=HTTP_HOST)
    server = uvicorn.Server(uvicorn.Config(RequireBearer(app, token), log_level="warning", lifespan="on"))
    if on_ready is not None:
        on_ready(f"http://{HTTP_HOST}:{sock.getsockname()[1]}{HTTP_PATH}")
    server.run(sockets=[sock])
