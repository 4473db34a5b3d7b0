"""What the pipeline's stages see and say: the derived call, a stage's verdict, the stage interface."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, NamedTuple, Protocol, TypeVar

from pi_sandbox.capabilities import Capability
from pi_sandbox.vocabulary import AlertCategory, Decision, ErrorCode, Severity, StageName

_EMPTY: Mapping[str, Any] = MappingProxyType({})
#: Makes a NamedTuple from all its fields without the class's Python-level ``__new__`` (hot paths only).
_new = tuple.__new__
_DENIED = ErrorCode.DENIED
_T = TypeVar("_T")
_object_new = object.__new__
_object_setattr = object.__setattr__


def plain_frozen(cls: type, names: tuple[str, ...]) -> bool:
    """Whether an instance of the frozen dataclass ``cls`` can be made by setting its ``__dict__`` to its fields
    (``names``, in order) at once: what its ``__init__`` does with one ``object.__setattr__`` per field, which
    costs 15-18k instructions for the 8-9 fields of a ``HostcallResult`` or ``ConnectorContext`` (one of each
    is made per hostcall), about a fifth of that this way.

    True only for a dataclass whose fields are exactly ``names``, all set by ``__init__``, with a ``__dict__``
    (no slots) and no ``__post_init__``: a class changed since is then made by its own ``__init__``."""
    if not dataclasses.is_dataclass(cls) or "__slots__" in vars(cls) or hasattr(cls, "__post_init__"):
        return False
    found = dataclasses.fields(cls)
    return tuple(f.name for f in found) == names and all(f.init for f in found)


def instance_with(cls: type[_T], values: dict[str, Any]) -> _T:
    """An instance of a :func:`plain_frozen` class whose ``__dict__`` is ``values`` (every field)."""
    obj = _object_new(cls)
    _object_setattr(obj, "__dict__", values)
    return obj


class CallInfo(NamedTuple):
    """A validated call whose capability was derived server-side (raw params stay in memory only).

    A ``NamedTuple`` rather than a frozen dataclass: as immutable, and several times cheaper to make
    (one is made per hostcall, on the allow path the issue-14 budget is 20 µs for every stage)."""

    extension_id: str
    call_id: str
    #: The method, trimmed and lower-cased.
    method: str
    capability: Capability
    params: Mapping[str, Any]
    params_hash: str
    timeout_ms: int | None = None


@dataclass(frozen=True, slots=True)
class AlertSpec:
    """The alert a refusal raises (the pipeline fills in the call's fields)."""

    category: AlertCategory
    severity: Severity = Severity.ERROR


class Verdict(NamedTuple):
    """One stage's answer (a ``NamedTuple`` like :class:`CallInfo`: several stages answer every hostcall).

    ``outcome`` is ``None`` when the stage lets the call go on to the next stage, ``ALLOW`` when it
    grants the call (the policy stage; later stages can still refuse), ``DENY`` when it refuses (final).
    ``evidence`` (hashes, codes, counts only) goes into the call's one ledger entry.
    """

    outcome: Decision | None = None
    reason: str | None = None
    message: str = ""
    code: ErrorCode = ErrorCode.DENIED
    layer: int | None = None
    alert: AlertSpec | None = None
    evidence: Mapping[str, Any] = _EMPTY
    #: Advice for the operator, stored with the alert: never the call's parameters (``message`` may
    #: quote them back to the extension, which sent them; the evidence must not keep them).
    remediation: str = ""

    @classmethod
    def proceed(cls, evidence: Mapping[str, Any] | None = None) -> Verdict:
        """No objection; go on to the next stage."""
        # every field given, straight to ``tuple.__new__`` (a NamedTuple's own ``__new__`` is a Python function:
        # one more frame per call), and every stage proceeds
        return _new(cls, (None, None, "", _DENIED, None, None, evidence, "")) if evidence else _PROCEED

    @classmethod
    def grant(cls, reason: str, *, layer: int | None = None, evidence: Mapping[str, Any] | None = None) -> Verdict:
        """Allowed by this stage (later stages may still refuse)."""
        return cls(Decision.ALLOW, reason, layer=layer, evidence=evidence or _EMPTY)

    @classmethod
    def deny(
        cls,
        reason: str,
        message: str,
        *,
        code: ErrorCode = ErrorCode.DENIED,
        layer: int | None = None,
        alert: AlertSpec | None = None,
        evidence: Mapping[str, Any] | None = None,
        remediation: str = "",
    ) -> Verdict:
        """Refused: the call ends here with ``code`` and an operator-readable ``message``."""
        return cls(Decision.DENY, reason, message, code, layer, alert, evidence or _EMPTY, remediation)

    @property
    def denied(self) -> bool:
        return self.outcome is Decision.DENY


_PROCEED = Verdict()


class Outcome(NamedTuple):
    """How a decided call ended: what stages that keep state (quota, risk, trust) learn afterwards (one per
    hostcall, so a ``NamedTuple`` like :class:`CallInfo`)."""

    decision: Decision
    #: The deciding stage (the refusing one, or ``policy`` for an allowed call).
    stage: StageName
    reason: str
    ok: bool
    error_code: str | None = None
    #: The connector's result (allowed, successful calls only; never stored).
    result: Any = None
    #: Time the connector took.
    connector_ms: float = 0.0


class Stage(Protocol):
    """One step of the hostcall pipeline after capability derivation.

    A stage that keeps per-extension state may also define ``settle(call, outcome) -> Mapping | None``:
    the pipeline calls it, for every stage that judged the call, once the call has ended; what it
    returns (counts such as bytes) goes into the call's telemetry record. A stage that scores behaviour
    may define ``observe(call, outcome)``: called instead for calls refused before it judged them.
    """

    @property
    def name(self) -> StageName: ...

    def decide(self, call: CallInfo) -> Verdict:
        """Judge one call; never raises for a bad call (refusals are verdicts)."""
        ...
