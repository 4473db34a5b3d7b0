"""Per-extension resource accounting for one session (runbook INC-6).

Every documented ``quota`` key has one :class:`Resource`. A call is *admitted* before it runs (the
hostcall rate — a token bucket with burst —, concurrent and total subprocesses, HTTP requests, the
bytes a write will add, and every total already used up) and *settled* after it ran (bytes read,
HTTP bytes, exec wall time). Memory and CPU time are enforced on the worker process by the runtime
and reported here as breaches. A breach carries the runbook's fields: extension, resource, limit,
actual, time.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, fields, replace
from enum import StrEnum
from typing import Any, Final

from pi_sandbox.config.model import QuotaSettings


class Resource(StrEnum):
    """What a quota limits (the ``resource`` of a breach)."""

    MEMORY = "memory_mb"
    CPU_TIME = "cpu_time_ms"
    HOSTCALL_RATE = "hostcalls_per_second"
    SUBPROCESSES = "subprocesses"
    SUBPROCESSES_TOTAL = "subprocesses_total"
    WRITE_BYTES = "write_bytes"
    READ_BYTES = "read_bytes"
    HTTP_REQUESTS = "http_requests"
    HTTP_BYTES = "http_bytes"
    EXEC_WALL = "exec_wall_ms"


#: Resource → the ``QuotaSettings`` field that limits it.
LIMIT_FIELD: Final[dict[Resource, str]] = {
    Resource.MEMORY: "max_memory_mb",
    Resource.CPU_TIME: "max_cpu_time_ms",
    Resource.HOSTCALL_RATE: "max_hostcalls_per_second",
    Resource.SUBPROCESSES: "max_subprocesses",
    Resource.SUBPROCESSES_TOTAL: "max_subprocesses_total",
    Resource.WRITE_BYTES: "max_write_bytes",
    Resource.READ_BYTES: "max_read_bytes",
    Resource.HTTP_REQUESTS: "max_http_requests",
    Resource.HTTP_BYTES: "max_http_bytes",
    Resource.EXEC_WALL: "max_exec_wall_ms",
}
#: Totals that only grow during a session (checked before a call, charged before or after it).
_TOTALS: Final = (Resource.SUBPROCESSES_TOTAL, Resource.WRITE_BYTES, Resource.READ_BYTES, Resource.HTTP_REQUESTS,
                  Resource.HTTP_BYTES, Resource.EXEC_WALL)
#: The totals with their names as plain text (an enum member's ``.value`` is a Python-level descriptor call).
_TOTAL_NAMES: Final = tuple((r, r.value) for r in _TOTALS)
_READ_BYTES, _HTTP_BYTES, _EXEC_WALL = Resource.READ_BYTES, Resource.HTTP_BYTES, Resource.EXEC_WALL
_SUBPROCESSES_NAME, _CPU_TIME_NAME, _HOSTCALL_RATE_NAME = (
    Resource.SUBPROCESSES.value, Resource.CPU_TIME.value, Resource.HOSTCALL_RATE.value)
#: How old the CPU time ``admit`` checks may be at most: the probe is asked every half of it for a reading at most
#: half of it old (the runtime reads the worker's CPU time at every request, for its budget: the probe reuses that
#: reading instead of reading /proc again, and reads afresh only when the last one is older).
CPU_PROBE_INTERVAL_S: Final = 0.25
_CPU_ASK_S: Final = CPU_PROBE_INTERVAL_S / 2


@dataclass(frozen=True, slots=True)
class QuotaBreach:
    """A quota exceeded (or a call refused because it would exceed one)."""

    extension_id: str
    resource: Resource
    limit: int
    actual: int
    ts_ms: int

    def to_dict(self) -> dict[str, Any]:
        return {"extension_id": self.extension_id, "resource": self.resource, "limit": self.limit,
                "actual": self.actual, "ts_ms": self.ts_ms}


@dataclass(frozen=True, slots=True)
class Demand:
    """What a call will take, known before it runs."""

    write_bytes: int = 0
    subprocess: bool = False
    http_request: bool = False


@dataclass(frozen=True, slots=True)
class Usage:
    """What a call took, known after it ran."""

    read_bytes: int = 0
    http_bytes: int = 0
    exec_wall_ms: int = 0


@dataclass(slots=True)
class _Account:
    tokens: float
    refilled_at: float
    running: int = 0
    used: dict[Resource, int] = field(default_factory=dict)
    cpu_checked_at: float = 0.0
    cpu_ms: int = 0
    #: The limits ``totals`` was compiled from (compared by identity: settings are immutable).
    limits: QuotaSettings | None = None
    #: (resource, limit) of every session total, in ``_TOTALS`` order: what ``admit`` checks first.
    totals: tuple[tuple[Resource, int], ...] = ()
    #: The same limits by resource (``_add`` asks whether the one use it charged reached its limit).
    total_limits: dict[Resource, int] = field(default_factory=dict)
    #: The first session total (in ``_TOTALS`` order) used up, and its use: recomputed whenever a use or the
    #: limits change, so that ``admit`` reads one field instead of checking every total.
    exhausted: tuple[Resource, int] | None = None


def _totals(limits: QuotaSettings) -> tuple[tuple[Resource, int], ...]:
    return tuple((r, getattr(limits, LIMIT_FIELD[r])) for r in _TOTALS)


def _compile(account: _Account, limits: QuotaSettings) -> None:
    """Set the account's limits (first call, or the limits changed) and recompute what is used up under them."""
    account.limits, account.totals = limits, _totals(limits)
    account.total_limits = dict(account.totals)
    _recheck(account)


