"""Trust states of an extension, the legal transitions between them, and the transition record.

``unknown → probation → trusted``, and ``quarantined`` from any state (runbook INC-5). An extension
seen for the first time, or whose code changed, starts in ``probation``. Leaving ``quarantined``
needs an operator and a reason; the rules here are what both the registry (when transitioning) and
ledger verification (when replaying the record) apply, so a forged exit from quarantine is caught.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final

from pi_sandbox.errors import TrustTransitionError


class TrustState(StrEnum):
    """Where an extension stands."""

    UNKNOWN = "unknown"
    PROBATION = "probation"
    TRUSTED = "trusted"
    QUARANTINED = "quarantined"


class Actor(StrEnum):
    """Who may cause a transition."""

    SYSTEM = "system"
    OPERATOR = "operator"


class TransitionReason(StrEnum):
    """Why a transition happened (the ledger entry's ``reason``)."""

    FIRST_SEEN = "first_seen"
    CONTENT_CHANGED = "content_changed"
    CLEAN_RECORD = "clean_record"
    OPERATOR_PROMOTION = "operator_promotion"
    OPERATOR_QUARANTINE = "operator_quarantine"
    QUOTA_BREACHES = "quota_breaches"
    RISK_DENIALS = "risk_denials"
    INTEGRITY_FAILURES = "integrity_failures"


#: (from, to) → the actors allowed to make that transition. Anything not listed is illegal.
TRANSITIONS: Final[dict[tuple[TrustState, TrustState], frozenset[Actor]]] = {
    (TrustState.UNKNOWN, TrustState.PROBATION): frozenset({Actor.SYSTEM, Actor.OPERATOR}),
    (TrustState.UNKNOWN, TrustState.TRUSTED): frozenset({Actor.OPERATOR}),
    (TrustState.PROBATION, TrustState.TRUSTED): frozenset({Actor.SYSTEM, Actor.OPERATOR}),
    (TrustState.TRUSTED, TrustState.PROBATION): frozenset({Actor.SYSTEM, Actor.OPERATOR}),
    # Probation starts over when the code or its source changes: the clean record of other code counts for nothing.
    (TrustState.PROBATION, TrustState.PROBATION): frozenset({Actor.SYSTEM}),
    (TrustState.QUARANTINED, TrustState.PROBATION): frozenset({Actor.OPERATOR}),
    (TrustState.QUARANTINED, TrustState.TRUSTED): frozenset({Actor.OPERATOR}),
    **{(state, TrustState.QUARANTINED): frozenset({Actor.SYSTEM, Actor.OPERATOR})
       for state in (TrustState.UNKNOWN, TrustState.PROBATION, TrustState.TRUSTED)},
}

#: Ledger entry ``kind`` of a transition.
TRUST_ENTRY_KIND: Final = "trust"


def check_transition(from_state: TrustState, to_state: TrustState, actor: Actor, note: str) -> None:
    """Raise ``TrustTransitionError`` unless ``actor`` may move an extension from ``from_state`` to ``to_state``."""
    allowed = TRANSITIONS.get((from_state, to_state))
    if allowed is None:
        raise TrustTransitionError(f"no transition from '{from_state}' to '{to_state}'")
    if actor not in allowed:
        raise TrustTransitionError(f"only an operator may move an extension from '{from_state}' to '{to_state}'")
    if from_state is TrustState.QUARANTINED and not note.strip():
        raise TrustTransitionError("leaving quarantine needs a reason (--reason TEXT)")


@dataclass(frozen=True, slots=True)
class TrustTransition:
    """One recorded transition (a ledger entry of kind ``trust``)."""

    extension_id: str
    from_state: TrustState
    to_state: TrustState
    actor: Actor
    #: The operator's name, or ``system``.
    actor_name: str
    reason: str
    note: str
    ts_ms: int
    seq: int | None = None
    source: str | None = None
    content_hash: str | None = None

    def detail(self) -> dict[str, Any]:
        """The ledger entry's detail."""
        return {"from": self.from_state, "to": self.to_state, "actor": self.actor, "actor_name": self.actor_name,
                "note": self.note, "source": self.source, "content_hash": self.content_hash}

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"extension_id": self.extension_id, "seq": self.seq, "ts_ms": self.ts_ms, "reason": self.reason,
                **self.detail()}
