"""``pi rpc``: host extensions for an agent written in any language, over JSON lines.

One JSON object per line on stdin (requests) and stdout (responses and notifications); see
``docs/rpc.md``. Requests: ``{"id", "method", "params"}``. Responses: ``{"id", "result"}`` or
``{"id", "error": {"code", "message"}}``. Notifications (no ``id``): ``{"method", "params"}``,
e.g. ``extension.message`` for ``pi.sendMessage`` / ``pi.sendUserMessage`` from an extension and
``extension.output`` for its ``console.*`` and ``ctx.ui`` output (also written to stderr).
"""

from __future__ import annotations

import json
import os
import select
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import IO, Any

from pi_sandbox.connectors.output import OperatorLine
from pi_sandbox.errors import ExtensionLoadError, ExtensionRuntimeError, PiSandboxError, ToolArgumentsError
from pi_sandbox.runtime.discovery import discover
from pi_sandbox.runtime.host import ExtensionHost

PROTOCOL_VERSION = "pi.rpc.v1"


class RpcError(Exception):
    """A request the server rejects with an error code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def _obj(params: Mapping[str, Any], key: str) -> dict[str, Any]:
    value = params.get(key, {})
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise RpcError("invalid_params", f"'{key}' must be an object")
    return value


def _text(params: Mapping[str, Any], key: str, *, default: str | None = None) -> str:
    value = params.get(key, default)
    if not isinstance(value, str) or (default is None and not value):
        raise RpcError("invalid_params", f"'{key}' must be a non-empty string")
    return value


class RpcServer:
    """Dispatches JSON-lines requests to an ``ExtensionHost``."""

    def __init__(self, host: ExtensionHost, out: IO[str], *, cwd: Path | None = None) -> None:
        self.host = host
        self.out = out
        self.cwd = cwd or host.config.project_dir
        self._sent_messages = 0
        # Console / UI lines arrive from hostcall threads; they are sent from the serving thread.
        self._output: deque[OperatorLine] = deque(maxlen=10_000)
        host.sandbox.output.add_listener(self._output.append)
        self.running = True
        self._methods: dict[str, Callable[[Mapping[str, Any]], Any]] = {
            "initialize": self._initialize,
            "list": lambda _p: {"extensions": [e.summary() for e in self.host.extensions()]},
            "load": self._load,
            "tool.call": self._tool_call,
            "command.run": lambda p: self.host.run_command(
                _text(p, "extension"), _text(p, "name"), _text(p, "args", default="")
            ),
            "shortcut.run": lambda p: self.host.run_shortcut(_text(p, "extension"), _text(p, "key")),
            "events.emit": lambda p: self.host.emit(_text(p, "event"), _obj(p, "data")),
            "tick": self._tick,
            "shutdown": self._shutdown,
        }

    def send(self, message: Mapping[str, Any]) -> None:
        """Write one JSON line and flush."""
        self.out.write(json.dumps(message, separators=(",", ":"), default=str) + "\n")
        self.out.flush()

    def _initialize(self, _params: Mapping[str, Any]) -> Any:
        return {
            "protocol": PROTOCOL_VERSION,
            "session_id": self.host.session_id,
            "methods": sorted(self._methods),
            "extensions": [e.summary() for e in self.host.extensions()],
        }

    def _load(self, params: Mapping[str, Any]) -> Any:
        paths = params.get("paths")
        if not isinstance(paths, list) or not all(isinstance(p, str) for p in paths):
            raise RpcError("invalid_params", "'paths' must be a list of strings")
        found = discover(
            agent_dir=self.host.config.agent_dir,
            project_dir=self.host.config.project_dir,
            cli_paths=paths,
            cwd=self.cwd,
        )
        known = {e.source.entry for e in self.host.extensions()}
        loaded = self.host.load([s for s in found.sources if s.entry not in known])
        return {
            "extensions": [e.summary() for e in loaded],
            "problems": [{"path": p.path, "reason": p.reason} for p in found.problems],
        }

    def _tool_call(self, params: Mapping[str, Any]) -> Any:
        abort_after = params.get("abortAfterMs")
        if abort_after is not None and (isinstance(abort_after, bool) or not isinstance(abort_after, int)
                                        or abort_after <= 0):
            raise RpcError("invalid_params", "'abortAfterMs' must be a positive integer")
        return self.host.call_tool(
            _text(params, "extension"),
            _text(params, "tool"),
            _obj(params, "args"),
            tool_call_id=params.get("toolCallId") if isinstance(params.get("toolCallId"), str) else None,
            abort_after_ms=abort_after,
        )

    def _tick(self, _params: Mapping[str, Any]) -> Any:
        return {"ticked": self.host.tick(only_due=False)}

    def _shutdown(self, _params: Mapping[str, Any]) -> Any:
        self.running = False
        self.host.shutdown()
        return {"stopped": True}

    def _flush_notifications(self) -> None:
        while self._output:
            line = self._output.popleft()
            self.send({"method": "extension.output", "params": {
                "extension_id": line.extension_id, "source": line.source, "kind": line.kind,
                "level": line.level, "text": line.text}})
        while self._sent_messages < len(self.host.outbox):
            self.send({"method": "extension.message", "params": self.host.outbox[self._sent_messages]})
            self._sent_messages += 1

    def handle_line(self, line: str) -> None:
        """Answer one request line (never raises for bad input)."""
        if not line.strip():
            return
        try:
            request = json.loads(line)
        except json.JSONDecodeError as exc:
            self.send({"id": None, "error": {"code": "parse_error", "message": f"invalid JSON: {exc.msg}"}})
            return
        if not isinstance(request, dict) or not isinstance(request.get("method"), str):
            self.send(
                {"id": None, "error": {"code": "invalid_request", "message": "expected {id, method, params}"}}
            )
            return
        request_id = request.get("id")
        method = request["method"]
        params = request.get("params") or {}
        handler = self._methods.get(method)
        try:
            if handler is None:
                raise RpcError(
                    "method_not_found",
                    f"unknown method '{method}' (known: {', '.join(sorted(self._methods))})",
                )
            if not isinstance(params, dict):
                raise RpcError("invalid_params", "'params' must be an object")
            result = handler(params)
        except RpcError as exc:
            self._reply_error(request_id, exc.code, str(exc))
            return
        except ToolArgumentsError as exc:
            self._reply_error(request_id, "invalid_params", str(exc))
            return
        except ExtensionRuntimeError as exc:
            self._reply_error(request_id, "extension_error", str(exc))
            return
        except ExtensionLoadError as exc:
            self._reply_error(request_id, "not_found", str(exc))
            return
        except PiSandboxError as exc:
            self._reply_error(request_id, "error", str(exc))
            return
        self._flush_notifications()
        self.send({"id": request_id, "result": result})

    def _reply_error(self, request_id: Any, code: str, message: str) -> None:
        self._flush_notifications()
        self.send({"id": request_id, "error": {"code": code, "message": message}})

    def serve(self, lines: IO[str]) -> int:
        """Serve until EOF or ``shutdown``; returns the exit code.

        Between requests the server waits for input only until the next extension timer is due,
        then lets the extensions run their timers (``setTimeout``/``setInterval`` keep working while
        the agent is idle) and forwards any messages they produced.
        """
        self.send({"method": "ready", "params": self._initialize({})})
        try:
            fd = lines.fileno()
        except (AttributeError, OSError, ValueError):
            fd = -1
        source = self._lines_from_fd(fd) if fd >= 0 else iter(lines)
        for line in source:
            if line is None:
                self.host.tick()
                self._flush_notifications()
                continue
            self.handle_line(line)
            if not self.running:
                break
        if self.running:
            self.host.shutdown()
        return 0

    def _lines_from_fd(self, fd: int) -> Iterator[str | None]:
        """Lines read from ``fd``; yields None whenever an extension timer comes due meanwhile."""
        pending = b""
        while True:
            while b"\n" in pending:
                line, pending = pending.split(b"\n", 1)
                yield line.decode("utf-8", errors="replace")
            due = self.host.next_timer_at()
            timeout = None if due is None else max(0.0, due - time.monotonic())
            ready, _, _ = select.select([fd], [], [], timeout)
            if not ready:
                yield None
                continue
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                if pending:
                    yield pending.decode("utf-8", errors="replace")
                return
            pending += chunk
