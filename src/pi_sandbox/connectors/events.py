"""The ``events``, ``session`` and ``ui`` connectors: in-process services the host provides.

``events`` is a bus: ``emit`` fans an event out to subscribers (other extensions, the host);
host-level operations such as ``send_message`` are delegated to handlers the host registers.
``session`` is a read-mostly view of the agent session, namespaced per extension. ``ui`` is headless unless the host
registers a UI: dialogs answer "no" (``false`` / ``None``) without blocking.
"""

from __future__ import annotations

import itertools
import json
import threading
from collections.abc import Callable, Mapping
from typing import Any, Final

import orjson

from pi_sandbox.capabilities import canonical_session_op
from pi_sandbox.connectors.base import ConnectorContext
from pi_sandbox.connectors.output import OperatorOutput
from pi_sandbox.errors import ConnectorError
from pi_sandbox.errors import SessionLimitError as SessionLimitError  # its home was here; kept importable
from pi_sandbox.mediation.secret_broker import SecretBroker
from pi_sandbox.waiting import waiting_for_a_person

OpHandler = Callable[[str, Mapping[str, Any]], Any]
Listener = Callable[[str, str, Any], None]


#: Levels a relayed value may be nested: the frame that carries an event or a message to another worker
#: adds a few around it, and the frame writer (orjson) stops at 255; past that the supervisor could not
#: pass it on (a 990-deep event raised RecursionError out of the emitter's call while it was delivered).
RELAY_HEADROOM: Final = 8


def check_relayable(params: Mapping[str, Any]) -> None:
    """Refuse ``params`` nested too deeply to be passed on to another worker (``invalid_request``)."""
    wrapped: Any = params
    for _ in range(RELAY_HEADROOM):
        wrapped = [wrapped]
    try:
        orjson.dumps(wrapped)
    except orjson.JSONEncodeError as exc:
        if "recursion" in str(exc).lower():
            raise ConnectorError(f"events data is nested too deeply to pass on (at most {255 - RELAY_HEADROOM} "
                                 "levels); send flatter data", code="invalid_request") from None
        # other refusals (a lone surrogate) are written by the json fallback


