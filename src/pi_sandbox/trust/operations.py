"""Operator actions on a state dir (what the CLI calls): kill switches, promotion, quarantine.

Each one appends its ledger entry and raises its alert through a store of its own, then bumps the
control signal so that every running session applies it within ``control.POLL_S``.
"""

from __future__ import annotations

from pathlib import Path

from pi_sandbox.audit import AuditStore
from pi_sandbox.config.model import TrustSettings
from pi_sandbox.errors import TrustTransitionError
from pi_sandbox.trust import control
from pi_sandbox.trust.killswitch import KillSwitchBoard, KillSwitchEvent
from pi_sandbox.trust.registry import TrustRegistry, operator_name
from pi_sandbox.trust.states import Actor, TransitionReason, TrustState, TrustTransition


def set_kill_switch(state_dir: Path, active: bool, extension_id: str | None, note: str, *,
                    anchor_copy: Path | None = None) -> KillSwitchEvent:
    """Turn the global switch (``extension_id`` None) or one extension's switch on or off.

    ``anchor_copy``: the settings' copy of the head anchor (``extensionPolicy.ledger.anchorCopy``); every
    writer must keep it, or the next verification finds the ledger ahead of its copy and every writer then
    refuses the ledger as rolled back."""
    if not note.strip():
        raise TrustTransitionError("a kill switch needs a reason (--reason TEXT): it is the incident's record")
    with AuditStore.open(state_dir, anchor_copy=anchor_copy) as store:
        event = KillSwitchBoard(store).set(active, extension_id, actor=operator_name(), note=note)
    control.bump(state_dir)
    return event


def promote(state_dir: Path, settings: TrustSettings, extension_id: str, to_state: TrustState,
            note: str, *, anchor_copy: Path | None = None) -> TrustTransition:
    """An operator moves an extension to ``probation`` or ``trusted`` (also out of quarantine)."""
    if to_state not in (TrustState.PROBATION, TrustState.TRUSTED):
        raise TrustTransitionError(f"promote goes to probation or trusted, not '{to_state}'")
    if not note.strip():
        raise TrustTransitionError("a promotion needs a reason (--reason TEXT)")
    with AuditStore.open(state_dir, anchor_copy=anchor_copy) as store:
        transition = TrustRegistry(store, settings).transition(
            extension_id, to_state, actor=Actor.OPERATOR, reason=TransitionReason.OPERATOR_PROMOTION, note=note)
    control.bump(state_dir)
    return transition


def quarantine(state_dir: Path, settings: TrustSettings, extension_id: str, note: str, *,
               anchor_copy: Path | None = None) -> TrustTransition:
    """An operator quarantines an extension: every hostcall, handler, tool and command stops."""
    if not note.strip():
        raise TrustTransitionError("a quarantine needs a reason (--reason TEXT)")
    with AuditStore.open(state_dir, anchor_copy=anchor_copy) as store:
        transition = TrustRegistry(store, settings).transition(
            extension_id, TrustState.QUARANTINED, actor=Actor.OPERATOR,
            reason=TransitionReason.OPERATOR_QUARANTINE, note=note)
    control.bump(state_dir)
    return transition
