"""Evidence bundle benchmark: export, verify and forensic replay of a 100k-entry ledger.

Run: ``python benchmarks/bench_evidence.py`` (``--entries N``, ``--repeat R``). The ledger is shaped
like a real one: every hostcall entry has its forensic record (redacted parameters, hashes,
remediation for refusals), its configuration digest (two configuration versions, so replay sees a
change), a telemetry record, and every tenth call an exec-mediation or secret-broker record; a
checkpoint every 1000 entries (the default) and 300 alerts. Issue 11's targets: export and verify
≤ 5 s each at 100k entries. Medians of R runs, from one process.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from pi_sandbox.audit import AlertDraft, AuditStore, LedgerEntryDraft
from pi_sandbox.config.snapshot import snapshot_digest
from pi_sandbox.evidence import BundleFilter, RedactionPolicy, export_bundle, load_bundle, verify_bundle
from pi_sandbox.evidence.replay import replay_bundle, replay_ledger

sys.path.insert(0, str(Path(__file__).parent))
from _util import print_table  # noqa: E402

BATCH = 5000


def _configs() -> list[dict[str, Any]]:
    from pi_sandbox.config import resolve_config
    from pi_sandbox.config.snapshot import snapshot

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        env = {"HOME": str(root), "PI_CODING_AGENT_DIR": str(root / "agent"), "PI_SECURITY_DIR": str(root / "s")}
        (root / "agent").mkdir()
        first = snapshot(resolve_config(cwd=root, env=env))
        (root / "agent" / "settings.json").write_text(
            '{"extensionPolicy": {"profile": "balanced", "perExtension": {"ext.3": {"deny": ["exec"]}}}}')
        second = snapshot(resolve_config(cwd=root, env=env))
    return [first, second]


def _policies(configs: list[dict[str, Any]]) -> list[Any]:
    from pi_sandbox.config.snapshot import from_snapshot
    from pi_sandbox.policy import CompiledPolicy

    return [CompiledPolicy.from_config(from_snapshot(c)) for c in configs]


def _draft(i: int, digest: str, policy: Any) -> LedgerEntryDraft:
    ext = f"ext.{i % 12}"
    method, capability, params = [
        ("fs", "read", {"op": "read", "path": f"src/module_{i % 997}.ts"}),
        ("exec", "exec", {"cmd": "git", "args": ["status", "--porcelain", f"--{i % 7}"]}),
        ("http", "http", {"url": f"https://api.example.com/v1/items/{i}", "method": "GET"}),
        ("env", "env", {"name": "EDITOR"}),
    ][i % 4]
    # Decided the way the pipeline's policy stage decides (so replay finds them explained, as in a real
    # ledger), plus a few mediation refusals.
    from pi_sandbox.capabilities import Capability

    verdict = policy.evaluate(Capability(capability), ext)
    denied = verdict.decision != "allow" or (method == "exec" and i % 9 == 0)
    stage = "mediation" if verdict.decision == "allow" and denied else "policy"
    reason = "destructive_command" if stage == "mediation" else \
        ("prompt_headless_deny" if verdict.decision == "prompt" else str(verdict.reason))
    forensic: dict[str, Any] = {
        "params": params, "args_shape_hash": f"{i:064x}", "context_hash": f"{i * 7:064x}",
    }
    if method == "exec":
        forensic["command_hash"] = f"{i * 13:064x}"
    if method == "env":
        forensic["name_hash"] = f"{i * 17:064x}"
    if denied:
        forensic["remediation"] = f"grant '{capability}' to {ext} in extensionPolicy.perExtension if it is expected"
    return LedgerEntryDraft(
        kind="hostcall", extension_id=ext, decision="deny" if denied else "allow", reason=reason, call_id=f"c{i}",
        capability=capability, method=method, params_hash=f"{i * 3:064x}", layer=verdict.layer,
        detail={"stage": stage, "config_digest": digest, "trust": "unknown"}, forensic=forensic)


def fill(state_dir: Path, entries: int) -> None:
    """A ledger of ``entries`` hostcall entries with their side records (see the module docstring)."""
    configs = _configs()
    digests = [snapshot_digest(c) for c in configs]
    policies = _policies(configs)
    with AuditStore.open(state_dir) as store:
        for digest, body in zip(digests, configs, strict=True):
            store.put_config_version(digest, body)
        for start in range(0, entries, BATCH):
            stop = min(entries, start + BATCH)
            half = 0 if start < entries // 2 else 1
            store.append_many([_draft(i, digests[half], policies[half]) for i in range(start, stop)])
            store.record_many("telemetry", [(f"ext.{i % 12}", {
                "call_id": f"c{i}", "seq": i + 1, "method": "fs", "capability": "read", "decision": "allow",
                "stage": "policy", "reason": "default_caps", "ok": True, "error_code": None,
                "stage_us": {"capability": 3.1, "trust": 1.2, "policy": 4.4, "quota": 1.0, "mediation": 9.9},
                "connector_us": 120.5, "total_us": 150.2}) for i in range(start, stop)])
            store.record_many("exec_mediation", [(f"ext.{i % 12}", {
                "command_hash": f"{i:064x}", "command_class": "read_only", "risk_tier": "low", "decision": "allow",
                "reason": "allowed", "rule": "default"}) for i in range(start, stop, 10)])
            store.record_many("secret_broker", [(f"ext.{i % 12}", {
                "op": "get", "verdict": "redacted", "name_hash": f"{i:064x}"}) for i in range(start + 5, stop, 10)])
        for i in range(300):
            store.record_alert(AlertDraft(category="policy_violation", severity="error", extension_id=f"ext.{i % 12}",
                                          summary="denied", reason_codes=("extension_deny",),
                                          remediation="grant it if expected", context_hash=f"{i:064x}"))


CPU: dict[str, float] = {}


def timed(fn: Any, repeat: int, name: str = "") -> tuple[float, Any]:
    """Median wall time of ``repeat`` runs (and, in :data:`CPU`, the median CPU time of this process:
    on a shared machine under load the wall time mostly measures the neighbours)."""
    samples, cpu, result = [], [], None
    for _ in range(repeat):
        start, start_cpu = time.perf_counter(), time.process_time()
        result = fn()
        samples.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    CPU[name] = statistics.median(cpu)
    return statistics.median(samples), result


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--entries", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    n = args.entries
    with tempfile.TemporaryDirectory() as tmp:
        state_dir, out = Path(tmp) / "state", Path(tmp) / "bundle.json"
        start = time.perf_counter()
        fill(state_dir, n)
        filled = time.perf_counter() - start
        with AuditStore.open(state_dir) as store:
            export, result = timed(lambda: export_bundle(store, out), args.repeat, "export")
            filtered_out = Path(tmp) / "filtered.json"
            export_filtered, _ = timed(lambda: export_bundle(
                store, filtered_out, bundle_filter=BundleFilter(extension_id="ext.3"),
                redaction=RedactionPolicy.full()), args.repeat, "export_filtered")
            replay_live, live = timed(lambda: replay_ledger(store), args.repeat, "replay_live")
        verify, report = timed(lambda: verify_bundle(out), args.repeat, "verify")
        verify_filtered, report_f = timed(lambda: verify_bundle(filtered_out), args.repeat, "verify_filtered")
        bundle = load_bundle(out)
        replay_b, _ = timed(lambda: replay_bundle(bundle), args.repeat, "replay_bundle")
        if not (report.valid and report_f.valid) or live.replayed != n:
            print("benchmark bundle did not verify or replay:", report.failed_steps, report_f.failed_steps)
            return 1
        size = result.size_bytes
    load = os.getloadavg()[0]
    print_table(f"evidence bundle, {n:,} hostcall entries (median of {args.repeat}; fill {filled:.1f} s; "
                f"load average {load:.1f} on {os.cpu_count()} CPUs)", [
        ("bundle export: wall / CPU (s)", f"{export:.2f} / {CPU['export']:.2f}",
         f"<= 5 s; {n / export:,.0f} entries/s, {size / 2**20:.0f} MiB"),
        ("bundle verify: wall / CPU (s)", f"{verify:.2f} / {CPU['verify']:.2f}",
         f"<= 5 s; {n / verify:,.0f} entries/s"),
        ("export ext.3, full redaction (s)", f"{export_filtered:.2f} / {CPU['export_filtered']:.2f}",
         f"{n // 12:,} entries + proofs"),
        ("verify that filtered bundle (s)", f"{verify_filtered:.2f} / {CPU['verify_filtered']:.2f}", ""),
        ("replay live ledger (s)", f"{replay_live:.2f} / {CPU['replay_live']:.2f}",
         f"{n / replay_live:,.0f} entries/s (chain verified first)"),
        ("replay bundle (s)", f"{replay_b:.2f} / {CPU['replay_bundle']:.2f}", f"{n / replay_b:,.0f} entries/s"),
    ])
    return 0


if __name__ == "__main__":
    sys.exit(main())
