"""The runtime risk controller (runbook INC-1, INC-6, rollback): scores every call, shadow or enforce.

For each hostcall policy allowed, :meth:`RiskController.decide` reads its :class:`Observation`, scores
it against the extension's window (``score.py``) and compares the score with the threshold the
calibration gives for ``extensionRisk.alpha`` (``calibration.py``). Above it: ``deny`` when
``enforce`` is on, ``shadow_deny`` (recorded, not refused) when it is off. A fault in the controller,
or a decision slower than ``decisionTimeoutMs``, is ``fail_closed`` (refused) or, with
``failClosed: false``, ``fail_open``. Calls refused before this stage are still added to the window
(:meth:`observe`): denials are part of the behaviour being scored.

Besides each decision's evidence (score, threshold, p-value, top features: names and numbers only), the
controller writes a ``risk_alarm`` record for every refusal, would-be refusal and fault, and a
``risk_state`` snapshot per extension at most once a second (and at close), which
``pi-sandbox security risk status`` reads.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType
from typing import Any, Final, NamedTuple

from pi_sandbox import gcpause
from pi_sandbox.audit.port import EvidencePort
from pi_sandbox.config.model import RiskSettings
from pi_sandbox.risk.calibration import Calibration
from pi_sandbox.risk.features import CallInfo, Observer
from pi_sandbox.risk.score import assess
from pi_sandbox.risk.window import CallState, ExtensionWindow, WindowCall

#: Record kinds (``security risk status`` reads them).
ALARM_KIND: Final = "risk_alarm"
STATE_KIND: Final = "risk_state"
#: How often an extension's state snapshot is written at most.
SNAPSHOT_S: Final = 1.0
_NO_FEATURES: Final[Mapping[str, float]] = MappingProxyType({})
#: Distinct scores whose p-value is remembered (the table is emptied when full).
_P_VALUES: Final = 4096
_new = tuple.__new__


class RiskAction(StrEnum):
    """What the controller says about one call."""

    ALLOW = "allow"
    DENY = "deny"
    #: Enforcement is off: the call goes on; the refusal it would have been is recorded.
    SHADOW_DENY = "shadow_deny"
    FAIL_CLOSED = "fail_closed"
    FAIL_OPEN = "fail_open"


_ALLOW, _DENY, _SHADOW_DENY = RiskAction.ALLOW, RiskAction.DENY, RiskAction.SHADOW_DENY
_PENDING, _REFUSED_HERE = CallState.PENDING, CallState.REFUSED_HERE


class RiskTimeout(Exception):
    """A decision took longer than ``decisionTimeoutMs``."""


class RiskDecision(NamedTuple):
    """The controller's answer for one call (a ``NamedTuple``: one per hostcall, cheap to make)."""

    action: RiskAction
    threshold: float
    score: float | None = None
    p_value: float | None = None
    features: Mapping[str, float] = _NO_FEATURES
    #: ``timeout`` or ``error:<ExceptionType>`` for a failed decision.
    fault: str | None = None

    @property
    def refused(self) -> bool:
        """Whether the call must be refused."""
        return self.action in (RiskAction.DENY, RiskAction.FAIL_CLOSED)

    def evidence(self) -> dict[str, Any]:
        """What the call's ledger entry records (numbers and feature names only)."""
        action, threshold, score, p_value, top, fault = self  # one unpacking: this runs for every call
        if score is not None:
            # the features are a dict made for this decision alone (``assess``): recorded as they are
            out: dict[str, Any] = {"threshold": threshold, "score": score, "p": p_value,
                                   "features": top if type(top) is dict else dict(top)}
        else:
            out = {"threshold": threshold}
        if action is _SHADOW_DENY:
            out["mode"], out["would_deny"] = "shadow", True
        if fault is not None:
            out["fault"] = fault
        return out


@dataclass(slots=True)
class _Stats:
    scored: int = 0
    denied: int = 0
    shadow_denied: int = 0
    faults: int = 0
    max_score: float = 0.0
    last_score: float = 0.0
    last_alarm: dict[str, Any] | None = None
    snapshot_at: float = -SNAPSHOT_S


