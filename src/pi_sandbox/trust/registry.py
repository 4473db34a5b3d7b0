"""The trust registry: each extension's state, rebuilt from the ledger, moved only by legal transitions.

The ledger is the only store of trust: every transition is a ledger entry of kind ``trust`` (from,
to, actor, reason, note, time), and the state of an extension is what replaying those entries gives.
Replay applies the same rules as a live transition, so an entry that moved an extension out of
quarantine without an operator is ignored here (the extension stays quarantined: fail closed) and
reported by ``ledger verify`` (``trust.verify.check_trust_transitions``).
"""

from __future__ import annotations

import getpass
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from pi_sandbox.audit import AlertDraft, AuditStore, LedgerEntry, LedgerEntryDraft
from pi_sandbox.config.model import TrustSettings
from pi_sandbox.errors import TrustTransitionError
from pi_sandbox.identity import same_source
from pi_sandbox.trust.states import (
    TRUST_ENTRY_KIND,
    Actor,
    TransitionReason,
    TrustState,
    TrustTransition,
    check_transition,
)
from pi_sandbox.vocabulary import AlertAction, AlertCategory, Severity

_MS_PER_HOUR = 3_600_000
_PROBATION = TrustState.PROBATION


def operator_name() -> str:
    """Who runs this process (recorded as the operator of a transition)."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry for this uid
        return f"uid:{os.getuid()}"


@dataclass
class _Standing:
    """What the registry knows of one extension since its last transition."""

    state: TrustState = TrustState.UNKNOWN
    since_seq: int = 0
    since_ms: int = 0
    source: str | None = None
    content_hash: str | None = None
    allowed: int = 0
    denied: int = 0
    counted: bool = False
    events: dict[str, int] = field(default_factory=dict)


def transition_from_entry(entry: LedgerEntry) -> TrustTransition | None:
    """The transition a ``trust`` ledger entry records (None when the entry is malformed)."""
    detail = entry.detail
    try:
        return TrustTransition(
            extension_id=str(entry.extension_id), from_state=TrustState(detail["from"]),
            to_state=TrustState(detail["to"]), actor=Actor(detail["actor"]),
            actor_name=str(detail.get("actor_name", "")), reason=entry.reason, note=str(detail.get("note", "")),
            ts_ms=entry.ts_ms, seq=entry.seq, source=detail.get("source"), content_hash=detail.get("content_hash"))
    except (KeyError, ValueError, TypeError):
        return None


class TrustRegistry:
    """Trust state per extension id for one sandbox (thread-safe)."""

    def __init__(self, store: AuditStore, settings: TrustSettings,
                 on_transition: Callable[[TrustTransition], None] | None = None) -> None:
        self.store = store
        self.settings = settings
        self.on_transition = on_transition
        self._lock = threading.RLock()
        self._standing: dict[str, _Standing] = {}
        self._last_seq = 0
        #: Bumped by every state change (a transition applied, live or replayed): what decisions cached
        #: per extension compare before they are reused (the trust stage).
        self.version = 0
        self.reload()

    # --- reading ---------------------------------------------------------------------------------

    def reload(self) -> None:
        """Apply the trust entries appended since the last (re)load, by this or another process."""
        with self._lock:
            for entry in self.store.query_ledger(kind=TRUST_ENTRY_KIND, after_seq=self._last_seq):
                self._last_seq = max(self._last_seq, entry.seq)
                transition = transition_from_entry(entry)
                if transition is None:
                    continue
                standing = self._standing.setdefault(transition.extension_id, _Standing())
                try:
                    if transition.from_state is not standing.state:
                        raise TrustTransitionError("recorded 'from' state is not the current one")
                    check_transition(transition.from_state, transition.to_state, transition.actor, transition.note)
                except TrustTransitionError:
                    continue  # an illegal record moves nothing; verify reports it
                self._apply(standing, transition)

    def state(self, extension_id: str) -> TrustState:
        """The extension's current state (``unknown`` when never seen)."""
        with self._lock:
            standing = self._standing.get(extension_id)
            return standing.state if standing is not None else TrustState.UNKNOWN

    def recorded_source(self, extension_id: str) -> str | None:
        """The source the last transition recorded for the extension (an identity source key, or a
        discovery origin in records from before identities); None when none was recorded."""
        with self._lock:
            standing = self._standing.get(extension_id)
            return standing.source if standing is not None else None

    def history(self, extension_id: str) -> list[TrustTransition]:
        """Every recorded transition of ``extension_id``, oldest first (illegal ones included)."""
        entries = self.store.query_ledger(extension_id=extension_id, kind=TRUST_ENTRY_KIND)
        return [t for t in map(transition_from_entry, entries) if t is not None]

    def known(self) -> dict[str, TrustState]:
        """All extensions with a recorded state."""
        with self._lock:
            return {ext: s.state for ext, s in self._standing.items()}

    # --- transitions -----------------------------------------------------------------------------

    def transition(self, extension_id: str, to_state: TrustState, *, actor: Actor, reason: str, note: str = "",
                   actor_name: str | None = None, source: str | None = None,
                   content_hash: str | None = None) -> TrustTransition:
        """Move an extension to ``to_state``, record it, raise the alert; ``TrustTransitionError`` if illegal."""
        with self._lock:
            self.reload()
            standing = self._standing.setdefault(extension_id, _Standing())
            check_transition(standing.state, to_state, actor, note)
            transition = TrustTransition(
                extension_id, standing.state, to_state, actor,
                actor_name or (operator_name() if actor is Actor.OPERATOR else Actor.SYSTEM.value),
                reason, note[:500], int(time.time() * 1000), None,
                source or standing.source, content_hash or standing.content_hash)
            entry = self.store.append(LedgerEntryDraft(
                kind=TRUST_ENTRY_KIND, extension_id=extension_id, decision=to_state, reason=reason,
                detail=transition.detail()))
            transition = replace(transition, seq=entry.seq, ts_ms=entry.ts_ms)
            self._last_seq = max(self._last_seq, entry.seq)
            self._apply(standing, transition)
        self.store.record_alert(_alert_for(transition))
        if self.on_transition is not None:
            self.on_transition(transition)
        return transition

    def observe_load(self, extension_id: str, source: str, content_hash: str) -> TrustState:
        """An extension is being loaded: first seen, or changed code or source → (a fresh) probation; quarantine
        stays. Returns its state."""
        with self._lock:
            standing = self._standing.get(extension_id)
            state = standing.state if standing is not None else TrustState.UNKNOWN
            if state is TrustState.UNKNOWN:
                return self.transition(extension_id, TrustState.PROBATION, actor=Actor.SYSTEM,
                                       reason=TransitionReason.FIRST_SEEN, source=source,
                                       content_hash=content_hash).to_state
            assert standing is not None
            # Trusted code from one source never vouches for another source's code under the same id.
            changed = standing.content_hash != content_hash or not same_source(standing.source, source)
            if state in (TrustState.TRUSTED, TrustState.PROBATION) and changed:
                # Also from probation: the clean record counted so far belongs to the other code or source.
                return self.transition(extension_id, TrustState.PROBATION, actor=Actor.SYSTEM,
                                       reason=TransitionReason.CONTENT_CHANGED, source=source,
                                       content_hash=content_hash).to_state
            return state

    def note_hostcall(self, extension_id: str, allowed: bool) -> None:
        """Count a decided hostcall toward the clean record; promote a clean probation automatically."""
        promote = False
        # Only probation keeps a record: every other extension is answered by one read, without the lock (a
        # call that raced a move into probation was decided before it, and counts toward nothing there)
        standing = self._standing.get(extension_id)
        if standing is None or standing.state is not _PROBATION:
            return
        with self._lock:
            standing = self._standing.get(extension_id)
            if standing is None or standing.state is not _PROBATION:
                return
            if not standing.counted:  # (``_count_history`` checks it too: one call less on every later hostcall)
                self._count_history(extension_id, standing)
            if allowed:
                standing.allowed += 1
            else:
                standing.denied += 1
                return  # a denial since the last transition: no automatic promotion (checked below)
            s = self.settings
            promote = (s.auto_promote and standing.denied == 0 and standing.allowed >= s.promote_after_hostcalls
                       and time.time() * 1000 - standing.since_ms >= s.promote_after_hours * _MS_PER_HOUR)
        if promote:
            try:
                self.transition(extension_id, TrustState.TRUSTED, actor=Actor.SYSTEM,
                                reason=TransitionReason.CLEAN_RECORD,
                                note=f"{self.settings.promote_after_hostcalls}+ hostcalls, no denials")
            except TrustTransitionError:
                pass  # another process moved it meanwhile

    def note_event(self, extension_id: str, reason: TransitionReason) -> TrustState:
        """Count a quota breach, risk denial or integrity failure; quarantine past its threshold."""
        limit = {TransitionReason.QUOTA_BREACHES: self.settings.quarantine_after_quota_breaches,
                 TransitionReason.RISK_DENIALS: self.settings.quarantine_after_risk_denials,
                 TransitionReason.INTEGRITY_FAILURES: self.settings.quarantine_after_integrity_failures}[reason]
        with self._lock:
            standing = self._standing.setdefault(extension_id, _Standing())
            if standing.state is TrustState.QUARANTINED:
                return standing.state
            standing.events[reason] = count = standing.events.get(reason, 0) + 1
            if count < limit:
                return standing.state
        try:
            return self.transition(extension_id, TrustState.QUARANTINED, actor=Actor.SYSTEM, reason=reason,
                                   note=f"{count} {reason.replace('_', ' ')} (threshold {limit})").to_state
        except TrustTransitionError:
            return self.state(extension_id)

    # --- internals -------------------------------------------------------------------------------

    def _apply(self, standing: _Standing, transition: TrustTransition) -> None:
        standing.state = transition.to_state
        self.version += 1
        standing.since_seq = transition.seq or 0
        standing.since_ms = transition.ts_ms
        standing.source = transition.source or standing.source
        standing.content_hash = transition.content_hash or standing.content_hash
        standing.allowed = standing.denied = 0
        standing.counted = False
        standing.events = {}

    def _count_history(self, extension_id: str, standing: _Standing) -> None:
        """Count the hostcalls recorded since the last transition (earlier sessions count too), once."""
        if standing.counted:
            return
        standing.counted = True
        allowed, denied = self.store.count_decisions(extension_id, after_seq=standing.since_seq)
        standing.allowed += allowed
        standing.denied += denied


def _alert_for(t: TrustTransition) -> AlertDraft:
    quarantine = t.to_state is TrustState.QUARANTINED
    leaving = t.from_state is TrustState.QUARANTINED
    return AlertDraft(
        category=AlertCategory.QUARANTINE if quarantine else AlertCategory.TRUST_TRANSITION,
        severity=Severity.CRITICAL if quarantine else (Severity.WARNING if leaving else Severity.INFO),
        extension_id=t.extension_id,
        summary=f"trust: {t.from_state} → {t.to_state} ({t.reason}, by {t.actor}:{t.actor_name})",
        reason_codes=(t.reason,),
        action=AlertAction.TERMINATE if quarantine else AlertAction.ALLOW,
        remediation=("every hostcall, handler, tool and command of this extension is stopped; investigate "
                     "(runbook INC-5) and release it with `pi-sandbox ext trust promote --extension ID --to "
                     "probation --reason TEXT`") if quarantine else "",
    )
