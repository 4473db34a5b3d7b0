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

#: Suspended calls kept for clients that answer over 2026-07-28's retry (oldest refused beyond this).
MAX_SUSPENDED: Final = 256
#: Tokens of refused suspended calls remembered to tell a late retry why (oldest forgotten beyond this).
MAX_EXPIRED: Final = 1024
#: Ledger reason of a suspended call refused because its client did not answer in time (or too many waited).
EXPIRED_REASON: Final = "mcp_call_expired"


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
        #: Set when nobody will drive the call any more (its suspension expired): a question it asks from
        #: then on gets the answer nobody gave at once, so the call ends and frees its extension.
        self.abandoned = False

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
    expires: float = float("inf")  # ``time.monotonic()`` past which the call is refused (set by ``suspend``)


@dataclass(frozen=True)
class Expired:
    """A suspended call that was refused before its client retried: why, for the retry's answer."""

    extension_id: str
    tool: str
    why: str

    @property
    def message(self) -> str:
        """What the client is told when it retries."""
        return (f"pi-sandbox refused this call of '{self.tool}' (extension '{self.extension_id}', ledger reason "
                f"{EXPIRED_REASON}): {self.why}; its question counted as unanswered (a deny). Call the tool again "
                "and answer sooner, or start `pi-sandbox mcp` with a longer --suspended-timeout")


class PromptRouter:
    """Routes the pipeline's permission prompts to the MCP call that caused them."""

    def __init__(self, mode: PromptMode, timeout_s: float, suspended_timeout_s: float | None = None,
                 on_expired: Callable[[Suspended, Expired], None] | None = None) -> None:
        """``timeout_s``: how long a question waits for its answer; ``suspended_timeout_s``: how long a call
        suspended for a 2026-07-28 retry is kept (default ``timeout_s``); ``on_expired``: records a refused
        suspended call (the server writes the ledger entry), called outside the router's lock."""
        self.mode = mode
        self.timeout_s = timeout_s
        self.suspended_timeout_s = timeout_s if suspended_timeout_s is None else suspended_timeout_s
        self.on_expired = on_expired
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._sweeper: threading.Thread | None = None
        self._holders: dict[str, RunningCall] = {}
        self._extension_locks: dict[str, threading.Lock] = {}
        self._suspended: OrderedDict[str, Suspended] = OrderedDict()
        self._expired: OrderedDict[str, Expired] = OrderedDict()

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
        if call is None or self.mode is PromptMode.DENY or call.abandoned:
            return question.unasked  # an extension timer or event, asking off, or a refused call: nobody to ask
        call.events.put(question)
        return question.wait(self.timeout_s)

    # ---- 2026-07-28: the answer comes with a retried tools/call --------------------------------

    def suspend(self, suspended: Suspended) -> str:
        """Keep a waiting call for ``suspended_timeout_s``; returns the unguessable token the client echoes as
        ``requestState``. Past its time (or pushed out by :data:`MAX_SUSPENDED` newer ones) the call is
        refused: its question is answered no, it is recorded (``on_expired``) and forgotten."""
        token = secrets.token_urlsafe(32)
        refused: list[tuple[Suspended, Expired]] = []
        with self._lock:
            suspended.expires = time.monotonic() + self.suspended_timeout_s
            self._suspended[token] = suspended
            while len(self._suspended) > MAX_SUSPENDED:
                oldest = next(iter(self._suspended))
                why = f"more than {MAX_SUSPENDED} calls waited for their client's answer"
                refused.append(self._expire(oldest, why))
            if self._sweeper is None:
                self._sweeper = threading.Thread(target=self._sweep, name="mcp-suspended-expiry", daemon=True)
                self._sweeper.start()
            self._wake.notify()
        self._report(refused)
        return token

    def resume(self, token: str) -> Suspended | Expired | None:
        """The call suspended under ``token`` (once); :class:`Expired` when it was refused before the retry
        (also when its time ran out just now); None for a token never given or long forgotten."""
        refused: list[tuple[Suspended, Expired]] = []
        with self._lock:
            suspended = self._suspended.get(token)
            if suspended is not None and time.monotonic() >= suspended.expires:
                refused.append(self._expire(token, self._late(suspended)))
                suspended = None
            elif suspended is not None:
                del self._suspended[token]
            expired = self._expired.get(token)
        self._report(refused)
        return suspended if suspended is not None else expired

    def pending(self) -> int:
        """How many calls wait for their client's retry now."""
        with self._lock:
            return len(self._suspended)

    def _late(self, suspended: Suspended) -> str:
        return (f"its client did not answer within {self.suspended_timeout_s:g} s "
                f"(waited {time.monotonic() - suspended.created:.1f} s)")

    def _expire(self, token: str, why: str) -> tuple[Suspended, Expired]:
        """Refuse the suspended call under ``token`` (the lock is held): forget it, answer its question no,
        stop asking on its behalf, remember why (bounded) for a late retry."""
        suspended = self._suspended.pop(token)
        suspended.call.abandoned = True
        suspended.question.settle(None)
        expired = Expired(suspended.call.extension_id, suspended.tool, why)
        self._expired[token] = expired
        while len(self._expired) > MAX_EXPIRED:
            self._expired.popitem(last=False)
        return suspended, expired

    def _report(self, refused: list[tuple[Suspended, Expired]]) -> None:
        for suspended, expired in refused:
            if self.on_expired is not None:
                try:
                    self.on_expired(suspended, expired)
                except Exception:  # recording must not stop the expiry (the refusal itself already holds)
                    pass

    def _sweep(self) -> None:
        """Refuse suspended calls as their time runs out; ends when none is left (restarted by ``suspend``)."""
        while True:
            with self._lock:
                now = time.monotonic()
                due = [t for t, s in self._suspended.items() if s.expires <= now]
                refused = [self._expire(t, self._late(self._suspended[t])) for t in due]
                if not refused:
                    if not self._suspended:
                        self._sweeper = None
                        return
                    self._wake.wait(max(0.0, min(s.expires for s in self._suspended.values()) - now))
            self._report(refused)


class _Holding:
    def __init__(self, router: PromptRouter, call: RunningCall, lock: threading.Lock) -> None:
        self.router, self.call, self.lock = router, call, lock

    def __enter__(self) -> None:
        self.lock.acquire()
        self.router._hold(self.call, self.call.extension_id)

    def __exit__(self, *_exc: object) -> None:
        self.router._hold(None, self.call.extension_id)
        self.lock.release()