class EventBus:
    """Extension-to-extension and extension-to-host events, plus host-registered operations."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._listeners: list[Listener] = []
        self._ops: dict[str, OpHandler] = {}
        self.recorded: list[tuple[str, str]] = []

    def subscribe(self, listener: Listener) -> None:
        """``listener(source_extension_id, event, data)`` is called for every emitted event."""
        with self._lock:
            self._listeners.append(listener)

    def register_op(self, op: str, handler: OpHandler) -> None:
        """Let the host serve an ``events`` operation (``send_message``, ``register_command``, ...)."""
        with self._lock:
            self._ops[op] = handler

    def handle(self, extension_id: str, op: str, params: Mapping[str, Any]) -> Any:
        check_relayable(params)  # events and messages go on to other extensions and the host
        if op == "emit":
            event = params.get("event")
            if not isinstance(event, str) or not event:
                raise ConnectorError("events emit needs a non-empty string 'event'", code="invalid_request")
            with self._lock:
                listeners = list(self._listeners)
            for listener in listeners:
                listener(extension_id, event, params.get("data"))
            return {"delivered": len(listeners)}
        with self._lock:
            handler = self._ops.get(op)
            self.recorded.append((extension_id, op))
        if handler is None:
            return {"accepted": True, "handled": False}
        return handler(extension_id, params)


class EventsConnector:
    def __init__(self, bus: EventBus) -> None:
        self.bus = bus

    def call(self, ctx: ConnectorContext, params: Mapping[str, Any]) -> Any:
        op = params.get("op")
        if not isinstance(op, str) or not op:
            raise ConnectorError("events hostcall needs a string 'op'", code="invalid_request")
        return self.bus.handle(ctx.extension_id, op, params)


class SessionStore:
    """The agent session as extensions may see it. Host-owned, namespaced per extension.

    - **shared, read-only to every extension**: the session's name and model, and the entries the
      host itself adds (``add_shared``: the conversation). No extension can write them; renaming the
      session is ``set_name`` and needs the ``session_admin`` capability (decided by policy).
    - **per extension**: what an extension appends (``append_entry``, ``append_message``,
      ``set_label``) is visible to that extension only, capped at ``max_entries`` entries and
      ``max_bytes`` bytes of canonical JSON per extension.

    Reads return the shared entries and the caller's own, in the order they were added.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.name: str | None = None
        self.model: dict[str, Any] | None = None
        self._seq = itertools.count()
        self._shared: list[tuple[int, dict[str, Any]]] = []
        self._own: dict[str, list[tuple[int, dict[str, Any]]]] = {}
        self._bytes: dict[str, int] = {}

    def add_shared(self, entry: Mapping[str, Any]) -> None:
        """Add a host-written entry (the conversation) that every extension may read."""
        with self._lock:
            self._shared.append((next(self._seq), {"extension_id": None, **dict(entry)}))

    def visible(self, extension_id: str) -> list[dict[str, Any]]:
        """The entries ``extension_id`` may read: the shared ones and its own, in order."""
        with self._lock:
            return self._visible(extension_id)

    def usage(self, extension_id: str) -> tuple[int, int]:
        """(entries, bytes) ``extension_id`` keeps in the session."""
        with self._lock:
            return len(self._own.get(extension_id, ())), self._bytes.get(extension_id, 0)

    def _visible(self, extension_id: str) -> list[dict[str, Any]]:
        own = self._own.get(extension_id, [])
        merged = sorted([*self._shared, *own], key=lambda item: item[0]) if own and self._shared else \
            (own or self._shared)
        return [dict(entry) for _seq, entry in merged]

    def call(self, extension_id: str, op: str, params: Mapping[str, Any], *, max_entries: int = 1_000,
             max_bytes: int = 1024 * 1024) -> Any:
        """Carry out one session op for ``extension_id`` (policy has already decided it may)."""
        op = canonical_session_op(op)
        with self._lock:
            if op in ("get_state", "get"):
                return {"name": self.name, "entry_count": len(self._visible(extension_id)), "model": self.model}
            if op in ("get_entries", "get_messages", "get_branch"):
                return {"entries": self._visible(extension_id)}
            if op == "get_name":
                return {"name": self.name}
            if op == "set_name":
                self.name = str(params.get("name", ""))[:200]
                return {"name": self.name}
            if op in ("append_entry", "append_message", "set_label"):
                # The owner is stamped here, never taken from params.
                entry = {"extension_id": extension_id, "type": op, "data": params.get("data")}
                return {"index": self._append(extension_id, entry, max_entries, max_bytes)}
            if op == "get_model":
                return {"model": self.model}
        raise ConnectorError(f"unknown session op '{op}'", code="invalid_request")

    def _append(self, extension_id: str, entry: dict[str, Any], max_entries: int, max_bytes: int) -> int:
        own = self._own.setdefault(extension_id, [])
        if len(own) >= max_entries:
            raise SessionLimitError(
                f"session entry limit reached: this extension keeps {len(own)} entries "
                f"(extensionRuntime.sessionMaxEntries = {max_entries})", "session_entries_limit")
        try:
            size = len(json.dumps(entry["data"], separators=(",", ":"), ensure_ascii=False, default=str)
                       .encode("utf-8", "surrogatepass"))
        except (ValueError, RecursionError):
            raise ConnectorError("session entry 'data' is not JSON", code="invalid_request") from None
        used = self._bytes.get(extension_id, 0)
        if used + size > max_bytes:
            raise SessionLimitError(
                f"session size limit reached: {used} + {size} bytes would pass "
                f"extensionRuntime.sessionMaxBytes = {max_bytes}", "session_bytes_limit")
        own.append((next(self._seq), entry))
        self._bytes[extension_id] = used + size
        return len(own) - 1


class SessionConnector:
    def __init__(self, session: SessionStore) -> None:
        self.session = session

    def call(self, ctx: ConnectorContext, params: Mapping[str, Any]) -> Any:
        runtime = ctx.config.runtime
        return self.session.call(ctx.extension_id, str(params.get("op", "")), params,
                                 max_entries=runtime.session_max_entries, max_bytes=runtime.session_max_bytes)


#: ``ctx.ui.notify`` levels → operator output levels.
_NOTIFY_LEVELS = {"info": "info", "warning": "warn", "warn": "warn", "error": "error"}
#: Headless answers to UI calls that need a person (documented in docs/runtime.md).
HEADLESS_ANSWERS: dict[str, Any] = {"confirm": False, "select": None, "input": None, "editor": None,
                                    "custom": None}


