"""What every connector receives and must implement.

Connectors are the only code that touches the OS. They run only after every stage of the dispatch
pipeline has let a call through, and they only carry it out: decisions (policy, exec mediation,
secret broker, path mediation) are made by the stages before them. A connector still re-checks paths
at the moment of the effect (a backstop against a path changed in between) and records through the
narrow evidence port, never the whole audit store.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
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
    #: Set when the pipeline left the sync of this call's (effect-class) ledger entry to the connector
    #: (one whose ``waits_durable`` is True): it must call this, and see it return, before the effect
    #: can be seen outside; it raises ``AuditStoreError`` when the sync failed (then nothing may happen).
    durable: Callable[[], None] | None = None


class Connector(Protocol):
    """Carries out one kind of hostcall; raises ``ConnectorError`` when it cannot.

    A connector with a class attribute ``waits_durable = True`` holds its effect behind a gate of its
    own and opens it only after :attr:`ConnectorContext.durable` returned (the exec connector: bwrap
    waits on ``--block-fd``), so the pipeline hands it the entry's sync instead of syncing first and
    the sync overlaps the connector's start-up.
    """

    def call(self, ctx: ConnectorContext, params: Mapping[str, Any]) -> Any: ...


class Checks(Protocol):
    """A connector that decides more than the stages did before its effect (the http connector's host and
    address checks) also offers them alone: a dry run calls :meth:`check` instead of ``call``, so it reaches
    the decision the real call would, raising the same ``ConnectorError``, and carries nothing out."""

    def check(self, ctx: ConnectorContext, params: Mapping[str, Any]) -> None: ...
