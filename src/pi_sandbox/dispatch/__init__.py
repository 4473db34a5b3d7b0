"""The hostcall dispatch pipeline (the single chokepoint every extension effect passes)."""

from pi_sandbox.connectors.base import Connector, ConnectorContext
from pi_sandbox.dispatch.call import AlertSpec, CallInfo, Stage, Verdict
from pi_sandbox.dispatch.pipeline import Pipeline, pipeline_table_markdown
from pi_sandbox.dispatch.request import ERROR_CODES, HostcallRequest, HostcallResult
from pi_sandbox.dispatch.sandbox import Sandbox

__all__ = [
    "ERROR_CODES", "AlertSpec", "CallInfo", "Connector", "ConnectorContext", "HostcallRequest", "HostcallResult",
    "Pipeline", "Sandbox", "Stage", "Verdict", "pipeline_table_markdown",
]
