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
from pi_sandbox.mediation.secret_broker import Redactor
from pi_sandbox.vocabulary import Reason

ToolHandler = Callable[[str, str, Mapping[str, Any]], Any]


class ToolConnector:
    """read / ls / find / grep / write / edit, plus host-registered tools."""

    def __init__(self, fs: FsConnector, redact: Redact | None = None, secrets: Redactor | None = None) -> None:
        self.fs = fs
        #: What grep searches instead of a file's bytes (the secret broker's redaction; None: the broker is off).
        self.redact = redact
        #: The withheld values edit matches around (None: the broker is off): edit sees what a read returns.
        self.secrets = secrets
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
        read = self.fs.call(ctx, {"op": "read", "path": args.get("path")})
        if read.get("encoding") != "utf8":  # the content is base64 of the bytes: edit would write that text back
            raise ConnectorError("edit works on UTF-8 text files; this file is not UTF-8 (read it with "
                                 "encoding base64 and write it whole)", code="io", reason="not_text")
        current: str = read["content"]
        at = _edit_place(current, old, self.secrets)
        self.fs.call(ctx, {"op": "write", "path": args.get("path"),
                           "data": current[:at] + new + current[at + len(old):]})
        return {"edited": True}


def _edit_place(current: str, old: str, secrets: Redactor | None) -> int:
    """Where in ``current`` (the file's raw text) ``old`` is replaced, judged on what a read of the file returns.

    A file may hold a withheld value (``api_key: sk-...`` in a config) that every read shows as the placeholder.
    Matching ``old`` against the raw text made edit an oracle ("does ``api_key: sk-a`` occur once?", one character
    at a time) and let it cut the value (``oldText: "sk-"``, ``newText: "sk--"``), after which reads no longer
    recognised it and returned the rest. So ``old`` is looked for in the redacted view, must occur there exactly
    once, and must lie between two withheld values, never on one (the placeholder included): the answer depends
    only on what the extension can already read, and the values stay whole on disk."""
    spans = secrets.spans(current) if secrets else []
    if spans is None:
        raise _on_secret()
    plain: list[tuple[int, int, int]] = []  # (start in the view, start in the file, length) of each piece between
    parts: list[str] = []
    placeholder = secrets.placeholder if secrets else ""
    view_at = raw_at = 0
    for start, end in [*spans, (len(current), len(current))]:
        plain.append((view_at, raw_at, start - raw_at))
        parts.append(current[raw_at:start])
        view_at += start - raw_at
        if end > start:
            parts.append(placeholder)
            view_at += len(placeholder)
        raw_at = end
    view = "".join(parts)
    if view.count(old) != 1:
        raise ConnectorError("edit 'oldText' must occur exactly once in the file", code="io",
                             reason="edit_not_unique")
    found = view.find(old)
    for view_start, raw_start, length in plain:
        if view_start <= found and found + len(old) <= view_start + length:
            return raw_start + (found - view_start)
    raise _on_secret()


def _on_secret() -> ConnectorError:
    return ConnectorError("edit 'oldText' overlaps a value the secret broker withholds (shown as the placeholder); "
                          "such values are never changed, cut or matched by extensions: edit the text around it",
                          code="denied", reason=Reason.SECRET_EXPOSURE)


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
