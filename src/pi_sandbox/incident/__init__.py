"""The incident runbook as a workflow: phases with SLAs recorded in the ledger, postmortem, HTML report.

``pi-sandbox incident open|status|contain|collect|verify|analyze|close|report`` call these functions;
see docs/incident.md.
"""

from pi_sandbox.incident.clock import PhaseState, PhaseStatus, phase_statuses
from pi_sandbox.incident.record import Incident, PhaseRecord
from pi_sandbox.incident.runbook import GUIDES, PHASE_RULES, IncidentKind, Phase
from pi_sandbox.incident.workflow import ContainMethod, contain, find_incident, load_incidents, open_incident

__all__ = [
    "GUIDES", "PHASE_RULES", "ContainMethod", "Incident", "IncidentKind", "Phase", "PhaseRecord", "PhaseState",
    "PhaseStatus", "contain", "find_incident", "load_incidents", "open_incident", "phase_statuses",
]
