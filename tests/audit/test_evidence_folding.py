"""Per-extension folding of alerts and side records: bounded growth, nothing silently dropped."""

from __future__ import annotations

from pathlib import Path

from pi_sandbox.audit import AlertDraft, AuditStore, LedgerEntryDraft
from pi_sandbox.audit.port import FOLDED_KIND, EvidenceLimits, StoreEvidence


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def _alert(ext: str | None, category: str = "policy_violation") -> AlertDraft:
    return AlertDraft(category=category, severity="warning", extension_id=ext, summary="x", reason_codes=("r",))


def test_alerts_and_records_past_the_budget_are_folded_and_counted(tmp_path: Path) -> None:
    clock = Clock()
    with AuditStore.open(tmp_path / "state") as store:
        port = StoreEvidence(store, EvidenceLimits(alerts_per_window=3, records_per_window=2, window_s=60), clock)
        for _ in range(10):
            port.raise_alert(_alert("flood"))
        for _ in range(5):
            port.note("exec_mediation", {"k": 1}, "flood")
        for _ in range(2):
            port.raise_alert(_alert("flood", "secret_exposure"))  # another category has its own budget
            port.raise_alert(_alert("quiet"))
            port.raise_alert(_alert(None))  # host events are never folded
        # every decision is still appended
        for i in range(50):
            port.append_decision(LedgerEntryDraft(kind="hostcall", extension_id="flood", decision="deny",
                                                  reason=f"r{i}"))
        flood = store.query_alerts(extension_id="flood")
        assert len([a for a in flood if a.category == "policy_violation"]) == 3
        assert len([a for a in flood if a.category == "secret_exposure"]) == 2
        notices = [a for a in flood if a.reason_codes == (FOLDED_KIND,)]
        assert len(notices) == 1  # folding announced once per window
        assert len(store.query_alerts(extension_id="quiet")) == 2
        assert len(store.query_records(kind="exec_mediation")) == 2
        assert not [e for e in store.query_ledger(limit=500) if e.kind == FOLDED_KIND]  # window still open
        clock.now += 61  # the window ends: the next event writes the summary
        port.append_decision(LedgerEntryDraft(kind="hostcall", extension_id="quiet", decision="allow", reason="x"))
        (summary,) = [e for e in store.query_ledger(limit=500) if e.kind == FOLDED_KIND]
        assert summary.extension_id == "flood"
        assert summary.detail["folded"] == {"alert:policy_violation": 7, "record:exec_mediation": 3}
        assert summary.detail["folded_total"] == 10
        assert len([e for e in store.query_ledger(extension_id="flood", limit=500) if e.kind == "hostcall"]) == 50
        # a fresh window admits again
        port.raise_alert(_alert("flood"))
        assert len([a for a in store.query_alerts(extension_id="flood") if a.category == "policy_violation"]) == 4


def test_flush_writes_a_pending_summary_before_close(tmp_path: Path) -> None:
    with AuditStore.open(tmp_path / "state") as store:
        port = StoreEvidence(store, EvidenceLimits(alerts_per_window=1, records_per_window=1), Clock())
        port.raise_alert(_alert("a"))
        port.raise_alert(_alert("a"))
        port.flush()
        (summary,) = [e for e in store.query_ledger(limit=50) if e.kind == FOLDED_KIND]
        assert summary.detail["folded"] == {"alert:policy_violation": 1}
        port.flush()  # nothing pending: no second summary
        assert len([e for e in store.query_ledger(limit=50) if e.kind == FOLDED_KIND]) == 1
