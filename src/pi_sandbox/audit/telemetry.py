"""Per-hostcall telemetry kept with the ledger, and its summary (``pi-sandbox security stats``).

One record of kind ``telemetry`` per hostcall: method, capability, decision, deciding stage, result,
the time each stage took, connector time and bytes in/out — no parameters (INV-012). Telemetry is
not evidence (the ledger entry is), so it is buffered and written in batches by a background
thread (every ``FLUSH_INTERVAL_S``, sooner once ``MAX_BUFFER`` records wait, and when the session
closes): a hostcall only appends a tuple of what it measured (:class:`CallTimes`), and the writer thread
turns the batch into records (the dict per call, the microsecond rounding, the stage names) off the
hostcall's path. Records are plain JSON, not canonical JSON (nothing hashes them, and their float timings
would take the slow exact path of RFC 8785).
"""

from __future__ import annotations

import statistics
import threading
import weakref
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from typing import Any, Final, NamedTuple

from pi_sandbox.audit.store import AuditStore

TELEMETRY_KIND: Final = "telemetry"
FLUSH_INTERVAL_S: Final = 0.5
MAX_BUFFER: Final = 512


class CallTimes(NamedTuple):
    """What one hostcall's telemetry record is made of, as the pipeline measured it (codes and clock
    readings only: never parameters or results, INV-012)."""

    call_id: str
    seq: int | None
    method: str
    #: Text or a ``StrEnum`` (written as its value, like ``decision`` and ``stage``).
    capability: str
    decision: str
    stage: str
    reason: str
    ok: bool
    error_code: str | None
    #: The stages that judged the call, in order; ``stamps[i]`` .. ``stamps[i + 1]`` (``perf_counter_ns``)
    #: is the time of ``stages[i]``.
    stages: Sequence[str]
    stamps: Sequence[int]
    connector_ns: int
    started_ns: int
    ended_ns: int
    #: What the stages' ``settle`` reported (bytes, counts), or None.
    counts: Mapping[str, Any] | None

    def record(self) -> dict[str, Any]:
        """The ``telemetry`` record (microseconds to the tenth, halves up: integer arithmetic, as ``round`` on
        a float formats and parses decimal text, which cost more than the rest of the record)."""
        # one unpacking instead of a field access each, and the stage times in this loop rather than a
        # comprehension (its own frame): the writer thread builds one record per hostcall
        (call_id, seq, method, capability, decision, stage, reason, ok, error_code, stages, stamps, connector_ns,
         started_ns, ended_ns, counts) = self
        stage_us: dict[str, float] = {}
        before = stamps[0]
        # the stages that judged the call (a refused call has fewer stamps than there are stages)
        for name, stamp in zip(stages, stamps[1:], strict=False):
            stage_us[name] = (stamp - before + 50) // 100 / 10
            before = stamp
        record: dict[str, Any] = {
            "call_id": call_id, "seq": seq, "method": method, "capability": capability, "decision": decision,
            "stage": stage, "reason": reason, "ok": ok, "error_code": error_code, "stage_us": stage_us,
            "connector_us": (connector_ns + 50) // 100 / 10, "total_us": (ended_ns - started_ns + 50) // 100 / 10,
        }
        if counts:
            record.update(counts)
        return record


class TelemetrySink:
    """Buffers telemetry records; a background thread writes them in batches."""

    def __init__(self, store: AuditStore, interval_s: float = FLUSH_INTERVAL_S) -> None:
        self.store = store
        self.interval_s = interval_s
        self._lock = threading.Lock()
        self._buffer: list[tuple[str | None, Mapping[str, Any] | CallTimes]] = []
        self._wake = threading.Event()
        self._closed = False
        self._thread: threading.Thread | None = None

    def add(self, extension_id: str | None, record: Mapping[str, Any] | CallTimes) -> None:
        """Queue one record, or the :class:`CallTimes` it is made from when written (the writer thread starts
        with the first one)."""
        with self._lock:
            if self._closed:
                return
            self._buffer.append((extension_id, record))
            if self._thread is None:
                self._thread = threading.Thread(target=_run, args=(weakref.ref(self), self._wake, self.interval_s),
                                                name="pi-telemetry", daemon=True)
                self._thread.start()
            elif len(self._buffer) >= MAX_BUFFER:
                self._wake.set()

    def _flush_round(self) -> bool:
        """One round of the writer thread; False once the sink is closed."""
        if self._closed:
            return False
        try:
            self.flush()
        except Exception:  # noqa: BLE001 - a closed or failing store: telemetry is not evidence
            return not self._closed
        return True

    def flush(self) -> None:
        """Write what is queued now."""
        with self._lock:
            batch, self._buffer = self._buffer, []
        if batch:
            self.store.record_many(TELEMETRY_KIND, [
                (ext, item.record() if isinstance(item, CallTimes) else item) for ext, item in batch], canonical=False)

    def close(self) -> None:
        """Stop the writer thread and write what is left (idempotent)."""
        with self._lock:
            self._closed = True
            thread = self._thread
        self._wake.set()
        if thread is not None:
            thread.join()
        self.flush()


def _run(ref: weakref.ref[TelemetrySink], wake: threading.Event, interval_s: float) -> None:
    """The writer thread; it holds the sink only weakly between rounds (an unclosed sink is still collected)."""
    while True:
        wake.wait(interval_s)
        wake.clear()
        sink = ref()
        if sink is None or not sink._flush_round():
            return
        del sink


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def summarize(store: AuditStore, extension_id: str | None = None, since_ms: int | None = None) -> dict[str, Any]:
    """Counts per method / capability / decision / stage, byte totals and stage timing percentiles."""
    records = [r for r in store.query_records(kind=TELEMETRY_KIND, extension_id=extension_id)
               if since_ms is None or r.ts_ms >= since_ms]
    per_ext: dict[str, dict[str, Any]] = {}
    for ext, group in _by_extension(records).items():
        stage_times: dict[str, list[float]] = defaultdict(list)
        totals: list[float] = []
        for payload in group:
            for stage, us in dict(payload.get("stage_us", {})).items():
                stage_times[stage].append(float(us))
            totals.append(float(payload.get("total_us", 0)))
        per_ext[ext] = {
            "hostcalls": len(group),
            "by_method": dict(Counter(str(p.get("method")) for p in group)),
            "by_capability": dict(Counter(str(p.get("capability")) for p in group)),
            "by_decision": dict(Counter(str(p.get("decision")) for p in group)),
            "denied_by_stage": dict(Counter(str(p.get("stage")) for p in group if p.get("decision") != "allow")),
            "errors": dict(Counter(str(p.get("error_code")) for p in group if p.get("error_code"))),
            "bytes_in": sum(int(p.get("bytes_in", 0)) for p in group),
            "bytes_out": sum(int(p.get("bytes_out", 0)) for p in group),
            "total_us": {"p50": _percentile(totals, 0.5), "p95": _percentile(totals, 0.95),
                         "mean": statistics.fmean(totals) if totals else 0.0},
            "stage_us": {stage: {"p50": _percentile(v, 0.5), "p95": _percentile(v, 0.95)}
                         for stage, v in sorted(stage_times.items())},
        }
    return {"extensions": per_ext, "hostcalls": sum(e["hostcalls"] for e in per_ext.values())}


def _by_extension(records: list[Any]) -> dict[str, list[Mapping[str, Any]]]:
    out: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for record in records:
        out[record.extension_id or "<none>"].append(record.payload)
    return dict(sorted(out.items()))
