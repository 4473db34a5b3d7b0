"""The pipeline's stages, one module each, in the order they run (see ``dispatch.pipeline``)."""

from pi_sandbox.dispatch.stages.capability import CapabilityStage
from pi_sandbox.dispatch.stages.mediation import MediationStage
from pi_sandbox.dispatch.stages.policy import PolicyStage
from pi_sandbox.dispatch.stages.quota import QuotaStage
from pi_sandbox.dispatch.stages.risk import RiskStage
from pi_sandbox.dispatch.stages.trust import TrustStage

__all__ = ["CapabilityStage", "MediationStage", "PolicyStage", "QuotaStage", "RiskStage", "TrustStage"]
