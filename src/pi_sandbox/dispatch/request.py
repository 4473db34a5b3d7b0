"""Hostcall request and result shapes, and validation before anything runs (INV-001/002)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from pi_sandbox import schemas
from pi_sandbox.capabilities import Capability, required_capability
from pi_sandbox.dispatch.call import instance_with, plain_frozen
from pi_sandbox.errors import InvalidRequestError
from pi_sandbox.hashing import is_unicode_text
from pi_sandbox.vocabulary import ErrorCode

ERROR_CODES: Final[tuple[str, ...]] = tuple(ErrorCode)


@dataclass(frozen=True)
class ParamsTooDeep:
    """Stands in for params the worker could not pass on because they nest deeper than JSON can be read
    here (the sender's reader stops at about ``limit`` levels): the call is refused with that reason,
    not as "params must be a JSON object" (what the ``null`` sent in their place used to read as)."""

    limit: int

    def message(self) -> str:
        return (f"'params' is nested too deeply to read (more than about {self.limit:,} levels of arrays and "
                "objects); flatten the value or pass it as a JSON string")


@dataclass(frozen=True)
class HostcallRequest:
    """One effect an extension asks for. ``capability`` is what the caller *claims*; it is only checked."""

    call_id: str
    method: str
    params: Mapping[str, Any]
    capability: str | None = None
    timeout_ms: int | None = None


@dataclass(frozen=True)
class HostcallResult:
    """What the extension gets back: ``ok`` with a result, or an error code and actionable message."""

    ok: bool
    call_id: str
    result: Any = None
    error_code: str | None = None
    message: str | None = None
    reason: str | None = None
    capability: str | None = None
    ledger_seq: int | None = field(default=None, compare=False)

    @classmethod
    def error(cls, call_id: str, code: str, message: str, reason: str | None = None,
              capability: str | None = None, ledger_seq: int | None = None) -> HostcallResult:
        return cls(False, call_id, None, code, message, reason, capability, ledger_seq)

    @classmethod
    def done(cls, call_id: str, result: Any, capability: str, ledger_seq: int | None) -> HostcallResult:
        """The result of a call carried out (``ok``; what ``cls(True, call_id, result, None, None, None,
        capability, ledger_seq)`` makes, in a fifth of the instructions: :func:`~.call.plain_frozen`)."""
        if _PLAIN_RESULT:
            return instance_with(cls, {"ok": True, "call_id": call_id, "result": result, "error_code": None,
                                       "message": None, "reason": None, "capability": capability,
                                       "ledger_seq": ledger_seq})
        return cls(True, call_id, result, None, None, None, capability, ledger_seq)

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": schemas.HOSTCALL_RESULT,
            "ok": self.ok,
            "call_id": self.call_id,
            "error_code": self.error_code,
            "message": self.message,
            "reason": self.reason,
            "capability": self.capability,
            "result": self.result,
        }


_PLAIN_RESULT: Final = plain_frozen(HostcallResult, ("ok", "call_id", "result", "error_code", "message", "reason",
                                                     "capability", "ledger_seq"))


def coerce_request(raw: HostcallRequest | Mapping[str, Any]) -> HostcallRequest:
    """Build a :class:`HostcallRequest` from a mapping, checking the shape of every field."""
    if isinstance(raw, HostcallRequest):
        req = raw
    else:
        if not isinstance(raw, Mapping):
            raise InvalidRequestError("hostcall request must be a JSON object")
        timeout = raw.get("timeout_ms")
        if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, int) or timeout <= 0):
            raise InvalidRequestError("'timeout_ms' must be a positive integer")
        req = HostcallRequest(
            call_id=raw.get("call_id"),  # type: ignore[arg-type]
            method=raw.get("method"),  # type: ignore[arg-type]
            params=raw.get("params"),  # type: ignore[arg-type]
            capability=raw.get("capability"),
            timeout_ms=timeout,
        )
    if not isinstance(req.call_id, str) or not req.call_id.strip():
        raise InvalidRequestError("'call_id' must be a non-empty string")
    if not isinstance(req.method, str) or not req.method.strip():
        raise InvalidRequestError("'method' must be a non-empty string")
    if not isinstance(req.params, Mapping):
        if isinstance(req.params, ParamsTooDeep):
            raise InvalidRequestError(req.params.message())
        raise InvalidRequestError("'params' must be a JSON object")
    if req.capability is not None and not isinstance(req.capability, str):
        raise InvalidRequestError("'capability' must be a string when given")
    for name in ("call_id", "method", "capability"):
        value = getattr(req, name)
        if value is not None and not is_unicode_text(value):
            raise InvalidRequestError(f"'{name}' is not valid Unicode text (lone surrogate)")
    return req


def derive_and_check(req: HostcallRequest) -> Capability:
    """Derive the capability server-side; a declared capability that differs is ``invalid_request``."""
    derived = required_capability(req.method, req.params)
    tool_input = req.params.get("input")
    if req.method.strip().lower() == "tool" and tool_input is not None and not isinstance(tool_input, Mapping):
        # Checked here, before any stage reads it: the bash tool's command is taken from this object.
        raise InvalidRequestError("tool hostcall 'input' must be a JSON object")
    if req.capability is not None and req.capability.strip().lower() != derived.value:
        raise InvalidRequestError(
            f"declared capability '{req.capability}' does not match '{derived.value}', which method "
            f"'{req.method}' requires; the capability is derived by pi-sandbox, never taken from the caller"
        )
    return derived
