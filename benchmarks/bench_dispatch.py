"""Dispatch overhead of an fs stat hostcall: full pipeline + durable ledger write, connector excluded.

The connector is replaced by one that returns a constant, so the figure is the pipeline's own cost
(validation, capability derivation, policy, gates, durable ledger append, redaction).
For comparison the same calls are also timed with the real fs connector.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
from _util import percentile, print_table  # noqa: E402

from pi_sandbox.audit import AuditStore  # noqa: E402
from pi_sandbox.config import resolve_config  # noqa: E402
from pi_sandbox.connectors.base import ConnectorContext  # noqa: E402
from pi_sandbox.dispatch import Sandbox  # noqa: E402


class ConstantStat:
    def call(self, ctx: ConnectorContext, params: Mapping[str, Any]) -> Any:
        return {"type": "file", "size": 1, "mtime_ms": 0, "mode": 0o644}


def _measure(sandbox: Sandbox, n: int) -> list[float]:
    samples = []
    for i in range(n):
        request = {"call_id": f"c{i}", "method": "fs", "params": {"op": "stat", "path": "file.txt"}}
        t0 = time.perf_counter_ns()
        result = sandbox.hostcall("bench-ext", request)
        samples.append((time.perf_counter_ns() - t0) / 1000)
        assert result.ok, result
    return samples


def main() -> None:
    tmp = Path(tempfile.mkdtemp())
    workspace = tmp / "ws"
    workspace.mkdir()
    (workspace / "file.txt").write_text("x")
    env = dict(os.environ, PI_CODING_AGENT_DIR=str(tmp / "agent"), PI_SECURITY_DIR=str(tmp / "state"))
    config = resolve_config(cwd=workspace, env=env)
    store = AuditStore.open(config.state_dir)
    pipeline_only = Sandbox(config, store, connectors={"fs": ConstantStat()})
    _measure(pipeline_only, 200)  # warm-up
    overhead = _measure(pipeline_only, 3000)
    real = Sandbox(config, store)
    with_connector = _measure(real, 3000)
    store.close()
    print_table("dispatch: fs stat hostcall (durable ledger write included)", [
        ("calls", "3000", ""),
        ("pipeline only p50 (µs)", f"{percentile(overhead, 50):.0f}", ""),
        ("pipeline only p99 (µs)", f"{percentile(overhead, 99):.0f}", "≤ 1000"),
        ("with real fs connector p50 (µs)", f"{percentile(with_connector, 50):.0f}", ""),
        ("with real fs connector p99 (µs)", f"{percentile(with_connector, 99):.0f}", ""),
    ])


if __name__ == "__main__":
    main()
