"""The pipeline's mediation stage: exec mediation for ``exec`` and ``tool("bash")``, broker redaction.

Unlike the reference, the ``bash`` tool is mediated exactly like ``exec``: it runs ``sh -c
<command>``, and that is what gets classified.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pi_sandbox.audit import AuditStore
from pi_sandbox.capabilities import Capability
from pi_sandbox.connectors.base import Connector, ConnectorContext
from pi_sandbox.connectors.exec import mediate_exec
from pi_sandbox.dispatch.stages import CallInfo, GateDenial
from pi_sandbox.mediation.exec_mediation import ExecMediator
from pi_sandbox.mediation.secret_broker import SecretBroker


def exec_argv(method: str, capability: Capability, params: Mapping[str, Any]) -> tuple[str, list[str]] | None:
    """The argv an ``exec`` or ``tool("bash")`` call would run (None for other calls or malformed params)."""
    if method == "exec":
        cmd, args = params.get("cmd"), params.get("args") or []
        if isinstance(cmd, str) and isinstance(args, (list, tuple)) and all(isinstance(a, str) for a in args):
            return cmd, list(args)
        return None
    if method == "tool" and capability is Capability.EXEC:
        # Must mirror Sandbox._run_connector, which runs the bash tool as ``sh -c <command>``.
        return "sh", ["-c", str(dict(params.get("input") or {}).get("command", ""))]
    return None


class ExecMediationGate:
    """Denies commands whose risk tier reaches the profile's threshold; records every decision."""

    name = "mediation"

    def __init__(self, mediator: ExecMediator, broker: SecretBroker, store: AuditStore) -> None:
        self.mediator = mediator
        self.broker = broker
        self.store = store

    def check(self, call: CallInfo) -> GateDenial | None:
        argv = exec_argv(call.method, call.capability, call.params)
        if argv is None:
            return None
        cmd, args = argv
        stdin = call.params.get("stdin") if call.method == "exec" else None
        decision = mediate_exec(self.mediator, self.broker, self.store, call.extension_id, call.call_id, cmd, args,
                                stdin if isinstance(stdin, str) else None)
        if not decision.denied:
            return None
        # mediate_exec already raised the exec_mediation / secret_exposure alert: no second alert here.
        return GateDenial(
            "denied",
            decision.reason,
            f"command refused by exec mediation: class {decision.command_class}, risk tier {decision.risk_tier} "
            f"(rule {decision.rule}); an operator can inspect it with `pi security exec classify -- CMD...` "
            "and, if it is legitimate, add an execMediation.allowPatterns entry",
            None,
            detail={
                "command_hash": decision.command_hash,
                "command_class": decision.command_class,
                "risk_tier": decision.risk_tier,
                "rule": decision.rule,
            },
        )


class RedactingConnector:
    """Wraps a connector that writes extension-supplied text somewhere (the log file): redacts it first."""

    def __init__(self, inner: Connector, broker: SecretBroker) -> None:
        self.inner = inner
        self.broker = broker

    def call(self, ctx: ConnectorContext, params: Mapping[str, Any]) -> Any:
        return self.inner.call(ctx, self.broker.redact_value(dict(params)))
