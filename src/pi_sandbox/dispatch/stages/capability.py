"""Stage 1: validate the request and derive its capability server-side (INV-001/002)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pi_sandbox.dispatch.call import CallInfo
from pi_sandbox.dispatch.request import HostcallRequest, coerce_request, derive_and_check
from pi_sandbox.hashing import params_hash
from pi_sandbox.vocabulary import StageName


class CapabilityStage:
    """Turns a raw request into a :class:`CallInfo`; a malformed call raises ``InvalidRequestError``.

    Unlike the later stages it does not judge a :class:`CallInfo` but produces one: nothing can be
    decided about a call before its capability is known, and a caller's claim is only ever checked.
    """

    name = StageName.CAPABILITY
    summary = "validate the request; derive the capability from the method, never from the caller's claim"

    def derive(self, extension_id: str, request: HostcallRequest | Mapping[str, Any]) -> CallInfo:
        """The validated call (raises ``InvalidRequestError`` for an invalid one)."""
        req = coerce_request(request)
        capability = derive_and_check(req)
        return CallInfo(extension_id, req.call_id, req.method.strip().lower(), capability, req.params,
                        params_hash(req.method, req.params), req.timeout_ms)
