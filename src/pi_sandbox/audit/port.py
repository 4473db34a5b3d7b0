"""The narrow evidence port through which pipeline stages and connectors record.

Stages and connectors append a decision, raise an alert or note a side record (exec mediation,
secret broker); they never query, checkpoint or close the store. :class:`StoreEvidence` is the
port over a real :class:`AuditStore`.

Growth is bounded per extension without losing anything (:class:`EvidenceLimits`): every hostcall
decision is always appended — the ledger is the evidence of each call, and how many calls an
extension may make is the quota's job. What an extension can multiply beyond its calls — alerts
(per category) and side records (per kind) — is admitted up to a per-minute budget; the rest is
*folded*: counted by category/kind, announced by one alert when folding starts, and written as one
``evidence_folded`` ledger entry per extension and window that says how many of what were folded.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from pi_sandbox.audit.records import AlertDraft, LedgerEntryDraft
from pi_sandbox.errors import AuditStoreError

if TYPE_CHECKING:
    from pi_sandbox.audit.store import AuditStore


class EvidencePort(Protocol):
    """What a stage or connector may do with the audit store."""

    def append_decision(self, draft: LedgerEntryDraft, *, sync: bool = True) -> int:
        """Append one decision to the hash-chained ledger and return its seq (written before this returns;
        with ``sync`` also synced to disk, with everything before it — required before an externally
        visible effect)."""
        ...

    def raise_alert(self, draft: AlertDraft) -> None:
        """Store a security alert for operators."""
        ...

    def note(self, kind: str, payload: Mapping[str, Any], extension_id: str | None) -> None:
        """Store a typed side record (hashes, codes and counts only)."""
        ...

    def sync(self) -> None:
        """Sync every decision appended so far to disk; raises ``AuditStoreError`` when the disk failed
        (then the effect waiting for it must not happen)."""
        ...


#: Kind and reason of the ledger entry that summarizes what was folded for one extension and window.
FOLDED_KIND = "evidence_folded"


@dataclass(frozen=True)
class EvidenceLimits:
    """Per-extension budgets per window: alerts per category, side records per kind."""

    alerts_per_window: int = 30
    records_per_window: int = 300
    window_s: float = 60.0


@dataclass
class _Window:
    index: int
    admitted: dict[str, int]
    folded: dict[str, int]


class StoreEvidence:
    """The evidence port over an :class:`AuditStore`, with per-extension folding of alerts and records."""

    def __init__(self, store: AuditStore, limits: EvidenceLimits | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self._store = store
        self.limits = limits or EvidenceLimits()
        self._clock = clock
        self._lock = threading.Lock()
        self._windows: dict[str, _Window] = {}
        #: Extensions whose current window folded something (a summary is pending).
        self._folding: set[str] = set()

    def append_decision(self, draft: LedgerEntryDraft, *, sync: bool = True) -> int:
        self.flush_due()
        return self._store.append_seq(draft, sync=sync)

    def raise_alert(self, draft: AlertDraft) -> None:
        if self._admit(draft.extension_id, f"alert:{draft.category}", self.limits.alerts_per_window):
            self._store.record_alert(draft)

    def sync(self) -> None:
        self._store.sync()

    def note(self, kind: str, payload: Mapping[str, Any], extension_id: str | None) -> None:
        # Queued, not committed on its own: a stage notes while its call is decided, and the call's
        # ledger entry (appended next) carries the record in its transaction. What is noted after the
        # entry is written by write_notes() before the call returns (Sandbox.hostcall).
        if self._admit(extension_id, f"record:{kind}", self.limits.records_per_window):
            self._store.record_later(kind, payload, extension_id)

    def write_notes(self) -> bool:
        """Commit every side record still queued (those noted after their call's entry); False when the
        database refused them: they then stay queued for the next commit, the flusher or close."""
        try:
            self._store.write_pending_records()
        except AuditStoreError:
            return False
        return True

    # --- folding -------------------------------------------------------------------------------

    def _admit(self, extension_id: str | None, key: str, budget: int) -> bool:
        """Whether one more alert/record of ``key`` fits ``extension_id``'s budget (host events always do)."""
        if extension_id is None:
            return True
        index = int(self._clock() // self.limits.window_s)
        due: list[tuple[str, _Window]] = []
        announce = False
        with self._lock:
            window = self._windows.get(extension_id)
            if window is None or window.index != index:
                if window is not None and window.folded:
                    due.append((extension_id, window))
                    self._folding.discard(extension_id)
                window = self._windows[extension_id] = _Window(index, {}, {})
            count = window.admitted.get(key, 0)
            admitted = count < budget
            if admitted:
                window.admitted[key] = count + 1
            else:
                announce = not window.folded
                window.folded[key] = window.folded.get(key, 0) + 1
                self._folding.add(extension_id)
        for ext, old in due:
            self._write_summary(ext, old)
        if announce:
            self._store.record_alert(AlertDraft(
                category="runtime", severity="warning", extension_id=extension_id,
                summary=f"extension '{extension_id}': evidence rate limit reached ({key}); further alerts and "
                        f"records of that kind are counted and summarized in one '{FOLDED_KIND}' ledger entry",
                reason_codes=(FOLDED_KIND,), action="allow",
                remediation="the extension produces alerts or records faster than extensionRuntime."
                            "maxAlertsPerMinute / maxRecordsPerMinute; inspect it (pi security ledger) or "
                            "disable it"))
        return admitted

    def flush_due(self) -> None:
        """Write the summary of every window that has ended and folded something."""
        if not self._folding:
            return
        index = int(self._clock() // self.limits.window_s)
        self._flush(lambda window: window.index != index)

    def flush(self) -> None:
        """Write every pending summary now (on close: nothing folded is ever left unwritten)."""
        self._flush(lambda window: True)

    def _flush(self, ready: Callable[[_Window], bool]) -> None:
        with self._lock:
            due = [(ext, w) for ext, w in self._windows.items() if w.folded and ready(w)]
            for ext, _window in due:
                del self._windows[ext]
                self._folding.discard(ext)
        for ext, window in due:
            self._write_summary(ext, window)

    def _write_summary(self, extension_id: str, window: _Window) -> None:
        self._store.append(sync=False, draft=LedgerEntryDraft(
            kind=FOLDED_KIND, extension_id=extension_id, decision="allow", reason=FOLDED_KIND,
            detail={"window_start_ms": int(window.index * self.limits.window_s * 1000),
                    "window_s": self.limits.window_s, "folded": dict(sorted(window.folded.items())),
                    "folded_total": sum(window.folded.values()),
                    "admitted": dict(sorted(window.admitted.items()))}))
