"""One extension's recent behaviour: a sliding window of its last ``windowSize`` hostcalls.

Every count the scoring reads is kept up to date as calls enter and leave the window, and when a
call's outcome becomes known (``settle``): a decision costs O(1) amortised, whatever the window size.
A call is in the window from the moment it is scored (*pending*): a read of a secret file still in
flight counts, so two calls sent together (``Promise.all``) cannot slip an exfiltration past it.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any, Final

from pi_sandbox.capabilities import Capability
from pi_sandbox.risk.features import EFFECTFUL, Observation

#: Calls a rate is taken over at least (a session's first calls do not make a rate of 1).
MIN_FILL: Final = 32
#: Recent calls a burst rate is measured over.
BURST_SPAN: Final = 16


class CallState(IntEnum):
    """Where a call in the window stands."""

    PENDING = 0  # scored; its outcome is not known yet
    DONE = 1  # carried out
    FAILED = 2  # allowed but the effect failed (missing file, connector error)
    DENIED = 3  # refused by another stage (or a connector)
    #: Refused by this controller: not counted as a denial (the controller would feed on its own refusals).
    REFUSED_HERE = 4


_PENDING, _DONE, _DENIED = CallState.PENDING, CallState.DONE, CallState.DENIED


@dataclass(slots=True, eq=False)
class WindowCall:
    """One call in the window."""

    call_id: str
    t: float
    obs: Observation
    novel: bool
    state: CallState
    in_window: bool = True

    @property
    def effective(self) -> bool:
        """Whether its effect happened (or may be happening)."""
        return self.state <= CallState.DONE


@dataclass(slots=True, eq=False)
class ExtensionWindow:
    """The window of one extension, its running counts, and what it has touched before (novelty)."""

    size: int
    memory: int
    lock: threading.Lock = field(default_factory=threading.Lock)
    calls: deque[WindowCall] = field(default_factory=deque)
    pending: dict[str, WindowCall] = field(default_factory=dict)
    denied: int = 0
    #: Refused calls by capability and place (folder or host): the same thing refused again — a status
    #: line's ``git`` every turn, any program when exec is not granted — counts once.
    denied_calls: dict[str, int] = field(default_factory=dict)
    denied_capabilities: dict[Capability, int] = field(default_factory=dict)
    secret_reads: int = 0
    secret_any: int = 0
    novel: int = 0
    capabilities: dict[Capability, int] = field(default_factory=dict)
    written: dict[str, int] = field(default_factory=dict)
    #: Kinds, folders and hosts seen this session (oldest forgotten past ``memory``).
    seen: dict[str, None] = field(default_factory=dict)

    def novelty(self, obs: Observation) -> tuple[bool, bool]:
        """(anything new, a new host) about ``obs``; remembers them."""
        new_kind = self._remember("k:" + obs.kind)
        new_place = obs.place is not None and self._remember("p:" + obs.place)
        return new_kind or new_place, new_place and obs.host

    def _remember(self, key: str) -> bool:
        return key not in self.seen and self.remember(key)

    def remember(self, key: str) -> bool:
        """Note ``key`` (not seen before) as seen, forgetting the oldest past ``memory``; True."""
        seen = self.seen
        seen[key] = None
        if len(seen) > self.memory:
            del seen[next(iter(seen))]
        return True

    def push(self, call: WindowCall) -> None:
        """Add a call (the oldest leaves when the window is full)."""
        calls = self.calls
        calls.append(call)
        self._count(call, 1)
        if call.state is _PENDING:
            self.pending[call.call_id] = call
        while len(calls) > self.size:
            old = calls.popleft()
            old.in_window = False
            self._count(old, -1)
            if old.state is _PENDING:
                self.pending.pop(old.call_id, None)

    def settle(self, call_id: str, state: CallState) -> None:
        """The outcome of a pending call is known."""
        call = self.pending.pop(call_id, None)
        if call is None or not call.in_window:
            return
        if state is _DONE:
            # pending → done (most calls) changes no count: both are effective, neither is a denial
            call.state = state
            return
        self._count(call, -1)
        call.state = state
        self._count(call, 1)

    def _count(self, call: WindowCall, sign: int) -> None:
        # one unpacking (in ``Observation``'s field order) instead of an attribute read per field: this runs two
        # to four times per call
        capability, _, place, _, _, _, secret_read, secret_read_effective, secret_env, _, writes, _, _ = call.obs
        state = call.state
        if state is _DENIED:
            self.denied += sign
            _add(self.denied_calls, f"{capability} {place or ''}", sign)
            _add(self.denied_capabilities, capability, sign)
        if call.novel:
            self.novel += sign
        if secret_read or secret_env:
            self.secret_any += sign
        if capability in EFFECTFUL:  # only capabilities in use are keys (score reads the count of keys)
            left = self.capabilities.get(capability, 0) + sign
            if left:
                self.capabilities[capability] = left
            else:
                del self.capabilities[capability]
        if state <= _DONE:  # effective
            if secret_read_effective:
                self.secret_reads += sign
            for path in writes:
                _add(self.written, path, sign)

    def burst_rate(self, now: float) -> float:
        """Calls per second over the last ``BURST_SPAN`` calls and this one (0 until there are that many)."""
        if len(self.calls) < BURST_SPAN:
            return 0.0
        span = now - self.calls[-BURST_SPAN].t
        return BURST_SPAN / span if span > 0 else float(BURST_SPAN) * 1000.0


def _add(counts: dict[Any, int], key: Any, sign: int) -> None:
    """Add ``sign`` to ``counts[key]``; a key whose count reaches 0 is removed (``len`` counts distinct keys)."""
    left = counts.get(key, 0) + sign
    if left:
        counts[key] = left
    else:
        counts.pop(key, None)
