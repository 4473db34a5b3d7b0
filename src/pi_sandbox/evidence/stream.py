"""Fleet export: the ledger and the alerts of one host as a stream of plain records.

``pi-sandbox security export`` turns every ledger entry and alert into one JSON object and writes them
as JSON lines (:func:`write_jsonl`) or sends them as OpenTelemetry logs (:mod:`.otlp`). Entries keep
every hashed field plus ``prev_hash`` and ``entry_hash``, so a collector can recompute each entry's
hash (SHA-256 of the RFC 8785 form without ``schema``, ``type``, ``ledger_id`` and ``entry_hash``) and
check that each ``prev_hash`` is the previous entry's hash: continuity across hosts and batches needs
nothing but the records. Records are read in pages, so a ledger of any length streams in constant
memory. Nothing here is unredacted: the ledger and alerts hold hashes, reason codes and broker-redacted
text only (INV-012), and the export adds nothing else.
"""

from __future__ import annotations

import json
import platform
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final, TextIO

from pi_sandbox.audit import AuditStore
from pi_sandbox.progress import ProgressCallback, report

#: Entries read from the database per page.
PAGE_SIZE: Final = 2000


class RecordType(StrEnum):
    """The ``type`` of an exported record."""

    LEDGER_ENTRY = "ledger_entry"
    ALERT = "alert"


class ExportFormat(StrEnum):
    """Output formats of ``security export``."""

    JSONL = "jsonl"
    OTLP = "otlp"


@dataclass(frozen=True, slots=True)
class ExportScope:
    """Which records to export. ``after_seq`` resumes after the last entry a collector already holds
    (its ``prev_hash`` link then continues that collector's chain); ``since_ms``/``extension_id``
    narrow the stream, which leaves gaps a collector will see as such."""

    after_seq: int = 0
    since_ms: int | None = None
    extension_id: str | None = None
    include_alerts: bool = True


@dataclass(frozen=True, slots=True)
class ExportSummary:
    """What one export produced."""

    ledger_id: str
    host: str
    entries: int
    alerts: int
    first_seq: int | None
    last_seq: int | None
    last_entry_hash: str | None
    destination: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"ledger_id": self.ledger_id, "host": self.host, "entries": self.entries, "alerts": self.alerts,
                "first_seq": self.first_seq, "last_seq": self.last_seq, "last_entry_hash": self.last_entry_hash,
                "destination": self.destination}


class Tally:
    """Counts records as they stream past (the summary is known only at the end)."""

    def __init__(self) -> None:
        self.entries = 0
        self.alerts = 0
        self.first_seq: int | None = None
        self.last_seq: int | None = None
        self.last_hash: str | None = None

    def add(self, record: dict[str, Any]) -> None:
        if record["type"] == RecordType.ALERT:
            self.alerts += 1
            return
        self.entries += 1
        if self.first_seq is None:
            self.first_seq = record["seq"]
        self.last_seq, self.last_hash = record["seq"], record["entry_hash"]

    def summary(self, ledger_id: str, destination: str) -> ExportSummary:
        return ExportSummary(ledger_id, host_name(), self.entries, self.alerts, self.first_seq, self.last_seq,
                             self.last_hash, destination)


def host_name() -> str:
    """This machine's name (the collector groups records by ledger id and host)."""
    return platform.node() or "unknown"


def iter_records(store: AuditStore, scope: ExportScope, progress: ProgressCallback | None = None
                 ) -> Iterator[dict[str, Any]]:
    """Every selected ledger entry (chain order), then every selected alert (sequence order)."""
    ledger_id = store.meta("ledger_id") or ""
    total = store.head()[0]
    after = scope.after_seq
    while True:
        page = store.ledger_page(after, PAGE_SIZE, extension_id=scope.extension_id, since_ms=scope.since_ms)
        if not page:
            break
        for entry in page:
            yield {"type": RecordType.LEDGER_ENTRY.value, "ledger_id": ledger_id, **entry.to_dict()}
        after = page[-1].seq
        report(progress, after, total, "ledger entries")
    if scope.include_alerts:
        for alert in store.query_alerts(extension_id=scope.extension_id, since_ms=scope.since_ms):
            yield {"type": RecordType.ALERT.value, "ledger_id": ledger_id, **alert.to_dict()}


def write_jsonl(store: AuditStore, scope: ExportScope, out: TextIO, destination: str = "stdout",
                progress: ProgressCallback | None = None) -> ExportSummary:
    """Write the selected records to ``out``, one compact JSON object per line."""
    tally = Tally()
    for record in iter_records(store, scope, progress):
        out.write(json.dumps(record, separators=(",", ":"), ensure_ascii=False, sort_keys=True))
        out.write("\n")
        tally.add(record)
    out.flush()
    return tally.summary(store.meta("ledger_id") or "", destination)
