"""Trust lifecycle and kill switches (runbook INC-5, "Contain"): what stops an extension, and its record."""

from pi_sandbox.trust.controls import Controls
from pi_sandbox.trust.killswitch import GLOBAL, KillSwitchBoard, KillSwitchEvent
from pi_sandbox.trust.operations import promote, quarantine, set_kill_switch
from pi_sandbox.trust.registry import TrustRegistry, operator_name
from pi_sandbox.trust.states import Actor, TransitionReason, TrustState, TrustTransition
from pi_sandbox.trust.verify import check_trust_transitions, verify_ledger_and_trust

__all__ = [
    "GLOBAL", "Actor", "Controls", "KillSwitchBoard", "KillSwitchEvent", "TransitionReason", "TrustRegistry",
    "TrustState", "TrustTransition", "check_trust_transitions", "operator_name", "promote", "quarantine",
    "set_kill_switch", "verify_ledger_and_trust",
]
