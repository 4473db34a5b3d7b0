"""A fleet collector's side of ``security export``, written without pi_sandbox: what a third party needs.

- :class:`OtlpCollector`: an OTLP/HTTP logs endpoint on 127.0.0.1 (a thread) that decodes each request
  (protobuf or JSON, gzip or not) with the OpenTelemetry protocol package and keeps the log records.
- :func:`check_chain`: recompute every entry's hash from its fields (RFC 8785 + SHA-256) and check that
  each ``prev_hash`` continues the chain; returns the problems found.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import rfc8785
from google.protobuf import json_format
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)

#: prev_hash of seq 1 (docs/ledger.md): SHA-256 of "pi.security.ledger.v1:genesis".
GENESIS = hashlib.sha256(b"pi.security.ledger.v1:genesis").hexdigest()
#: Fields of an exported entry that are not part of its hash pre-image.
NOT_HASHED = ("type", "ledger_id", "schema", "entry_hash")


def check_chain(entries: Iterable[dict[str, Any]], prev: str = GENESIS) -> list[str]:
    """Problems with a run of exported ledger entries: a wrong hash or a broken link (empty = continuous)."""
    problems = []
    for entry in entries:
        preimage = {k: v for k, v in entry.items() if k not in NOT_HASHED}
        if hashlib.sha256(rfc8785.dumps(preimage)).hexdigest() != entry["entry_hash"]:
            problems.append(f"seq {entry['seq']}: hash mismatch")
        if entry["prev_hash"] != prev:
            problems.append(f"seq {entry['seq']}: link broken")
        prev = entry["entry_hash"]
    return problems


def _value(any_value: Any) -> Any:
    kind = any_value.WhichOneof("value")
    return getattr(any_value, kind) if kind else None


@dataclass
class Received:
    """One decoded log record with its resource attributes."""

    resource: dict[str, Any]
    scope: str
    time_unix_nano: int
    severity_text: str
    event_name: str
    body: str
    attributes: dict[str, Any]

    @property
    def record(self) -> dict[str, Any]:
        loaded: dict[str, Any] = json.loads(self.body)
        return loaded


@dataclass
class OtlpCollector:
    """The records and requests one collector received; ``status`` is what it answers."""

    url: str = ""
    status: int = 200
    requests: list[str] = field(default_factory=list)
    logs: list[Received] = field(default_factory=list)

    def decode(self, body: bytes, content_type: str) -> None:
        request = ExportLogsServiceRequest()
        if content_type.startswith("application/json"):
            json_format.Parse(body.decode("utf-8"), request)
        else:
            request.ParseFromString(body)
        for resource_logs in request.resource_logs:
            resource = {a.key: _value(a.value) for a in resource_logs.resource.attributes}
            for scope_logs in resource_logs.scope_logs:
                for rec in scope_logs.log_records:
                    self.logs.append(Received(
                        resource, scope_logs.scope.name, rec.time_unix_nano, rec.severity_text, rec.event_name,
                        _value(rec.body), {a.key: _value(a.value) for a in rec.attributes}))


@contextmanager
def otlp_collector(status: int = 200) -> Iterator[OtlpCollector]:
    """Run a collector on 127.0.0.1 (a free port) for the duration of the block."""
    state = OtlpCollector(status=status)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's spelling)
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            if self.headers.get("Content-Encoding") == "gzip":
                body = gzip.decompress(body)
            state.requests.append(self.path)
            if state.status == 200 and self.path == "/v1/logs":
                state.decode(body, self.headers.get("Content-Type", ""))
                payload = ExportLogsServiceResponse().SerializeToString()
                self.send_response(200)
            else:
                payload = b"no"
                self.send_response(state.status if state.status != 200 else 404)
            self.send_header("Content-Type", "application/x-protobuf")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *_args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
