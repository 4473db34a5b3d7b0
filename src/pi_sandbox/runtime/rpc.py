"""``pi-sandbox rpc``: host extensions for an agent written in any language, over JSON lines.

One JSON object per line on stdin (requests) and stdout (responses and notifications); see
``docs/rpc.md`` and the JSON Schemas in ``docs/schemas/``. Requests: ``{"id", "method", "params"}``.
Responses: ``{"id", "result"}`` or ``{"id", "error": {"code", "message"}}``. Notifications (no
``id``): ``{"method", "params"}``, e.g. ``extension.message`` for ``pi.sendMessage`` /
``pi.sendUserMessage``, ``extension.output`` for ``console.*`` and ``ctx.ui`` output, ``alert``
for security alerts.

The server also asks the host: a host that says so in ``initialize`` gets ``permission/request``
(a policy prompt: once / session / always / deny) and ``ui/request`` (an extension's
``ctx.ui.confirm/select/input/editor``) requests with their own ids, and answers them with ordinary
responses while its own request is still running. No answer within the timeout is a deny (a
prompt) or the headless answer (a dialog); a host that did not opt in is headless.
"""

from __future__ import annotations

import itertools
import json
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import IO, Any, Final

from pi_sandbox.connectors.events import HeadlessUiConnector
from pi_sandbox.connectors.output import OperatorLine
from pi_sandbox.errors import ExtensionLoadError, ExtensionRuntimeError, PiSandboxError, ToolArgumentsError
from pi_sandbox.policy import PromptAnswer, PromptRequest
from pi_sandbox.runtime.discover import discover
from pi_sandbox.runtime.host import ExtensionHost

PROTOCOL_VERSION: Final = "pi.rpc.v1"
#: Answers a host may give to ``permission/request``.
PERMISSION_ANSWERS: Final = ("once", "session", "always", "deny")
#: How long a question to the host waits by default, and at most (``initialize`` ``prompt_timeout_ms``).
DEFAULT_PROMPT_TIMEOUT_MS: Final = 60_000
MAX_PROMPT_TIMEOUT_MS: Final = 600_000
#: Host capabilities a client can turn on in ``initialize``.
CLIENT_CAPABILITIES: Final = ("permissions", "ui")
#: The most CLI flag values the host may set at once (``flags.set``).
MAX_FLAGS: Final = 256
_EOF: Final = object()


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


class _HostQuestions:
    """Requests the server sends to the host, each waiting (on its own thread) for the host's response."""

    def __init__(self, send: Callable[[Mapping[str, Any]], None]) -> None:
        self._send = send
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._waiting: dict[str, tuple[threading.Event, list[Any]]] = {}
        self.closed = False

    def ask(self, method: str, params: Mapping[str, Any], timeout_s: float) -> Any:
        """Send ``method`` to the host and wait for its result; None on timeout, error or shutdown."""
        request_id = f"pi-sandbox:{next(self._ids)}"
        slot: tuple[threading.Event, list[Any]] = (threading.Event(), [])
        with self._lock:
            if self.closed:
                return None
            self._waiting[request_id] = slot
        try:
            self._send({"id": request_id, "method": method, "params": dict(params)})
            slot[0].wait(timeout_s)
        finally:
            with self._lock:
                self._waiting.pop(request_id, None)
        return slot[1][0] if slot[1] else None

    def answer(self, message: Any) -> bool:
        """Deliver ``message`` if it is the host's response to one of our requests (else False)."""
        if not isinstance(message, dict) or "method" in message or not isinstance(message.get("id"), str):
            return False
        with self._lock:
            slot = self._waiting.get(message["id"])
        if slot is None:
            return str(message["id"]).startswith("pi-sandbox:")  # late answer to a question that timed out
        slot[1].append(message.get("result") if "error" not in message else None)
        slot[0].set()
        return True

    def close(self) -> None:
        """Wake every waiting question with no answer (EOF or shutdown)."""
        with self._lock:
            self.closed = True
            slots = list(self._waiting.values())
        for event, _ in slots:
            event.set()


