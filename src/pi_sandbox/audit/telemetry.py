"""Per-hostcall telemetry kept with the ledger, and its summary (``pi-sandbox security stats``).

One record of kind ``telemetry`` per hostcall: method, capability, decision, deciding stage, result,
the time each stage took, connector time and bytes in/out — no parameters (INV-012). Telemetry is
not evidence (the ledger entry is), so it is buffered and written in batches (every
``FLUSH_INTERVAL_S`` or ``MAX_BUFFER`` records, and when the session closes).
"""

from __future__ import annotations

import statistics
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Mapping
from typing import Any, Final

from pi_sandbox.audit.store import AuditStore

TELEMETRY_KIND: Final = "telemetry"
FLUSH_INTERVAL_S: Final = 0.5
MAX_BUFFER: Final = 512


class TelemetrySink:
    """Buffers telemetry records and writes them in batches."""

    def __init__(self, store: AuditStore) -> None:
        self.store = store
        self._lock = threading.Lock()
        self._buffer: list[tuple[str | None, Mapping[str, Any]]] = []
        self._flushed_at = time.monotonic()

    def add(self, extension_id: str | None, record: Mapping[str, Any]) -> None:
        """Queue one record; flush when the batch is due."""
        with self._lock:
            self._buffer.append((extension_id, record))
            due = len(self._buffer) >= MAX_BUFFER or time.monotonic() - self._flushed_at >= FLUSH_INTERVAL_S
        if due:
            self.flush()

    def flush(self) -> None:
        """Write what is queued."""
        with self._lock:
            batch, self._buffer = self._buffer, []
            self._flushed_at = time.monotonic()
        if batch:
            self.store.record_many(TELEMETRY_KIND, batch)


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