def _shown(value: Any, limit: int = 500) -> str:
    text = value if isinstance(value, str) else "" if value is None else str(value)
    return text[:limit]


#: Asks a person through an attached host: ``(extension id, op, question)`` → the answer, None for none.
UiAsker = Callable[[str, str, Mapping[str, Any]], Any]
#: Longest answer to ``input`` / ``editor`` an extension gets from a host.
MAX_ANSWER_CHARS = 100_000


def _checked_answer(op: str, question: Mapping[str, Any], value: Any) -> Any:
    """The host's answer if it has the shape the op promises the extension, else None (headless answer)."""
    if op == "confirm":
        return value if isinstance(value, bool) else None
    if op == "select":
        return value if isinstance(value, str) and value in question.get("options", []) else None
    if op in ("input", "editor"):
        return value[:MAX_ANSWER_CHARS] if isinstance(value, str) else None
    return None


class HeadlessUiConnector:
    """No UI attached: confirmations are ``False``, choices and inputs ``None``; everything shown to the operator.

    Each call becomes one operator line (stderr, RPC notification) so output an extension meant
    for a person is seen rather than dropped; questions show what was asked and the answer given.
    With an ``asker`` (a host that has a UI, e.g. the pi bridge over ``pi-sandbox rpc``) dialogs are
    put to that host first; no answer, or one of the wrong shape, falls back to the headless answer.
    """

    def __init__(self, output: OperatorOutput | None = None, broker: SecretBroker | None = None) -> None:
        self.output = output
        self.broker = broker
        self.asker: UiAsker | None = None

    def _question(self, params: Mapping[str, Any]) -> dict[str, Any]:
        redact = self.broker.redact if self.broker is not None else (lambda t: t)
        options = params.get("options")
        return {
            "title": redact(_shown(params.get("title"))),
            "message": redact(_shown(params.get("message"), 4000)),
            "options": [redact(_shown(o, 200)) for o in options[:50]] if isinstance(options, list) else [],
        }

    def _show(self, ctx: ConnectorContext, op: str, level: str, text: str) -> None:
        if self.output is not None:
            shown = self.broker.redact(text) if self.broker is not None else text
            self.output.emit(ctx.extension_id, "ui", op, level, shown)

    def call(self, ctx: ConnectorContext, params: Mapping[str, Any]) -> Any:
        op = str(params.get("op", ""))
        if op in HEADLESS_ANSWERS:
            if self.asker is not None and op != "custom":
                question = self._question(params)
                with waiting_for_a_person():
                    asked = self.asker(ctx.extension_id, op, question)
                value = _checked_answer(op, question, asked)
                if value is not None:
                    return {"value": value, "has_ui": True}
            answer = HEADLESS_ANSWERS[op]
            asked = " — ".join(t for t in (_shown(params.get("title")), _shown(params.get("message"))) if t)
            options = params.get("options")
            if isinstance(options, list) and options:
                asked += f" [{', '.join(_shown(o, 80) for o in options[:10])}{', …' if len(options) > 10 else ''}]"
            shown = "no" if answer is False else "no answer"
            self._show(ctx, op, "info", f"{asked or '(no text)'} → {shown} (headless)")
            return {"value": answer, "has_ui": False}
        if op in ("notify", "set_status", "set_widget", "set_title", "set_footer", "set_header"):
            if op == "notify":
                level = _NOTIFY_LEVELS.get(str(params.get("level", "info")), "info")
                self._show(ctx, op, level, _shown(params.get("message"), 4000))
            elif op == "set_status":
                self._show(ctx, op, "info", f"{_shown(params.get('key'), 80)}: {_shown(params.get('text'))}")
            elif op == "set_widget":
                lines = params.get("lines")
                body = "\n".join(_shown(x) for x in lines[:20]) if isinstance(lines, list) else _shown(lines)
                self._show(ctx, op, "info", f"{_shown(params.get('key'), 80)}: {body}")
            elif op == "set_title":
                self._show(ctx, op, "info", _shown(params.get("title")))
            return {"value": None, "has_ui": False}
        raise ConnectorError(f"unknown ui op '{op}'", code="invalid_request")
