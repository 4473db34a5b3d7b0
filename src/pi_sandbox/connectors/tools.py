"""The ``tool`` connector: pi's built-in file tools on top of ``fs``, other tools via the host.

``bash`` is routed to the ``exec`` connector by the pipeline (it needs the ``exec`` capability and
exec mediation), so it never reaches this class.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from pi_sandbox.connectors.base import ConnectorContext
from pi_sandbox.connectors.fs import FsConnector
from pi_sandbox.connectors.search import search
from pi_sandbox.errors import ConnectorError

ToolHandler = Callable[[str, str, Mapping[str, Any]], Any]


class ToolConnector:
    """read / ls / find / grep / write / edit, plus host-registered tools."""

    def __init__(self, fs: FsConnector) -> None:
        self.fs = fs
        self.handler: ToolHandler | None = None

    def call(self, ctx: ConnectorContext, params: Mapping[str, Any]) -> Any:
        name = str(params.get("name", "")).strip().lower()
        args = params.get("input", {})
        if not isinstance(args, Mapping):
            raise ConnectorError("tool hostcall 'input' must be an object", code="invalid_request")
        if name == "read":
            return self.fs.call(ctx, {"op": "read", "path": args.get("path")})
        if name == "ls":
            return self.fs.call(ctx, {"op": "list", "path": args.get("path", ".")})
        if name == "write":
            return self.fs.call(ctx, {"op": "write", "path": args.get("path"), "data": args.get("content", "")})
        if name == "edit":
            return self._edit(ctx, args)
        if name in ("find", "grep"):
            return search(ctx, name, args)
        if self.handler is None:
            raise ConnectorError(f"no tool named '{params.get('name')}' is registered", code="invalid_request")
        return self.handler(ctx.extension_id, str(params.get("name")), args)

    def _edit(self, ctx: ConnectorContext, args: Mapping[str, Any]) -> Any:
        old, new = args.get("oldText"), args.get("newText")
        if not isinstance(old, str) or not isinstance(new, str) or not old:
            raise ConnectorError("edit needs string 'oldText' (non-empty) and 'newText'", code="invalid_request")
        current = self.fs.call(ctx, {"op": "read", "path": args.get("path")})["content"]
        if current.count(old) != 1:
            raise ConnectorError("edit 'oldText' must occur exactly once in the file", code="io",
                                 reason="edit_not_unique")
        self.fs.call(ctx, {"op": "write", "path": args.get("path"), "data": current.replace(old, new, 1)})
        return {"edited": True}
