"""What every connector receives and must implement.

Connectors are the only code that touches the OS. They run only after every stage of the dispatch
pipeline has let a call through, and they only carry it out: decisions (policy, exec mediation,
secret broker, path mediation) are made by the stages before them. A connector still re-checks paths
at the moment of the effect (a backstop against a path changed in between) and records through the
narrow evidence port, never the whole audit store.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from pi_sandbox.audit.port import EvidencePort
from pi_sandbox.capabilities import Capability
from pi_sandbox.config.model import SecurityConfig
from pi_sandbox.mediation.paths import PathRules


@dataclass(frozen=True)
class ConnectorContext:
    """The allowed call a connector carries out, and where it may act."""

    extension_id: str
    call_id: str
    method: str
    capability: Capability
    #: Where this extension may act (roots, protected and read-only paths).
    paths: PathRules
    #: The resolved settings without the supervisor's environment (secret-free view).
    config: SecurityConfig
    evidence: EvidencePort
    timeout_ms: int | None = None


class Connector(Protocol):
    """Carries out one kind of hostcall; raises ``ConnectorError`` when it cannot."""

    def call(self, ctx: ConnectorContext, params: Mapping[str, Any]) -> Any: ...
