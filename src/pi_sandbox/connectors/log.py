"""The ``log`` connector: extension log lines go to a per-extension file in the state dir and to the operator.

The file keeps everything (size-capped); the operator sees each line on stderr / over RPC through
:class:`~pi_sandbox.connectors.output.OperatorOutput` (rate-limited, terminal-safe).

Every line costs one ``open`` (append, create), one ``fstat`` (the size cap, read on the open file), one
``write`` and one ``close``: nothing is kept open between calls, so a file an operator moved or deleted is
simply created again by the next line. The folder is made when an ``open`` finds it missing, not before
every line.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pi_sandbox.connectors.base import ConnectorContext
from pi_sandbox.connectors.output import OperatorOutput
from pi_sandbox.errors import ConnectorError
from pi_sandbox.mediation.secret_broker import SecretBroker

LEVELS = ("debug", "info", "warn", "error")
MAX_LINE_CHARS = 8192
MAX_FILE_BYTES = 8 * 1024 * 1024
_OPEN_FLAGS = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC
#: Remembered file names per extension id (emptied when full).
_NAMES_KEPT = 1024


def _safe_name(extension_id: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in extension_id)[:120] or "unknown"


class LogConnector:
    """Appends ``[ts] level message`` lines to ``<state>/logs/<extension>.log`` (size-capped).

    Messages are extension-supplied text written to disk and shown to the operator: withheld secret values
    are redacted first.
    """

    def __init__(self, broker: SecretBroker | None = None, output: OperatorOutput | None = None) -> None:
        self._lock = threading.Lock()
        self.broker = broker
        self.output = output
        self._paths: dict[tuple[Path, str], str] = {}
        self._stamps: tuple[int, str] = (-1, "")

    def call(self, ctx: ConnectorContext, params: Mapping[str, Any]) -> Any:
        level = str(params.get("level", "info")).lower()
        if level == "log":
            level = "info"
        if level not in LEVELS:
            raise ConnectorError(f"unknown log level '{level}' (known: {', '.join(LEVELS)})", code="invalid_request")
        message = params.get("message", "")
        if self.broker is not None and isinstance(message, str):
            message = self.broker.redact(message)
        if not isinstance(message, str):
            raise ConnectorError("log hostcall needs a string 'message'", code="invalid_request")
        shown = self.output.emit(ctx.extension_id, "console", "log", level, message) if self.output else False
        text = message.replace("\r", "\\r").replace("\n", "\\n")[:MAX_LINE_CHARS]
        path = self._path(ctx.config.state_dir, ctx.extension_id)
        line = f"{self._stamp()} {level} {text}\n".encode("utf-8", "backslashreplace")
        with self._lock:
            try:
                fd = os.open(path, _OPEN_FLAGS, 0o600)
            except FileNotFoundError:  # the logs folder is not there (yet, or any more)
                os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
                fd = os.open(path, _OPEN_FLAGS, 0o600)
            try:
                if os.fstat(fd).st_size > MAX_FILE_BYTES:
                    return {"written": False, "reason": "log_full", "shown": shown}
                view = memoryview(line)
                while view:
                    view = view[os.write(fd, view):]
            finally:
                os.close(fd)
        return {"written": True, "shown": shown}

    def _path(self, state_dir: Path, extension_id: str) -> str:
        """``log_path`` as text, remembered per state folder and extension id."""
        key = (state_dir, extension_id)
        path = self._paths.get(key)
        if path is None:
            if len(self._paths) >= _NAMES_KEPT:
                self._paths.clear()
            path = self._paths[key] = str(log_path(state_dir, extension_id))
        return path

    def _stamp(self) -> str:
        """The line's UTC time to the second (formatted once per second)."""
        now = int(time.time())
        stamp = self._stamps
        if stamp[0] != now:
            stamp = self._stamps = (now, time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now)))
        return stamp[1]


def log_path(state_dir: Path, extension_id: str) -> Path:
    """Where one extension's log lines are kept."""
    return state_dir / "logs" / f"{_safe_name(extension_id)}.log"
