"""Kill switches: stop one extension, or all of them, during an incident (runbook "Contain").

A switch is a ledger entry of kind ``kill_switch`` (on or off, who, when, why — lifting one is
recorded like setting it); the current state is what replaying those entries gives, so it survives
restarts and is shared by every process on the same state dir.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any, Final

from pi_sandbox.audit import AlertDraft, AuditStore, LedgerEntryDraft
from pi_sandbox.vocabulary import AlertAction, AlertCategory, Severity

KILL_SWITCH_KIND: Final = "kill_switch"
#: ``extension_id`` of the global switch in the state (the ledger entry has none).
GLOBAL: Final = "*"


@dataclass(frozen=True, slots=True)
class KillSwitchEvent:
    """One recorded activation or lift."""

    scope: str  # an extension id, or ``*`` for all extensions
    active: bool
    actor: str
    note: str
    ts_ms: int
    seq: int

    def to_dict(self) -> dict[str, Any]:
        return {"scope": self.scope, "active": self.active, "actor": self.actor, "reason": self.note,
                "ts_ms": self.ts_ms, "seq": self.seq}


class KillSwitchBoard:
    """The switches of one state dir (thread-safe)."""

    def __init__(self, store: AuditStore) -> None:
        self.store = store
        self._lock = threading.Lock()
        self._active: dict[str, KillSwitchEvent] = {}
        self._events: list[KillSwitchEvent] = []
        self._last_seq = 0
        #: Bumped whenever a switch event is applied (what the trust stage's cached decisions compare).
        self.version = 0
        self.reload()

    def reload(self) -> None:
        """Apply switch entries appended since the last (re)load, by this or another process."""
        with self._lock:
            for entry in self.store.query_ledger(kind=KILL_SWITCH_KIND, after_seq=self._last_seq):
                self._last_seq = max(self._last_seq, entry.seq)
                event = KillSwitchEvent(entry.extension_id or GLOBAL, entry.decision == "on",
                                        str(entry.detail.get("actor", "")), str(entry.detail.get("note", "")),
                                        entry.ts_ms, entry.seq)
                self._events.append(event)
                self.version += 1
                if event.active:
                    self._active[event.scope] = event
                else:
                    self._active.pop(event.scope, None)

    def active_for(self, extension_id: str) -> KillSwitchEvent | None:
        """The switch that stops ``extension_id`` (the global one first), or None."""
        with self._lock:
            return self._active.get(GLOBAL) or self._active.get(extension_id)

    def active(self) -> list[KillSwitchEvent]:
        """Every switch that is on."""
        with self._lock:
            return sorted(self._active.values(), key=lambda e: e.seq)

    def events(self) -> list[KillSwitchEvent]:
        """Every activation and lift, oldest first."""
        with self._lock:
            return list(self._events)

    def set(self, active: bool, extension_id: str | None, *, actor: str, note: str) -> KillSwitchEvent:
        """Turn a switch on or off; recorded with who and why, and alerted."""
        scope = extension_id or GLOBAL
        entry = self.store.append(LedgerEntryDraft(
            kind=KILL_SWITCH_KIND, extension_id=extension_id, decision="on" if active else "off",
            reason="kill_switch_on" if active else "kill_switch_off",
            detail={"actor": actor, "note": note[:500], "scope": scope}))
        target = "all extensions" if scope == GLOBAL else f"extension '{scope}'"
        self.store.record_alert(AlertDraft(
            category=AlertCategory.KILL_SWITCH, severity=Severity.CRITICAL if active else Severity.INFO,
            extension_id=extension_id,
            summary=f"kill switch {'on' if active else 'lifted'} for {target} by {actor}",
            reason_codes=("kill_switch_on" if active else "kill_switch_off",),
            action=AlertAction.TERMINATE if active else AlertAction.ALLOW,
            remediation="lift it with `pi-sandbox security kill-switch off` once contained" if active else ""))
        self.reload()
        return next(e for e in reversed(self.events()) if e.seq == entry.seq)
