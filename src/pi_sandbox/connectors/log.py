"""The ``log`` connector: extension log lines go to a per-extension file in the state dir and to the operator.

The file keeps everything (size-capped); the operator sees each line on stderr / over RPC through
:class:`~pi_sandbox.connectors.output.OperatorOutput` (rate-limited, terminal-safe).
"""

from __future__ import annotations

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
        path = log_path(ctx.config.state_dir, ctx.extension_id)
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        with self._lock:
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            if path.exists() and path.stat().st_size > MAX_FILE_BYTES:
                return {"written": False, "reason": "log_full", "shown": shown}
            with path.open("a", encoding="utf-8") as handle:
                handle.write(f"{stamp} {level} {text}\n")
        return {"written": True, "shown": shown}


def log_path(state_dir: Path, extension_id: str) -> Path:
    """Where one extension's log lines are kept."""
    return state_dir / "logs" / f"{_safe_name(extension_id)}.log"
