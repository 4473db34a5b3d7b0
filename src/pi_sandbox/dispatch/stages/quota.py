"""Stage 4: per-extension quotas (runbook INC-6); a breach refuses with ``quota_exceeded``."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any, Final

from pi_sandbox.audit import AlertDraft
from pi_sandbox.audit.port import EvidencePort
from pi_sandbox.capabilities import Capability
from pi_sandbox.config.model import QuotaSettings
from pi_sandbox.dispatch.call import CallInfo, Outcome, Verdict
from pi_sandbox.quota import Demand, QuotaBreach, QuotaMeter, Usage, limits_dict
from pi_sandbox.vocabulary import AlertAction, AlertCategory, ErrorCode, Reason, Severity, StageName

#: A breach of the same resource by the same extension within this window is one episode: one breach
#: record, one alert, one count toward quarantine (every refused call still has its ledger entry).
EPISODE_S: Final = 1.0
#: How often a usage snapshot (for ``pi-sandbox security quota status``) is written per extension.
SNAPSHOT_S: Final = 1.0


#: Value types that hold no string (counted as 0 bytes without a call).
_SCALARS: Final = frozenset({int, float, bool, type(None)})
#: What most calls take before they run (nothing but their hostcall): one object for all of them.
_NO_DEMAND: Final = Demand()
#: The other fixed demands (one object each, not one per call).
_SUBPROCESS: Final = Demand(subprocess=True)
_HTTP_REQUEST: Final = Demand(http_request=True)
_NO_USAGE: Final = Usage()
_PROCEED: Final = Verdict.proceed()
#: The telemetry counts of a call that moved no bytes (most of them), shared (read only).
_NOTHING_MOVED: Final[Mapping[str, int]] = MappingProxyType({"bytes_in": 0, "bytes_out": 0})
_EXEC, _WRITE, _READ = Capability.EXEC, Capability.WRITE, Capability.READ
_QUOTA_STAGE = StageName.QUOTA


def demand_of(call: CallInfo) -> Demand:
    """What ``call`` will take before it runs."""
    method, capability = call.method, call.capability
    if capability is _EXEC:
        return _SUBPROCESS
    if method == "http":
        return _HTTP_REQUEST
    if capability is not _WRITE:
        return _NO_DEMAND
    params = call.params
    write = 0
    if method == "fs":
        data = params.get("data", params.get("content", ""))
        if isinstance(data, str):
            write = len(data) * 3 // 4 if params.get("encoding") == "base64" else len(data.encode("utf-8", "replace"))
    elif method == "tool":
        tool_input = params.get("input")
        if isinstance(tool_input, Mapping):
            text = tool_input.get("content", tool_input.get("newText", ""))
            write = len(text.encode("utf-8", "replace")) if isinstance(text, str) else 0
    return Demand(write) if write else _NO_DEMAND


def payload_bytes(value: Any, depth: int = 0) -> int:
    """UTF-8-ish size of the strings in a JSON value (what a read returned to the extension)."""
    if type(value) is str or isinstance(value, str):
        return len(value)
    if depth > 16:
        return 0
    if type(value) is dict or isinstance(value, Mapping):
        items: Any = value.values()
    elif type(value) is list or isinstance(value, (list, tuple)):
        items = value
    else:
        return 0
    total = 0
    inner = depth + 1
    for item in items:  # results can be large (a search's matches): strings counted inline, no call each
        kind = type(item)
        if kind is str:
            total += len(item)
        elif kind is dict and inner <= 16:
            # a flat object (a listing's entry, a search's match) counted here too: no call per entry
            for leaf in item.values():
                leaf_kind = type(leaf)
                if leaf_kind is str:
                    total += len(leaf)
                elif leaf_kind not in _SCALARS:
                    total += payload_bytes(leaf, inner + 1)
        elif kind not in _SCALARS:
            total += payload_bytes(item, inner)
    return total


def usage_of(call: CallInfo, outcome: Outcome) -> Usage:
    """What an allowed call took."""
    capability = call.capability
    if capability is _EXEC:
        return Usage(exec_wall_ms=int(outcome.connector_ms))
    if call.method == "http":
        sent = payload_bytes(call.params.get("body")) + payload_bytes(call.params.get("body_base64"))
        return Usage(http_bytes=sent + payload_bytes(outcome.result))
    if capability is _READ and outcome.ok:
        return Usage(payload_bytes(outcome.result))  # read_bytes (positional: one is made per read)
    return _NO_USAGE


class QuotaStage:
    """Charges the call to its extension's quotas; refuses when one is exhausted."""

    name = StageName.QUOTA
    summary = "per-extension quotas: hostcall rate, CPU, subprocesses, bytes read/written, HTTP, exec time " \
              "(quota_exceeded)"

    def __init__(self, meter: QuotaMeter, evidence: EvidencePort,
                 on_breach: Callable[[QuotaBreach], None] | None = None) -> None:
        self.meter = meter
        self.evidence = evidence
        self.on_breach = on_breach
        self._lock = threading.Lock()
        self._episodes: dict[tuple[str, str], tuple[float, int]] = {}
        self._snapshots: dict[str, float] = {}
        #: The last limits a snapshot named, and their ``limits_dict``.
        self._limits_named: tuple[QuotaSettings | None, dict[str, int]] = (None, {})

    def decide(self, call: CallInfo) -> Verdict:
        breach = self.meter.admit(call.extension_id, demand_of(call))
        if breach is None:
            return _PROCEED
        self.breached(breach)
        return Verdict.deny(
            Reason.QUOTA_EXCEEDED,
            f"quota exceeded: {breach.resource} is limited to {breach.limit} for this extension in this session "
            f"(would be {breach.actual}); an operator can raise extensionPolicy.quota (or perExtension.<id>.quota)",
            code=ErrorCode.QUOTA_EXCEEDED,
            evidence={"quota_resource": breach.resource, "quota_limit": breach.limit, "quota_actual": breach.actual})

    def settle(self, call: CallInfo, outcome: Outcome) -> Mapping[str, Any] | None:
        if outcome.stage == _QUOTA_STAGE:
            return None
        capability = call.capability
        if capability is not _READ and capability is not _EXEC and capability is not _WRITE \
                and call.method != "http":
            # nothing to release or charge (log, ui, session, stat...): ``demand_of`` and ``usage_of`` of such a call
            # are nothing, so the meter has nothing to do (property test against the general path below:
            # tests/quota/test_meter_fast_paths.py); only the snapshot's interval is looked at, with one read
            if outcome.decision != "allow":
                return None
            if self.meter.clock() - self._snapshots.get(call.extension_id, -SNAPSHOT_S) >= SNAPSHOT_S:
                self._snapshot(call.extension_id)
            return _NOTHING_MOVED
        demand = demand_of(call)
        if outcome.decision != "allow":
            # a later stage (risk, mediation) refused an admitted call: release the running-subprocess
            # slot admit took, or every denied exec would hold one for the rest of the session
            self.meter.settle(call.extension_id, demand, Usage())
            return None
        usage = usage_of(call, outcome)
        breach = self.meter.settle(call.extension_id, demand, usage)
        if breach is not None:
            self.breached(breach)
        self._snapshot(call.extension_id)
        bytes_in = demand.write_bytes + (payload_bytes(call.params.get("body")) + payload_bytes(
            call.params.get("body_base64")) if call.method == "http" else 0)
        bytes_out = usage.read_bytes or usage.http_bytes
        return {"bytes_in": bytes_in, "bytes_out": bytes_out} if bytes_in or bytes_out else _NOTHING_MOVED

    def breached(self, breach: QuotaBreach) -> None:
        """Record a breach episode (record, alert, trust feed); repeats within ``EPISODE_S`` are counted."""
        key = (breach.extension_id, breach.resource)
        now = self.meter.clock()  # time.monotonic, unless the meter was given a clock of its own
        with self._lock:
            last, folded = self._episodes.get(key, (-EPISODE_S, 0))
            if now - last < EPISODE_S:
                self._episodes[key] = (last, folded + 1)
                return
            self._episodes[key] = (now, 0)
        self.evidence.note("quota_breach", {**breach.to_dict(), "refused_since_last": folded}, breach.extension_id)
        self.evidence.raise_alert(AlertDraft(
            category=AlertCategory.QUOTA_BREACH, severity=Severity.WARNING, extension_id=breach.extension_id,
            summary=f"quota {breach.resource} exceeded: {breach.actual} > {breach.limit}",
            reason_codes=(Reason.QUOTA_EXCEEDED, str(breach.resource)), action=AlertAction.DENY,
            remediation="tighten or raise this extension's quota (extensionPolicy.perExtension.<id>.quota); "
                        "repeated breaches quarantine it (runbook INC-6)"))
        self._snapshot(breach.extension_id, force=True)
        if self.on_breach is not None:
            self.on_breach(breach)

    def _snapshot(self, extension_id: str, force: bool = False) -> None:
        now = self.meter.clock()  # time.monotonic, unless the meter was given a clock of its own
        # most calls come well within the interval: answered by one read, without the lock (the check is
        # repeated under it, so two threads never both write a snapshot)
        if not force and now - self._snapshots.get(extension_id, -SNAPSHOT_S) < SNAPSHOT_S:
            return
        with self._lock:
            if not force and now - self._snapshots.get(extension_id, -SNAPSHOT_S) < SNAPSHOT_S:
                return
            self._snapshots[extension_id] = now
        self.flush_one(extension_id)

    def flush_one(self, extension_id: str) -> None:
        """Write one extension's usage snapshot (read by ``security quota status``)."""
        limits = self.meter.limits_for(extension_id)
        named = self._limits_named
        if named[0] is not limits:  # the limits changed (settings are immutable: compared by identity)
            named = self._limits_named = (limits, limits_dict(limits))
        # (the note serialises the payload at once: the shared limits dict is never kept nor changed)
        self.evidence.note("quota_usage", {"usage": self.meter.usage(extension_id), "limits": named[1]}, extension_id)

    def flush(self) -> None:
        """Write a final snapshot of every extension (the session is closing)."""
        for extension_id in self.meter.extensions():
            self.flush_one(extension_id)
