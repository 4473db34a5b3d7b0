"""What every connector receives and must implement.

Connectors are the only code that touches the OS. They run only after the dispatch pipeline has
allowed a call; they never decide policy, only confinement details of their own resource.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from pi_sandbox.capabilities import Capability
from pi_sandbox.config.model import SecurityConfig

if TYPE_CHECKING:
    from pi_sandbox.audit import AuditStore


@dataclass(frozen=True)
class ConnectorContext:
    """The allowed call a connector carries out, and where it may act."""

    extension_id: str
    call_id: str
    method: str
    capability: Capability
    roots: tuple[Path, ...]  # already resolved (symlinks followed): confinement compares against them as-is
    config: SecurityConfig
    store: AuditStore
    timeout_ms: int | None = None
    #: Paths no extension may touch even inside a root (the security state dir, settings files).
    protected: tuple[Path, ...] = ()
    #: Paths that may be read but never changed: extension code folders (an extension able to edit
    #: another's code could take over its id and its per-extension allows on the next start).
    read_only: tuple[Path, ...] = ()
    #: The calling extension's own folder: writable by it even inside ``read_only``.
    own_root: Path | None = None


class Connector(Protocol):
    """Carries out one kind of hostcall; raises ``ConnectorError`` when it cannot."""

    def call(self, ctx: ConnectorContext, params: Mapping[str, Any]) -> Any: ...
