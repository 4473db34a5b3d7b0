"""The runtime risk controller (runbook INC-1, INC-6, rollback): behaviour scores, calibrated threshold, decisions."""

from pi_sandbox.risk.calibration import Calibration
from pi_sandbox.risk.controller import RiskAction, RiskController, RiskDecision
from pi_sandbox.risk.features import Observation, Observer, Workspace
from pi_sandbox.risk.window import CallState

__all__ = ["CallState", "Calibration", "Observation", "Observer", "RiskAction", "RiskController", "RiskDecision",
           "Workspace"]