class RpcServer:
    """Dispatches JSON-lines requests to an ``ExtensionHost``."""

    def __init__(self, host: ExtensionHost, out: IO[str], *, cwd: Path | None = None) -> None:
        self.host = host
        self.out = out
        self.cwd = cwd or host.config.project_dir
        self._sent_messages = 0
        self._send_lock = threading.Lock()
        self._flush_lock = threading.Lock()
        # Console / UI lines arrive from hostcall threads; they are sent from the serving thread.
        self._output: deque[OperatorLine] = deque(maxlen=10_000)
        host.sandbox.output.add_listener(self._output.append)
        self._alert_since_ms = time.time_ns() // 1_000_000
        self._alert_seq = 0
        self._questions = _HostQuestions(self.send)
        self.capabilities: dict[str, bool] = dict.fromkeys(CLIENT_CAPABILITIES, False)
        self.prompt_timeout_s = DEFAULT_PROMPT_TIMEOUT_MS / 1000
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
            "flags.set": self._set_flags,
            "events.emit": lambda p: self.host.emit(_text(p, "event"), _obj(p, "data")),
            "tick": self._tick,
            "shutdown": self._shutdown,
        }

    def send(self, message: Mapping[str, Any]) -> None:
        """Write one JSON line and flush (any thread)."""
        line = json.dumps(message, separators=(",", ":"), default=str) + "\n"
        with self._send_lock:
            self.out.write(line)
            self.out.flush()

    # ---- methods -----------------------------------------------------------------------------

    def _describe(self) -> dict[str, Any]:
        return {
            "protocol": PROTOCOL_VERSION,
            "session_id": self.host.session_id,
            "methods": sorted(self._methods),
            "capabilities": dict(self.capabilities),
            "prompt_timeout_ms": int(self.prompt_timeout_s * 1000),
            "extensions": [e.summary() for e in self.host.extensions()],
        }

    def _initialize(self, params: Mapping[str, Any]) -> Any:
        """Describe the session; ``capabilities`` turns on questions to the host (prompts, dialogs)."""
        wanted = _obj(params, "capabilities")
        unknown = sorted(set(wanted) - set(CLIENT_CAPABILITIES))
        if unknown or not all(isinstance(v, bool) for v in wanted.values()):
            raise RpcError("invalid_params", f"'capabilities' takes booleans for {', '.join(CLIENT_CAPABILITIES)}"
                           + (f" (unknown: {', '.join(unknown)})" if unknown else ""))
        timeout = params.get("prompt_timeout_ms", DEFAULT_PROMPT_TIMEOUT_MS)
        if isinstance(timeout, bool) or not isinstance(timeout, int) or not 1 <= timeout <= MAX_PROMPT_TIMEOUT_MS:
            raise RpcError("invalid_params",
                           f"'prompt_timeout_ms' must be an integer from 1 to {MAX_PROMPT_TIMEOUT_MS}")
        self.prompt_timeout_s = timeout / 1000
        self.capabilities.update(wanted)
        # Without the capability the resolver stays headless: every prompt is a deny that is not remembered.
        self.host.sandbox.prompts.prompter = self if self.capabilities["permissions"] else None
        ui = self.host.sandbox.connectors.get("ui")
        if isinstance(ui, HeadlessUiConnector):
            ui.asker = self._ask_ui if self.capabilities["ui"] else None
        return self._describe()

    def ask(self, request: PromptRequest) -> PromptAnswer | None:
        """``Prompter``: put a policy prompt to the host; no answer in time (or a malformed one) is a deny."""
        answer = self._questions.ask("permission/request", {
            "extension_id": request.extension_id,
            "capability": request.capability.value,
            "method": request.method,
            "target": request.target,
            "explanation": request.explanation,
            "answers": list(PERMISSION_ANSWERS),
            "timeout_ms": int(self.prompt_timeout_s * 1000),
        }, self.prompt_timeout_s)
        choice = answer.get("answer") if isinstance(answer, dict) else None
        if choice not in PERMISSION_ANSWERS:
            return None
        return PromptAnswer(allow=False) if choice == "deny" else PromptAnswer(allow=True, scope=choice)

    def _ask_ui(self, extension_id: str, op: str, question: Mapping[str, Any]) -> Any:
        answer = self._questions.ask(
            "ui/request", {"extension_id": extension_id, "op": op, **question,
                           "timeout_ms": int(self.prompt_timeout_s * 1000)}, self.prompt_timeout_s)
        return answer.get("value") if isinstance(answer, dict) else None

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

    def _set_flags(self, params: Mapping[str, Any]) -> Any:
        values = _obj(params, "values")
        if len(values) > MAX_FLAGS or not all(
                isinstance(k, str) and 0 < len(k) <= 200 and (isinstance(v, bool) or (isinstance(v, str)
                                                                                    and len(v) <= 64 * 1024))
                for k, v in values.items()):
            raise RpcError("invalid_params", f"'values' maps at most {MAX_FLAGS} flag names to true/false or a "
                           "string (names up to 200 characters, values up to 64 KiB)")
        self.host.set_flags(values)
        return {"flags": sorted(values)}

    def _tick(self, _params: Mapping[str, Any]) -> Any:
        return {"ticked": self.host.tick(only_due=False)}

    def _shutdown(self, _params: Mapping[str, Any]) -> Any:
        self.running = False
        self._questions.close()
        self.host.shutdown()
        return {"stopped": True}

    # ---- notifications -----------------------------------------------------------------------

    def _flush_notifications(self) -> None:
        with self._flush_lock:
            while self._output:
                line = self._output.popleft()
                self.send({"method": "extension.output", "params": {
                    "extension_id": line.extension_id, "source": line.source, "kind": line.kind,
                    "level": line.level, "text": line.text}})
            while self._sent_messages < len(self.host.outbox):
                self.send({"method": "extension.message", "params": self.host.outbox[self._sent_messages]})
                self._sent_messages += 1
            self._flush_alerts()

    def _flush_alerts(self) -> None:
        """Alerts recorded since the last flush (kill, quota breach, denial patterns...) as ``alert``."""
        try:
            alerts = self.host.sandbox.store.query_alerts(since_ms=self._alert_since_ms)
        except PiSandboxError:
            return  # the ledger refuses reads (closed or broken): the failure is reported elsewhere
        for alert in alerts:
            if alert.sequence_id <= self._alert_seq:
                continue
            self._alert_seq = alert.sequence_id
            self._alert_since_ms = alert.ts_ms
            self.send({"method": "alert", "params": alert.to_dict()})

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

        A reader thread takes the lines: answers to our questions go straight to the waiting
        question (the request that asked is still running on this thread), requests are queued.
        Between requests the server waits only until the next extension timer is due, then lets the
        extensions run their timers (``setTimeout``/``setInterval`` keep working while the agent is
        idle) and forwards any messages they produced.
        """
        self.send({"method": "ready", "params": self._describe()})
        inbox: queue.Queue[object] = queue.Queue()
        threading.Thread(target=self._read, args=(lines, inbox), name="pi-rpc-reader", daemon=True).start()
        while self.running:
            due = self.host.next_timer_at()
            try:
                item = inbox.get(timeout=None if due is None else max(0.0, due - time.monotonic()))
            except queue.Empty:
                self.host.tick()
                self._flush_notifications()
                continue
            if item is _EOF:
                break
            self.handle_line(str(item))
        self._questions.close()
        if self.running:
            self.host.shutdown()
        return 0

    def _read(self, lines: IO[str], inbox: queue.Queue[object]) -> None:
        try:
            for line in iter(lines.readline, ""):
                try:
                    message = json.loads(line)
                except ValueError:
                    message = None
                if not self._questions.answer(message):
                    inbox.put(line)
        finally:
            # EOF: questions still waiting can never be answered.
            self._questions.close()
            inbox.put(_EOF)
