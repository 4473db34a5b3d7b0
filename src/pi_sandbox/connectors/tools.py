"""The ``tool`` connector: pi's built-in file tools on top of ``fs``, other tools via the host.

``bash`` is routed to the ``exec`` connector by the pipeline (it needs the ``exec`` capability and
exec mediation), so it never reaches this class.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from typing import Any

from pi_sandbox.connectors.base import ConnectorContext
from pi_sandbox.connectors.fs import FsConnector, confine, open_regular
from pi_sandbox.errors import ConnectorError

ToolHandler = Callable[[str, str, Mapping[str, Any]], Any]
MAX_MATCHES = 1000


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
            return self._search(ctx, name, args)
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

    def _search(self, ctx: ConnectorContext, name: str, args: Mapping[str, Any]) -> Any:
        root = confine(ctx, args.get("path", "."), "list")
        pattern = args.get("pattern")
        if not isinstance(pattern, str) or not pattern:
            raise ConnectorError(f"{name} needs a non-empty string 'pattern'", code="invalid_request")
        try:
            regex = re.compile(pattern if name == "grep" else re.escape(pattern).replace(r"\*", ".*"))
        except re.error as exc:
            raise ConnectorError(f"invalid pattern: {exc}", code="invalid_request") from None
        matches: list[dict[str, Any]] = []
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames[:] = sorted(d for d in dirnames if d not in (".git", "node_modules")
                                 and ctx.paths.allows(os.path.join(dirpath, d)))
            for filename in sorted(filenames):
                path = os.path.join(dirpath, filename)
                if not ctx.paths.allows(path):
                    continue  # a symlink pointing out, or protected state / settings: never read or list
                rel = os.path.relpath(path, root)
                if name == "find":
                    if regex.fullmatch(filename) or regex.search(rel):
                        matches.append({"path": rel})
                else:
                    try:
                        with os.fdopen(open_regular(path), encoding="utf-8", errors="strict") as handle:
                            for lineno, line in enumerate(handle, 1):
                                if regex.search(line):
                                    matches.append({"path": rel, "line": lineno, "text": line.rstrip()[:500]})
                    except (UnicodeDecodeError, OSError, ConnectorError):
                        continue  # binary, unreadable, or a pipe/device (never opened for reading)
                if len(matches) >= MAX_MATCHES:
                    return {"matches": matches, "truncated": True}
        return {"matches": matches, "truncated": False}
