"""Send the export stream (:mod:`.stream`) to an OpenTelemetry collector as OTLP/HTTP logs.

Each record becomes one log record built by the OpenTelemetry SDK and sent by its OTLP/HTTP exporter
(``opentelemetry-sdk``, ``opentelemetry-exporter-otlp-proto-http``): the body is the record's canonical
JSON text (so the collector recomputes ``entry_hash`` from exactly the bytes it received), and the chain
fields are attributes as well (``pi.ledger.seq``, ``pi.ledger.prev_hash``, ``pi.ledger.entry_hash``) so a
collector pipeline can check continuity without parsing the body. The resource names the host and the
ledger id.

The SDK's own processors log export failures and drop the batch; an evidence export must not lose
records silently, so records are gathered by the SDK's in-memory exporter and handed to the OTLP
exporter batch by batch here, and a failed batch stops the export with :class:`CollectorExportError`
naming the last sequence number the collector did receive.
"""

from __future__ import annotations

import time
from typing import Any, Final
from urllib.parse import urlsplit

from opentelemetry._logs import SeverityNumber
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import (
    InMemoryLogRecordExporter,
    LogRecordExportResult,
    SimpleLogRecordProcessor,
)
from opentelemetry.sdk.resources import Resource

from pi_sandbox.audit import AuditStore
from pi_sandbox.errors import CollectorExportError
from pi_sandbox.evidence.canon import checked_text
from pi_sandbox.evidence.stream import ExportScope, ExportSummary, RecordType, Tally, host_name, iter_records
from pi_sandbox.progress import ProgressCallback

#: Log records per OTLP request (~1 MB of protobuf: few round trips, bounded memory).
BATCH_SIZE: Final = 2048
#: The OTLP/HTTP path of the logs signal, added to an endpoint given without it.
LOGS_PATH: Final = "/v1/logs"
SCOPE_NAME: Final = "pi_sandbox.security"

_SEVERITY: Final = {
    "info": SeverityNumber.INFO, "warning": SeverityNumber.WARN, "error": SeverityNumber.ERROR,
    "critical": SeverityNumber.FATAL,
}


def logs_url(endpoint: str) -> str:
    """The logs URL for a collector ``endpoint`` (``http://host:4318`` gets ``/v1/logs``)."""
    parts = urlsplit(endpoint)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise CollectorExportError(f"collector endpoint '{endpoint}' is not an http(s) URL "
                                   f"(e.g. http://127.0.0.1:4318)")
    if parts.path.rstrip("/").endswith(LOGS_PATH):
        return endpoint
    return endpoint.rstrip("/") + LOGS_PATH


def _attributes(record: dict[str, Any]) -> dict[str, Any]:
    attrs: dict[str, Any] = {"pi.record_type": record["type"], "pi.ledger_id": record["ledger_id"]}
    if record.get("extension_id"):
        attrs["pi.extension_id"] = record["extension_id"]
    if record["type"] == RecordType.LEDGER_ENTRY:
        attrs.update({"pi.ledger.seq": record["seq"], "pi.ledger.prev_hash": record["prev_hash"],
                      "pi.ledger.entry_hash": record["entry_hash"], "pi.kind": record["kind"],
                      "pi.decision": record["decision"], "pi.reason": record["reason"]})
    else:
        attrs.update({"pi.alert.sequence_id": record["sequence_id"], "pi.alert.category": record["category"],
                      "pi.alert.severity": record["severity"]})
    return attrs


def _severity(record: dict[str, Any]) -> tuple[SeverityNumber, str]:
    if record["type"] == RecordType.ALERT:
        return _SEVERITY.get(record["severity"], SeverityNumber.INFO), str(record["severity"]).upper()
    if record["decision"] in ("allow", "on", "off"):
        return SeverityNumber.INFO, "INFO"
    return SeverityNumber.WARN, "WARN"


def send_otlp(store: AuditStore, scope: ExportScope, endpoint: str, *, timeout_s: float = 10.0,
              progress: ProgressCallback | None = None) -> ExportSummary:
    """Send the selected records to the collector at ``endpoint``; returns what was sent.

    Raises :class:`CollectorExportError` when the collector is unreachable or answers with an error
    (the records up to the last acknowledged batch were delivered; rerun with ``--after-seq``).
    """
    url = logs_url(endpoint)
    ledger_id = store.meta("ledger_id") or ""
    resource = Resource.create({"service.name": "pi-sandbox", "host.name": host_name(), "pi.ledger_id": ledger_id})
    memory = InMemoryLogRecordExporter()  # type: ignore[no-untyped-call]
    provider = LoggerProvider(resource=resource)
    provider.add_log_record_processor(SimpleLogRecordProcessor(memory))
    logger = provider.get_logger(SCOPE_NAME)
    exporter = OTLPLogExporter(endpoint=url, timeout=timeout_s)
    tally = Tally()
    acknowledged: int | None = None  # the last seq the collector accepted

    def flush() -> None:
        nonlocal acknowledged
        batch = memory.get_finished_logs()
        if not batch:
            return
        memory.clear()
        if exporter.export(batch) is not LogRecordExportResult.SUCCESS:
            got = "no entry" if acknowledged is None else f"the entries up to seq {acknowledged}"
            raise CollectorExportError(
                f"the collector at {url} did not accept the records (unreachable or an error status); it holds "
                f"{got} from this export")
        acknowledged = tally.last_seq

    try:
        for record in iter_records(store, scope, progress):
            number, text = _severity(record)
            logger.emit(timestamp=int(record["ts_ms"]) * 1_000_000, observed_timestamp=time.time_ns(),
                        severity_number=number, severity_text=text, body=checked_text(record),
                        attributes=_attributes(record), event_name=f"pi.security.{record['type']}")
            tally.add(record)
            if (tally.entries + tally.alerts) % BATCH_SIZE == 0:
                flush()
        flush()
    finally:
        exporter.shutdown()  # type: ignore[no-untyped-call]
        provider.shutdown()
    return tally.summary(ledger_id, url)
