"""Tool calls of the MCP server as threads, and the questions (permission prompts, extension dialogs)
they raise on the way.

A front-door session's tool call blocks (the extension runs in its worker while every hostcall goes
through the pipeline), so each MCP ``tools/call`` runs on a thread of its own. When the policy says
*prompt*, the pipeline thread asks :meth:`PromptRouter.ask`; the question is handed to the MCP handler
of the call that caused it (the call holding that extension), which asks the client by elicitation
and settles it. Nobody to ask (no running call, prompts configured off, a client without
elicitation) is a headless deny; no answer in time is a deny. An extension's ``ctx.ui.confirm/select/
input/editor`` travels the same way (:meth:`PromptRouter.ask_dialog`); unanswered, it gets the headless
answer.
"""

from __future__ import annotations

import queue
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Final

from pi_sandbox.session.model import Dialog, PermissionAnswer, PermissionPrompt

#: Suspended calls kept for clients that answer over 2026-07-28's retry (oldest dropped beyond this).
MAX_SUSPENDED: Final = 256


class PromptMode(StrEnum):
    """What a permission prompt does in ``pi-sandbox mcp`` (``--prompts``)."""

    #: ask the client by MCP elicitation; a client without elicitation gets a deny (headless)
    ELICIT = "elicit"
    #: never ask: every prompt is a deny (headless) and every dialog gets its headless answer
    DENY = "deny"


class Question:
    """A permission prompt or an extension dialog waiting on a pipeline thread for the client's answer."""

    def __init__(self, asked: PermissionPrompt | Dialog) -> None:
        self.asked = asked
        self._event = threading.Event()
        self._answer: Any = None

    @property
    def unasked(self) -> Any:
        """The answer when nobody can be asked: a headless deny, or the dialog's headless answer."""
        return PermissionAnswer.UNASKED if isinstance(self.asked, PermissionPrompt) else None

    def settle(self, answer: Any) -> None:
        """Answer it (``None``: no answer = deny / headless answer); later answers are ignored."""
        if not self._event.is_set():
            self._answer = answer
            self._event.set()

    def wait(self, timeout_s: float) -> Any:
        """The answer given within ``timeout_s`` (None: none in time, a deny / the headless answer)."""
        self._event.wait(timeout_s)
        self._event.set()  # a late answer must not change what the pipeline already decided
        return self._answer


@dataclass(frozen=True)
class Finished:
    """The end of a call: the session's result, or the error it raised."""

    result: Any = None
    error: BaseException | None = None


class RunningCall:
    """One tool call on its own thread; its questions and its end arrive in :attr:`events`."""

    def __init__(self, extension_id: str, work: Callable[[], Any]) -> None:
        self.extension_id = extension_id
        self.events: queue.Queue[Question | Finished] = queue.Queue()
        self._work = work

    def run(self, router: PromptRouter) -> None:
        """Start the call (it holds its extension for prompts while it runs)."""
        threading.Thread(target=self._run, args=(router,), name=f"mcp-call-{self.extension_id}", daemon=True).start()

    def _run(self, router: PromptRouter) -> None:
        with router.holding(self):
            try:
                self.events.put(Finished(result=self._work()))
            except BaseException as exc:  # handed to the MCP handler, which maps it to a tool error
                self.events.put(Finished(error=exc))

    def next_event(self) -> Question | Finished:
        """Block until the call asks a question or ends."""
        return self.events.get()


@dataclass
class Suspended:
    """A call waiting for the client's retry with the answer (2026-07-28 has no back-channel)."""

    call: RunningCall
    question: Question
    tool: str
    arguments: dict[str, Any]
    created: float = field(default_factory=time.monotonic)


class PromptRouter:
    """Routes the pipeline's permission prompts to the MCP call that caused them."""

    def __init__(self, mode: PromptMode, timeout_s: float) -> None:
        self.mode = mode
        self.timeout_s = timeout_s
        self._lock = threading.Lock()
        self._holders: dict[str, RunningCall] = {}
        self._extension_locks: dict[str, threading.Lock] = {}
        self._suspended: OrderedDict[str, Suspended] = OrderedDict()

    def holding(self, call: RunningCall) -> _Holding:
        """Context manager: ``call`` is the one running in its extension (calls to one extension take turns)."""
        with self._lock:
            lock = self._extension_locks.setdefault(call.extension_id, threading.Lock())
        return _Holding(self, call, lock)

    def _hold(self, call: RunningCall | None, extension_id: str) -> None:
        with self._lock:
            if call is None:
                self._holders.pop(extension_id, None)
            else:
                self._holders[extension_id] = call

    def ask(self, prompt: PermissionPrompt) -> PermissionAnswer | None:
        """The session's ``on_prompt`` (a pipeline thread): hand the question to the running call, wait."""
        answer = self._route(Question(prompt))
        return answer if isinstance(answer, PermissionAnswer) else None

    def ask_dialog(self, dialog: Dialog) -> Any:
        """The session's ``on_dialog``: the same way; ``None`` is the headless answer."""
        return self._route(Question(dialog))

    def _route(self, question: Question) -> Any:
        with self._lock:
            call = self._holders.get(question.asked.extension_id)
        if call is None or self.mode is PromptMode.DENY:
            return question.unasked  # an extension timer or event, or asking off: nobody to ask
        call.events.put(question)
        return question.wait(self.timeout_s)

    # ---- 2026-07-28: the answer comes with a retried tools/call --------------------------------

    def suspend(self, suspended: Suspended) -> str:
        """Keep a waiting call; returns the unguessable token the client echoes as ``requestState``."""
        token = secrets.token_urlsafe(32)
        with self._lock:
            self._suspended[token] = suspended
            while len(self._suspended) > MAX_SUSPENDED:
                _, dropped = self._suspended.popitem(last=False)
                dropped.question.settle(None)
        return token

    def resume(self, token: str) -> Suspended | None:
        """The call suspended under ``token`` (once), or None."""
        with self._lock:
            return self._suspended.pop(token, None)


class _Holding:
    def __init__(self, router: PromptRouter, call: RunningCall, lock: threading.Lock) -> None:
        self.router, self.call, self.lock = router, call, lock

    def __enter__(self) -> None:
        self.lock.acquire()
        self.router._hold(self.call, self.call.extension_id)

    def __exit__(self, *_exc: object) -> None:
        self.router._hold(None, self.call.extension_id)
        self.lock.release()
