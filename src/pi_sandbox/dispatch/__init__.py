"""The hostcall dispatch pipeline (the single chokepoint every extension effect passes)."""

from pi_sandbox.connectors.base import Connector, ConnectorContext
from pi_sandbox.dispatch.request import ERROR_CODES, HostcallRequest, HostcallResult
from pi_sandbox.dispatch.sandbox import Gates, Sandbox
from pi_sandbox.dispatch.stages import STAGE_ORDER, CallInfo, Gate, GateDenial, PassThroughGate

__all__ = [
    "ERROR_CODES", "STAGE_ORDER", "CallInfo", "Connector", "ConnectorContext", "Gate", "GateDenial", "Gates",
    "HostcallRequest", "HostcallResult", "PassThroughGate", "Sandbox",
]
