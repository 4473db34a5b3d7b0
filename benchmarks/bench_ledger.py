"""Ledger benchmark: durable append throughput and latency, verification throughput.

Run: ``python benchmarks/bench_ledger.py`` (options: ``--entries N``, ``--verify-entries N``).
Two durability classes (docs/ledger.md): ``sync=True`` (effect class: written and fdatasync'ed before
``append`` returns; one sync covers every entry committed before it) and ``sync=False`` (group class:
written before ``append`` returns — survives kill -9 — and synced by the group commit within 50 ms; the
figure includes the flusher's syncs, and the last one is waited for before the clock stops).
Targets: ≥ 20,000 entries/s with group commit (issue 14; was ≥ 5,000 with one fsync per commit);
verification ≥ 50,000 entries/s. ``CPU µs/entry`` is the process's CPU time (every thread, the flusher's
syncs included) per entry: on a shared machine the wall-clock rates follow the load, the CPU cost much less.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

from pi_sandbox.audit import AuditStore, LedgerEntryDraft, verify_ledger
from pi_sandbox.hashing import params_hash, sha256_hex


def make_draft(i: int, thread: int = 0, realistic: bool = False) -> LedgerEntryDraft:
    """A hostcall decision entry (hashes and codes only). ``realistic``: as the pipeline writes it, with
    the stages' evidence (risk scores as floats, trust state, configuration digest) in ``detail`` and a
    forensic record (redacted parameters, argument-shape and context hashes) — ~1.2 KB stored instead of
    ~0.5 KB, the entry of the realistic workload (``bench_overhead.py``)."""
    if realistic:
        path = f"src/module{i % 50}/file{i}.ts"
        return LedgerEntryDraft(
            kind="hostcall", extension_id=f"ext.bench{thread}", decision="allow", reason="default_caps",
            call_id=f"call-{thread}-{i}", capability="read", method="fs",
            params_hash=params_hash("fs", {"op": "stat", "path": path}), layer=4,
            detail={"stage": "policy", "trust": "probation", "config_digest": sha256_hex(b"config"),
                    "risk": {"threshold": 5.96875, "score": 0.140625 + (i % 7) / 64, "p": 1.0,
                             "features": {"novelty": 0.141}}},
            forensic={"params": {"op": "stat", "path": path}, "args_shape_hash": sha256_hex(b"shape"),
                      "context_hash": sha256_hex(path.encode())})
    return LedgerEntryDraft(
        kind="hostcall",
        extension_id=f"ext.bench{thread}",
        decision="allow" if i % 7 else "deny",
        reason="default_caps" if i % 7 else "deny_caps",
        call_id=f"call-{thread}-{i}",
        capability="read",
        method="fs",
        params_hash=params_hash("fs", {"op": "stat", "path": f"src/file{i}.ts"}),
        layer=4,
        detail={"connector": "fs", "elapsed_us": i % 1000, "result_bytes": 120},
    )


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile of ``values`` (q in 0..100)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


def bench_threads(
    state_dir: Path, threads: int, per_thread: int, max_gap_s: float = 0.0, sync: bool = True,
    realistic: bool = False,
) -> tuple[float, list[float], float, float]:
    """``threads`` appenders each calling append() ``per_thread`` times: (entries/s, latencies µs, mean batch,
    CPU µs per entry).

    ``max_gap_s`` > 0 makes each thread pause a random 0..max_gap_s between appends (independent
    arrivals, like hostcalls from unrelated extensions) instead of appending in a tight loop.
    """
    store = AuditStore.open(state_dir)
    latencies: list[list[float]] = [[] for _ in range(threads)]
    start_gate = threading.Barrier(threads + 1)
    before = store.head()[0]

    def work(t: int) -> None:
        drafts = [make_draft(i, t, realistic) for i in range(per_thread)]
        gaps = random.Random(t)
        out = latencies[t]
        start_gate.wait()
        for d in drafts:
            if max_gap_s:
                time.sleep(gaps.uniform(0, max_gap_s))
            t0 = time.perf_counter()
            store.append(d, sync=sync)
            out.append((time.perf_counter() - t0) * 1e6)

    pool = [threading.Thread(target=work, args=(t,)) for t in range(threads)]
    for p in pool:
        p.start()
    start_gate.wait()
    t0, cpu0 = time.perf_counter(), time.process_time()
    for p in pool:
        p.join()
    store.sync()  # the group commit's last sync: everything is on disk before the clock stops
    elapsed, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    commits = store.group_commits
    total = threads * per_thread
    assert store.head()[0] - before == total
    store.close()
    return total / elapsed, [x for lat in latencies for x in lat], total / max(1, commits), cpu / total * 1e6


def bench_batches(state_dir: Path, total: int, batch: int) -> tuple[float, float]:
    """append_many() in batches of ``batch`` (synced): (entries/s, CPU µs per entry)."""
    store = AuditStore.open(state_dir)
    drafts = [make_draft(i) for i in range(total)]
    t0, cpu0 = time.perf_counter(), time.process_time()
    for i in range(0, total, batch):
        store.append_many(drafts[i:i + batch])
    elapsed, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    store.close()
    return total / elapsed, cpu / total * 1e6


def bench_verify(state_dir: Path, total: int) -> tuple[float, int]:
    """Build a ledger of ``total`` entries, then time verify_ledger: (entries/s, checkpoints)."""
    store = AuditStore.open(state_dir)
    chunk = 5000
    for i in range(0, total, chunk):
        store.append_many([make_draft(j) for j in range(i, min(total, i + chunk))])
    store.close()
    best = 0.0
    checkpoints = 0
    for _ in range(3):
        t0 = time.perf_counter()
        report = verify_ledger(state_dir)
        rate = report.entry_count / (time.perf_counter() - t0)
        assert report.chain_valid and report.entry_count == total
        best, checkpoints = max(best, rate), report.checkpoints_checked
    return best, checkpoints


def main(argv: list[str] | None = None) -> int:
    """Run every scenario and print one table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=4000, help="appends per threaded scenario")
    parser.add_argument("--verify-entries", type=int, default=200_000)
    args = parser.parse_args(argv)
    rows: list[tuple[str, ...]] = []
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="bench-ledger-") as tmp:
        root = Path(tmp)
        for sync in (False, True):
            label = "sync=True (effect)" if sync else "sync=False (group)"
            for threads in (1, 2, 4, 8):
                rate, lat, batch, cpu = bench_threads(root / f"t{threads}-{sync}", threads, args.entries // threads,
                                                      sync=sync)
                rows.append((
                    f"append({label}), {threads} thread{'s' if threads > 1 else ''}", f"{rate:,.0f}",
                    f"{statistics.median(lat):,.0f}", f"{percentile(lat, 99):,.0f}", f"{batch:.1f}", f"{cpu:,.0f}",
                ))
        for threads in (1, 8):
            rate, lat, batch, cpu = bench_threads(root / f"r{threads}", threads, args.entries // threads, sync=False,
                                                  realistic=True)
            rows.append((
                f"append(group), {threads} thread{'s' if threads > 1 else ''}, realistic entry + forensic record",
                f"{rate:,.0f}", f"{statistics.median(lat):,.0f}", f"{percentile(lat, 99):,.0f}", f"{batch:.1f}",
                f"{cpu:,.0f}"))
        rate, lat, batch_size, cpu = bench_threads(root / "gaps", 2, 500, max_gap_s=0.002)
        rows.append(("append(), 2 threads, random 0-2 ms gaps", f"{rate:,.0f}", f"{statistics.median(lat):,.0f}",
                     f"{percentile(lat, 99):,.0f}", f"{batch_size:.1f}", f"{cpu:,.0f}"))
        for batch in (10, 100, 1000):
            rate, cpu = bench_batches(root / f"b{batch}", max(args.entries, batch * 20), batch)
            rows.append((f"append_many(), batch {batch}", f"{rate:,.0f}", "-", "-", str(batch), f"{cpu:,.0f}"))
        rate, checkpoints = bench_verify(root / "verify", args.verify_entries)
        rows.append((f"verify_ledger, {args.verify_entries:,} entries", f"{rate:,.0f}", "-", "-",
                     f"{checkpoints} ckpts", "-"))
    header = ("scenario (all synced by the end)", "entries/s", "p50 µs", "p99 µs", "entries/commit", "CPU µs/entry")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    print(f"load average at start: {load:.1f}")
    for row in [header, *rows]:
        print("  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths,
                                                                                            strict=True))))
    print("targets: >= 20,000 durable entries/s (group commit); verification >= 50,000 entries/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
