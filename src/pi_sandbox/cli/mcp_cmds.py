"""``pi-sandbox mcp``: serve the sandboxed extensions' tools to MCP clients (docs/mcp.md)."""

from __future__ import annotations

import importlib
import os
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

import click

from pi_sandbox.cli.app import command
from pi_sandbox.cli.context import PROG, CliContext, UsageError, print_human
from pi_sandbox.errors import ExitCode
from pi_sandbox.timeparse import parse_duration_ms

if TYPE_CHECKING:
    from pi_sandbox.session import Session

_LOAD_HELP = "load this extension file or folder too (repeatable)"
#: The SDK builds its protocol models on import (~2 s here): done on a thread while the extensions load.
_SDK_MODULES = ("mcp.types", "mcp.server.lowlevel", "mcp.server.stdio")


def _preload_sdk() -> None:
    for name in _SDK_MODULES:
        importlib.import_module(name)


def _workspace(path: Path) -> Path:
    """The workspace, refused when it would hand extensions every file: MCP clients often start servers in
    ``/`` or the home directory, and the workspace is where extensions may read and write."""
    resolved = path.resolve()
    home = Path(os.environ.get("HOME") or "/").resolve()
    if resolved == Path("/") or resolved == home:
        raise UsageError(f"{PROG} mcp: the workspace would be {resolved}, which opens every file of "
                         f"{'the machine' if resolved == Path('/') else 'your home'} to the extensions; set the "
                         "client's \"cwd\" to your project, or pass --workspace DIR")
    return resolved


def _interrupt(_signum: int, _frame: FrameType | None) -> None:
    # uvicorn stops gracefully on SIGTERM, then raises the signal again once its own handler is gone: here it
    # unwinds like Ctrl-C, so the session closes and seals the ledger instead of the process dying.
    raise KeyboardInterrupt


class _Closer:
    """SIGTERM on stdio (a client stopping the server while it keeps stdin open): the reader thread blocked
    on stdin would never let the event loop finish, so a thread closes the session (workers stopped, ledger
    sealed) and then ends the process. Not done in the handler itself: it may have interrupted a lock holder.

    The serving thread may trip over the closing session meanwhile; it then waits for the closer instead of
    leaving with its own error (and exit code) before the ledger is sealed."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.thread: threading.Thread | None = None

    def _close_and_exit(self) -> None:
        try:
            self.session.close()
        finally:
            os._exit(0)

    def handler(self, _signum: int, _frame: FrameType | None) -> None:
        if self.thread is None:
            self.thread = threading.Thread(target=self._close_and_exit, name="mcp-sigterm")
            self.thread.start()

    def serve(self, serve: Callable[[], None]) -> None:
        """Run ``serve``; once SIGTERM came, however it ends, the closer ends the process."""
        try:
            serve()
        finally:
            if self.thread is not None:
                self.thread.join()  # never returns: the closer calls os._exit


def _duration_s(text: str, option: str) -> float:
    """A positive duration option in seconds (an unreadable one raises the parser's typed error)."""
    ms = parse_duration_ms(text)
    if ms <= 0:
        raise UsageError(f"{PROG} mcp: {option} must be a positive duration (e.g. 90s, 5m), not '{text}'")
    return ms / 1000


@command(show=("extension", "no_extensions", "extension_policy"), extension=_LOAD_HELP)
@click.option("--http", "http_port", type=click.IntRange(0, 65535), metavar="PORT",
              help="serve streamable HTTP on 127.0.0.1:PORT instead of stdio (0: a free port); clients send the "
                   "bearer token printed at start, or PI_SANDBOX_MCP_TOKEN")
@click.option("--prompts", type=click.Choice(["elicit", "deny"]), default="elicit", show_default=True,
              help="permission prompts and extension dialogs: ask the client by MCP elicitation (a client without it: "
                   "deny / headless answer), or never ask")
@click.option("--prompt-timeout", default="60s", show_default=True, metavar="DURATION",
              help="how long a prompt waits for the client's answer before it is a deny")
@click.option("--suspended-timeout", metavar="DURATION",
              help="how long a call waiting for a 2026-07-28 client's retry (input_required) is kept; past it the "
                   "call is refused and recorded (default: the --prompt-timeout)")
@click.option("--workspace", type=click.Path(file_okay=False, exists=True, path_type=Path), metavar="DIR",
              help="the project the tools work in (default: the current directory; never / or your home)")
@click.option("--sandboxed-only", is_flag=True,
              help="load only pi-sandbox's own extension folders and -e paths, nothing pi loads itself")
def mcp(ctx: CliContext, http_port: int | None, prompts: str, prompt_timeout: str, suspended_timeout: str | None,
        workspace: Path | None, sandboxed_only: bool) -> int:
    """Serve the loaded extensions' tools to an MCP client (stdio unless --http). Every call runs
    sandboxed through the policy pipeline and is recorded in the ledger; a refused effect is an MCP
    tool error with the remediation; permission prompts are asked by MCP elicitation."""
    from pi_sandbox.mcp_server.calls import PromptMode, PromptRouter
    from pi_sandbox.session import open_session

    preload = threading.Thread(target=_preload_sdk, name="mcp-sdk-import", daemon=True)
    preload.start()
    project = _workspace(workspace or Path.cwd())
    router = PromptRouter(PromptMode(prompts), _duration_s(prompt_timeout, "--prompt-timeout"),
                          None if suspended_timeout is None else _duration_s(suspended_timeout, "--suspended-timeout"))
    from pi_sandbox.mcp_server.sockets import TOKEN_ENV, bind_http, http_token

    token, made = http_token(os.environ) if http_port is not None else ("", False)
    sock = bind_http(http_port) if http_port is not None else None  # a taken port fails before loading
    # -e paths are the caller's (relative to where the command runs), not the workspace's
    paths = () if ctx.no_extensions else tuple(str(Path(p).expanduser().absolute()) for p in ctx.extensions)
    try:
        with open_session(paths, discover=not ctx.no_extensions, sandboxed_only=sandboxed_only, project_dir=project,
                          profile=ctx.cli_profile, on_prompt=router.ask, on_dialog=router.ask_dialog) as session:
            for ext in session.extensions():
                if not ext.loaded:
                    ctx.warn(f"extension {ext.id} did not load: {ext.error}")
            preload.join()
            from pi_sandbox.mcp_server.run import serve_http, serve_stdio

            where = "stdio" if sock is None else "HTTP"
            summary = (f"{PROG} mcp: {len(session.tools())} tool(s) of "
                       f"{sum(e.loaded for e in session.extensions())} extension(s) on {where}")
            if sock is None:
                closer = _Closer(session)
                signal.signal(signal.SIGTERM, closer.handler)  # before "ready"
                print_human(summary, stream=sys.stderr)
                closer.serve(lambda: serve_stdio(session, router))
            else:
                signal.signal(signal.SIGTERM, _interrupt)
                auth = f"Authorization: Bearer {token}" if made else f"Authorization: Bearer ${TOKEN_ENV}"
                serve_http(session, router, sock, token,
                           on_ready=lambda url: print_human(f"{summary}: {url} ({auth})", stream=sys.stderr))
    except KeyboardInterrupt:
        pass
    finally:
        if sock is not None:
            sock.close()
    return ExitCode.OK
