"""The ``tool`` connector: pi's built-in file tools on top of ``fs``, other tools via the host.

``bash`` is routed to the ``exec`` connector by the pipeline (it needs the ``exec`` capability and
exec mediation), so it never reaches this class.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from pi_sandbox.connectors.base import ConnectorContext
from pi_sandbox.connectors.fs import FsConnector
from pi_sandbox.connectors.search import Redact, search, search_request
from pi_sandbox.errors import ConnectorError

ToolHandler = Callable[[str, str, Mapping[str, Any]], Any]


class ToolConnector:
    """read / ls / find / grep / write / edit, plus host-registered tools."""

    def __init__(self, fs: FsConnector, redact: Redact | None = None) -> None:
        self.fs = fs
        #: What grep searches instead of a file's bytes (the secret broker's redaction; None: the broker is off).
        self.redact = redact
        self.handler: ToolHandler | None = None

    def check(self, ctx: ConnectorContext, params: Mapping[str, Any]) -> None:
        """What :meth:`call` refuses before any effect (a dry run), tool by tool; a host-registered tool is
        the host's to carry out, so a dry run stops at the tool being registered."""
        name = str(params.get("name", "")).strip().lower()
        args = params.get("input", {})
        if not isinstance(args, Mapping):
            raise ConnectorError("tool hostcall 'input' must be an object", code="invalid_request")
        if name in ("read", "ls", "write"):
            self.fs.check(ctx, _fs_params(name, args))
        elif name == "edit":
            _edit_texts(args)
            self.fs.check(ctx, {"op": "read", "path": args.get("path")})
            self.fs.check(ctx, {"op": "write", "path": args.get("path"), "data": ""})
        elif name in ("find", "grep"):
            search_request(ctx, name, args)
        elif self.handler is None:
            raise ConnectorError(f"no tool named '{params.get('name')}' is registered", code="invalid_request")

    def call(self, ctx: ConnectorContext, params: Mapping[str, Any]) -> Any:
        name = str(params.get("name", "")).strip().lower()
        args = params.get("input", {})
        if not isinstance(args, Mapping):
            raise ConnectorError("tool hostcall 'input' must be an object", code="invalid_request")
        if name in ("read", "ls", "write"):
            return self.fs.call(ctx, _fs_params(name, args))
        if name == "edit":
            return self._edit(ctx, args)
        if name in ("find", "grep"):
            return search(ctx, name, args, self.redact)
        if self.handler is None:
            raise ConnectorError(f"no tool named '{params.get('name')}' is registered", code="invalid_request")
        return self.handler(ctx.extension_id, str(params.get("name")), args)

    def _edit(self, ctx: ConnectorContext, args: Mapping[str, Any]) -> Any:
        old, new = _edit_texts(args)
        current = self.fs.call(ctx, {"op": "read", "path": args.get("path")})["content"]
        if current.count(old) != 1:
            raise ConnectorError("edit 'oldText' must occur exactly once in the file", code="io",
                                 reason="edit_not_unique")
        self.fs.call(ctx, {"op": "write", "path": args.get("path"), "data": current.replace(old, new, 1)})
        return {"edited": True}


def _fs_params(name: str, args: Mapping[str, Any]) -> dict[str, Any]:
    """The fs call behind the ``read`` / ``ls`` / ``write`` tool."""
    if name == "read":
        return {"op": "read", "path": args.get("path")}
    if name == "ls":
        return {"op": "list", "path": args.get("path", ".")}
    return {"op": "write", "path": args.get("path"), "data": args.get("content", "")}


def _edit_texts(args: Mapping[str, Any]) -> tuple[str, str]:
    old, new = args.get("oldText"), args.get("newText")
    if not isinstance(old, str) or not isinstance(new, str) or not old:
        raise ConnectorError("edit needs string 'oldText' (non-empty) and 'newText'", code="invalid_request")
    return old, new