class RiskController:
    """Per-extension windows, scores and decisions for one sandbox (thread-safe)."""

    def __init__(self, settings: RiskSettings, observer: Observer, calibration: Calibration, *,
                 evidence: EvidencePort | None = None, on_denial: Callable[[str], None] | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.settings = settings
        self.observer = observer
        self.calibration = calibration
        self.evidence = evidence
        self.on_denial = on_denial
        self.clock = clock
        self.threshold = calibration.threshold(settings.alpha)
        self.budget_s = settings.decision_timeout_ms / 1000
        self._lock = threading.Lock()
        self._windows: dict[str, ExtensionWindow] = {}
        self._stats: dict[str, _Stats] = {}
        self._p_values: dict[float, float] = {}

    def _window(self, extension_id: str) -> tuple[ExtensionWindow, _Stats]:
        window = self._windows.get(extension_id)
        if window is None:
            with self._lock:
                window = self._windows.get(extension_id)
                if window is None:
                    self._stats[extension_id] = _Stats()
                    window = self._windows[extension_id] = ExtensionWindow(self.settings.window_size,
                                                                           self.settings.ledger_limit)
        return window, self._stats[extension_id]

    # --- decisions -------------------------------------------------------------------------------

    def decide(self, call: CallInfo) -> RiskDecision:
        """Score ``call`` and decide; never raises (a fault is a ``fail_*`` decision).

        The time budget counts the controller's own work (this thread's CPU time: a machine too busy to
        schedule the call is not the controller being slow) plus, in wall time, any wait for the
        extension's window held by another of its calls."""
        started = time.perf_counter()
        cpu = time.thread_time()
        collected = gcpause.paused_s()
        try:
            decision = self._assess(call, started)
            # A thread's CPU time never runs ahead of the wall clock: only a decision that took longer than the
            # budget in wall time needs the second CPU clock read (a system call, unlike perf_counter). A pause
            # of the garbage collector is not the controller's work either.
            if time.perf_counter() - started > self.budget_s and \
                    time.thread_time() - cpu - (gcpause.paused_s() - collected) > self.budget_s:
                raise RiskTimeout(f"decision took longer than {self.settings.decision_timeout_ms} ms")
        except Exception as exc:  # fail closed (or open, as configured), never crash the pipeline
            decision = self._fault(call, exc)
        if decision.action is not _ALLOW:
            self._alarm(call, decision)
        else:  # (an alarm has written the snapshot): most calls come well within the interval, one read says so
            stats = self._stats.get(call.extension_id)
            if stats is not None and self.clock() - stats.snapshot_at >= SNAPSHOT_S:
                self._maybe_snapshot(call.extension_id)
        return decision

    def _assess(self, call: CallInfo, started: float) -> RiskDecision:
        obs = self.observer.observe(call)
        now = self.clock()
        extension_id = call.extension_id
        window = self._windows.get(extension_id)
        if window is None:
            window, stats = self._window(extension_id)
        else:
            stats = self._stats[extension_id]
        lock = window.lock
        # (positional: a keyword argument costs the lock's argument parsing a dict, on every call)
        if not lock.acquire(False) and \
                not lock.acquire(timeout=max(self.budget_s - (time.perf_counter() - started), 0.0)):
            raise RiskTimeout("the extension's window stayed busy past the decision budget")
        try:
            # ``window.novelty`` inline (it runs for every call): a kind or place is new when not seen before
            seen = window.seen
            kind_key = "k:" + obs[1]  # (fields by position: Observation is a NamedTuple) kind
            place = obs[2]
            novel = kind_key not in seen and window.remember(kind_key)
            new_place = place is not None and "p:" + place not in seen and window.remember("p:" + place)
            novel = novel or new_place
            value, top = assess(window, obs, novel, new_place and obs[3], now)
            over = value > self.threshold
            action = _ALLOW if not over else (_DENY if self.settings.enforce else _SHADOW_DENY)
            window.push(WindowCall(call.call_id, now, obs, novel, _REFUSED_HERE if over and action is _DENY
                                   else _PENDING))
            stats.scored += 1
            stats.last_score = value
            if value > stats.max_score:
                stats.max_score = value
            if over:
                if action is _DENY:
                    stats.denied += 1
                else:
                    stats.shadow_denied += 1
        finally:
            window.lock.release()
        p_value = self._p_values.get(value)
        if p_value is None:  # scores come back (the same counts give the same score): each looked up once
            if len(self._p_values) >= _P_VALUES:
                self._p_values.clear()
            p_value = self._p_values[value] = round(self.calibration.p_value(value), 6)
        # every field, straight to ``tuple.__new__`` (the NamedTuple's ``__new__`` is a Python frame more per call)
        return _new(RiskDecision, (action, self.threshold, value, p_value, top, None))

    def _fault(self, call: CallInfo, exc: Exception) -> RiskDecision:
        fault = "timeout" if isinstance(exc, RiskTimeout) else f"error:{type(exc).__name__}"
        _, stats = self._window(call.extension_id)
        stats.faults += 1
        return RiskDecision(RiskAction.FAIL_CLOSED if self.settings.fail_closed else RiskAction.FAIL_OPEN,
                            self.threshold, fault=fault)

    # --- outcomes --------------------------------------------------------------------------------

    def settle(self, call: CallInfo, state: CallState) -> None:
        """The outcome of a call this controller scored."""
        window = self._windows.get(call.extension_id)
        if window is None:
            return
        with window.lock:
            window.settle(call.call_id, state)

    def observe(self, call: CallInfo) -> None:
        """A call refused before this stage: it joins the window as a denial (it is not scored)."""
        obs = self.observer.observe(call)
        window, _ = self._window(call.extension_id)
        with window.lock:
            novel, _ = window.novelty(obs)
            window.push(WindowCall(call.call_id, self.clock(), obs, novel, CallState.DENIED))

    # --- records ---------------------------------------------------------------------------------

    def _alarm(self, call: CallInfo, decision: RiskDecision) -> None:
        _, stats = self._window(call.extension_id)
        alarm = {"call_id": call.call_id[:128], "method": call.method, "capability": str(call.capability),
                 "action": str(decision.action), "ts_ms": time.time_ns() // 1_000_000, **decision.evidence()}
        stats.last_alarm = alarm
        if self.evidence is not None:
            self.evidence.note(ALARM_KIND, alarm, call.extension_id)
        if decision.action is RiskAction.DENY and self.on_denial is not None:
            self.on_denial(call.extension_id)
        if decision.action is not RiskAction.ALLOW:
            self._maybe_snapshot(call.extension_id, force=True)

    def _maybe_snapshot(self, extension_id: str, force: bool = False) -> None:
        stats = self._stats.get(extension_id)
        if stats is None or self.evidence is None:
            return
        now = self.clock()
        if not force and now - stats.snapshot_at < SNAPSHOT_S:
            return
        stats.snapshot_at = now
        self.evidence.note(STATE_KIND, self.state(extension_id), extension_id)

    def state(self, extension_id: str) -> dict[str, Any]:
        """What ``security risk status`` shows of one extension (counts, scores, the window)."""
        window, stats = self._window(extension_id)
        # read without the window's lock (a snapshot may be taken while a call holds it): each read is atomic
        fill, denied, pending = len(window.calls), window.denied, len(window.pending)
        return {"mode": "enforce" if self.settings.enforce else "shadow", "threshold": self.threshold,
                "alpha": self.settings.alpha, "window_size": self.settings.window_size, "window_fill": fill,
                "window_denials": denied, "window_pending": pending, "scored": stats.scored,
                "denied": stats.denied, "shadow_denied": stats.shadow_denied, "faults": stats.faults,
                "max_score": stats.max_score, "last_score": stats.last_score, "last_alarm": stats.last_alarm}

    def flush(self) -> None:
        """Write a final snapshot of every extension (the session is closing)."""
        for extension_id in list(self._stats):
            self._maybe_snapshot(extension_id, force=True)
