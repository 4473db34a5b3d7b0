"""Fleet export and incident report benchmark: JSON lines and OTLP throughput, HTML report render time.

Run: ``python benchmarks/bench_incident.py`` (``--entries N``, ``--repeat R``). The OTLP run sends to a
collector on 127.0.0.1 started here (it only counts bytes), so it measures the SDK's record building, the
protobuf encoding and the local HTTP round trips. Medians of R runs, from one process.
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from pi_sandbox.audit import AlertDraft, AuditStore, LedgerEntryDraft
from pi_sandbox.evidence.otlp import send_otlp
from pi_sandbox.evidence.stream import ExportScope, write_jsonl
from pi_sandbox.incident.html import render_html
from pi_sandbox.incident.report_data import ReportData, timeline_events

sys.path.insert(0, str(Path(__file__).parent))
from _util import print_table  # noqa: E402


def fill(state_dir: Path, entries: int) -> None:
    with AuditStore.open(state_dir, checkpoint_interval=10_000) as store:
        for start in range(0, entries, 5000):
            store.append_many([LedgerEntryDraft(
                kind="hostcall", extension_id=f"ext.{i % 12}", decision="deny" if i % 9 == 0 else "allow",
                reason="default_caps", call_id=f"c{i}", capability="read", method="fs", layer=4,
                detail={"connector": "fs", "elapsed_us": i % 977}) for i in range(start, min(entries, start + 5000))])
        for i in range(200):
            store.record_alert(AlertDraft(category="policy_violation", severity="warning", extension_id=f"ext.{i % 12}",
                                          summary="denied"))


def collector() -> tuple[ThreadingHTTPServer, str]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            self.rfile.read(int(self.headers.get("Content-Length", "0")))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *_args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


def timed(fn: Any, repeat: int) -> float:
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--entries", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        state_dir = Path(tmp) / "state"
        fill(state_dir, args.entries)
        server, url = collector()
        with AuditStore.open_read_only(state_dir) as store:
            jsonl = timed(lambda: write_jsonl(store, ExportScope(), io.StringIO()), args.repeat)
            otlp = timed(lambda: send_otlp(store, ExportScope(), url), args.repeat)
            entries = [e.to_dict() for e in store.query_ledger()]
            alerts = [a.to_dict() for a in store.query_alerts()]
        server.shutdown()
        data = ReportData(title="bench", generated_ms=0, facts=(), events=tuple(timeline_events(entries, alerts)),
                          alerts=tuple(alerts))
        html = render_html(data)
        render = timed(lambda: render_html(data), args.repeat)
    n = args.entries
    print_table(f"fleet export and report, {n} entries + 200 alerts (median of {args.repeat})", [
        ("export jsonl (s)", f"{jsonl:.2f}", f"{n / jsonl:,.0f} entries/s"),
        ("export otlp to 127.0.0.1 (s)", f"{otlp:.2f}", f"{n / otlp:,.0f} entries/s"),
        ("html report render (s)", f"{render:.3f}", f"{len(html) / 1024:.0f} KiB page"),
    ])
    return 0


if __name__ == "__main__":
    sys.exit(main())