def _recheck(account: _Account) -> None:
    used = account.used
    account.exhausted = next(((r, used.get(r, 0)) for r, limit in account.totals if used.get(r, 0) >= limit), None)


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


class QuotaMeter:
    """Usage against limits, per extension id (thread-safe)."""

    def __init__(self, limits_for: Callable[[str], QuotaSettings],
                 cpu_probe: Callable[[str, float], int | None] | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.limits_for = limits_for
        self.cpu_probe = cpu_probe
        self.clock = clock
        self._lock = threading.Lock()
        self._accounts: dict[str, _Account] = {}

    def _account(self, extension_id: str, limits: QuotaSettings) -> _Account:
        account = self._accounts.get(extension_id)
        if account is None:
            account = self._accounts[extension_id] = _Account(float(limits.hostcall_burst), self.clock())
        return account

    def admit(self, extension_id: str, demand: Demand) -> QuotaBreach | None:
        """Take one hostcall's share, or the breach that refuses it (nothing is charged then)."""
        limits = self.limits_for(extension_id)
        now = self.clock()
        account = self._accounts.get(extension_id)
        # the probe is asked at most every _CPU_ASK_S: most calls come well within that, which this one read says
        # without the lock or a call (``_cpu_ms`` repeats the check under the lock)
        cpu = self._cpu_ms(extension_id, now) if self.cpu_probe is not None and (
            account is None or now - account.cpu_checked_at >= _CPU_ASK_S) else None
        with self._lock:
            if account is None:
                account = self._account(extension_id, limits)
            if account.limits is not limits:  # first call, or the limits changed (configuration, probation)
                _compile(account, limits)
            rate = limits.max_hostcalls_per_second
            # ``now`` was read before the lock: another call may have refilled up to a later time meanwhile, and
            # the bucket only ever moves forward (every interval is credited once)
            elapsed = now - account.refilled_at
            tokens = account.tokens + elapsed * rate if elapsed > 0 else account.tokens
            account.tokens = tokens = min(float(limits.hostcall_burst), tokens)
            if elapsed > 0:
                account.refilled_at = now
            if cpu is not None:
                account.cpu_ms = cpu
            # The same checks, in the same order, as a breach report names the first one that fails.
            if account.cpu_ms >= limits.max_cpu_time_ms:
                return self._breach(extension_id, limits, Resource.CPU_TIME, account.cpu_ms)
            if account.exhausted is not None:  # a session total used up (kept current by ``_add``)
                return self._breach(extension_id, limits, *account.exhausted)
            used = account.used
            if demand.subprocess:
                if account.running + 1 > limits.max_subprocesses:
                    return self._breach(extension_id, limits, Resource.SUBPROCESSES, account.running + 1)
                total = used.get(Resource.SUBPROCESSES_TOTAL, 0) + 1
                if total > limits.max_subprocesses_total:
                    return self._breach(extension_id, limits, Resource.SUBPROCESSES_TOTAL, total)
            if demand.write_bytes:
                total = used.get(Resource.WRITE_BYTES, 0) + demand.write_bytes
                if total > limits.max_write_bytes:
                    return self._breach(extension_id, limits, Resource.WRITE_BYTES, total)
            if demand.http_request:
                total = used.get(Resource.HTTP_REQUESTS, 0) + 1
                if total > limits.max_http_requests:
                    return self._breach(extension_id, limits, Resource.HTTP_REQUESTS, total)
            if tokens < 1.0:
                return QuotaBreach(extension_id, Resource.HOSTCALL_RATE, rate, rate + 1, _now_ms())
            account.tokens = tokens - 1.0
            if demand.subprocess:
                account.running += 1
                self._add(account, Resource.SUBPROCESSES_TOTAL, 1)
            if demand.http_request:
                self._add(account, Resource.HTTP_REQUESTS, 1)
            if demand.write_bytes:
                self._add(account, Resource.WRITE_BYTES, demand.write_bytes)
        return None

    @staticmethod
    def _breach(extension_id: str, limits: QuotaSettings, resource: Resource, actual: int) -> QuotaBreach:
        limit = getattr(limits, LIMIT_FIELD[resource])
        return QuotaBreach(extension_id, resource, limit, max(actual, limit), _now_ms())

    def settle(self, extension_id: str, demand: Demand, usage: Usage) -> QuotaBreach | None:
        """Charge what an admitted call took; the breach when this call crossed a limit."""
        subprocess, read, sent, wall = demand.subprocess, usage.read_bytes, usage.http_bytes, usage.exec_wall_ms
        if not subprocess and read <= 0 and sent <= 0 and wall <= 0:
            return None  # nothing to release or charge (most calls: log, ui, session, stat...)
        limits = self.limits_for(extension_id)
        with self._lock:
            account = self._account(extension_id, limits)
            if subprocess:
                account.running = max(0, account.running - 1)
            # each use charged (in this order: the first limit crossed is the one reported), only those it took
            crossed = self._charge(extension_id, account, limits.max_read_bytes, _READ_BYTES, read) if read > 0 \
                else None
            if sent > 0:
                found = self._charge(extension_id, account, limits.max_http_bytes, _HTTP_BYTES, sent)
                crossed = crossed or found
            if wall > 0:
                found = self._charge(extension_id, account, limits.max_exec_wall_ms, _EXEC_WALL, wall)
                crossed = crossed or found
        return crossed

    def _charge(self, extension_id: str, account: _Account, limit: int, resource: Resource,
                amount: int) -> QuotaBreach | None:
        """Add ``amount`` of ``resource``; the breach when this charge crossed ``limit`` (caller holds the lock)."""
        before = account.used.get(resource, 0)
        after = self._add(account, resource, amount)
        return QuotaBreach(extension_id, resource, limit, after, _now_ms()) if before <= limit < after else None

    def remaining_exec_ms(self, extension_id: str) -> int:
        """Exec wall time left (bounds one command's timeout)."""
        limits = self.limits_for(extension_id)
        with self._lock:
            return max(0, limits.max_exec_wall_ms - self._account(extension_id, limits).used.get(Resource.EXEC_WALL, 0))

    def usage(self, extension_id: str) -> dict[str, int]:
        """Current usage per resource (rate: tokens spent from the burst)."""
        limits = self.limits_for(extension_id)
        with self._lock:
            account = self._account(extension_id, limits)
            used = account.used
            out = {name: used.get(r, 0) for r, name in _TOTAL_NAMES}
            # keys as plain text, as above: a snapshot of this is canonicalised by orjson, which takes no enum member
            # as a key (it fell back to ``json.dumps``: twice the cost of the whole snapshot)
            out[_SUBPROCESSES_NAME] = account.running
            out[_CPU_TIME_NAME] = account.cpu_ms
            out[_HOSTCALL_RATE_NAME] = int(limits.hostcall_burst - account.tokens)
        return out

    def extensions(self) -> list[str]:
        """Every extension with an account this session."""
        with self._lock:
            return sorted(self._accounts)

    @staticmethod
    def _add(account: _Account, resource: Resource, amount: int) -> int:
        used = account.used
        total = used.get(resource, 0) + amount
        used[resource] = total
        # ``_recheck`` only when its answer can change: while no total is used up, a positive charge can make only
        # its own resource used up (uses only grow), and only by reaching its limit; a charge with a total already
        # used up (its recorded use may be this one) or made before the limits were compiled checks every total
        # (property test against ``_recheck`` after every charge: tests/quota/test_meter_fast_paths.py)
        if account.exhausted is not None or amount < 0 or total >= account.total_limits.get(resource, -1):
            _recheck(account)
        return total

    def _cpu_ms(self, extension_id: str, now: float) -> int | None:
        if self.cpu_probe is None:
            return None
        with self._lock:
            account = self._accounts.get(extension_id)
            if account is not None and now - account.cpu_checked_at < _CPU_ASK_S:
                return None
            if account is not None:
                account.cpu_checked_at = now
        # (extension, the oldest reading that will do): a reading up to _CPU_ASK_S old, kept for _CPU_ASK_S
        return self.cpu_probe(extension_id, _CPU_ASK_S)


def limits_dict(limits: QuotaSettings) -> dict[str, int]:
    """Limit per resource name (for status reports)."""
    return {r.value: int(getattr(limits, f)) for r, f in LIMIT_FIELD.items()}


def scaled(limits: QuotaSettings, factor: float) -> QuotaSettings:
    """``limits`` times ``factor`` (probation), each at least 1 (memory keeps the runtime's floor)."""
    return replace(limits, **{f.name: max(1, int(getattr(limits, f.name) * factor)) for f in fields(limits)
                              if f.name != "max_memory_mb"})
