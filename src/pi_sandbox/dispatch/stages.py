"""The named stages of the hostcall pipeline that later layers fill.

The pipeline calls, in order: trust / kill switch → policy (+ prompt) → quota → risk → mediation.
Each slot below is a :class:`Gate`; the pass-through gates are the explicit "nothing configured
yet" behaviour, not a hidden default, and each says so in its name.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Protocol

from pi_sandbox.capabilities import Capability

STAGE_ORDER: Final[tuple[str, ...]] = (
    "validate", "derive_capability", "trust", "policy", "prompt", "quota", "risk", "mediation",
    "connector", "redact", "record",
)


@dataclass(frozen=True)
class CallInfo:
    """An authenticated, validated call as the gates see it (raw params stay in memory only)."""

    extension_id: str
    call_id: str
    method: str
    capability: Capability
    params: Mapping[str, Any]
    params_hash: str


@dataclass(frozen=True)
class GateDenial:
    """A gate's refusal: the hostcall error code, a reason code, an operator message."""

    code: str
    reason: str
    message: str
    alert_category: str | None = None
    alert_severity: str = "error"
    detail: Mapping[str, Any] = field(default_factory=dict)


class Gate(Protocol):
    """One pipeline stage that may refuse a call that policy allowed (it can only tighten)."""

    name: str

    def check(self, call: CallInfo) -> GateDenial | None: ...


class PassThroughGate:
    """A stage slot with nothing configured: lets every call through."""

    def __init__(self, name: str) -> None:
        self.name = name

    def check(self, call: CallInfo) -> GateDenial | None:
        return None


class Redactor(Protocol):
    """Removes withheld secret values from anything leaving the supervisor."""

    def redact_value(self, value: Any) -> Any: ...


class NoRedaction:
    """Used only when the secret broker is disabled by settings."""

    def redact_value(self, value: Any) -> Any:
        return value
