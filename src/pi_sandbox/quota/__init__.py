"""Per-extension quotas (runbook INC-6): usage against limits, and breach events."""

from pi_sandbox.quota.meter import Demand, QuotaBreach, QuotaMeter, Resource, Usage, limits_dict, scaled
from pi_sandbox.quota.status import quota_status

__all__ = ["Demand", "QuotaBreach", "QuotaMeter", "Resource", "Usage", "limits_dict", "quota_status", "scaled"]
