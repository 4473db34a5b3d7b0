"""The ``env`` connector: environment reads through the secret broker.

``{name}`` (or ``{names: [...]}``) → ``{value}``: the real value for an ordinary variable, the
placeholder for a withheld one, no value at all for a denied one. ``{op: "list"}`` → the names an
extension may see (secret names are never listed). The mediation stage has already recorded each
name's broker decision (by hash) and raised the ``secret_exposure`` alert for a withheld one.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pi_sandbox.connectors.base import ConnectorContext
from pi_sandbox.errors import ConnectorError
from pi_sandbox.mediation.secret_broker import SecretBroker

MAX_NAMES = 256


class EnvConnector:
    """Answers env hostcalls from the broker's view of the supervisor environment."""

    def __init__(self, broker: SecretBroker) -> None:
        self.broker = broker

    def check(self, ctx: ConnectorContext, params: Mapping[str, Any]) -> None:
        """What :meth:`call` refuses before reading anything (a dry run): the op and the names."""
        _request(params)

    def call(self, ctx: ConnectorContext, params: Mapping[str, Any]) -> Any:
        request = _request(params)
        if request is None:
            return {"names": self.broker.visible_names()}
        if isinstance(request, list):
            return {"values": {n: self._read(ctx, n).get("value") for n in request}}
        return self._read(ctx, request)

    def _read(self, ctx: ConnectorContext, name: str) -> dict[str, Any]:
        decision = self.broker.is_secret(name)
        if decision.verdict == "denied":
            return {"withheld": True}
        value = self.broker.read(name)
        return {"value": value, "withheld": decision.withheld} if decision.withheld else {"value": value}


def _request(params: Mapping[str, Any]) -> str | list[str] | None:
    """What an env call asks for: None (``list``), the names of a ``names`` read, or one name."""
    op = params.get("op", "get")
    if op == "list":
        return None
    if op not in ("get", "read"):
        raise ConnectorError(f"unknown env op '{op}' (known: get, list)", code="invalid_request")
    if "names" in params:
        names_param = params["names"]
        if not isinstance(names_param, list) or not all(isinstance(n, str) for n in names_param):
            raise ConnectorError("env 'names' must be a list of strings", code="invalid_request")
        if len(names_param) > MAX_NAMES:
            raise ConnectorError(f"env reads at most {MAX_NAMES} names at once", code="invalid_request")
        return list(names_param)
    name = params.get("name")
    if not isinstance(name, str) or not name:
        raise ConnectorError("env needs a non-empty string 'name' (or op 'list')", code="invalid_request")
    return name
