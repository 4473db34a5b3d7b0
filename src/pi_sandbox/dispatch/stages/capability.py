"""Stage 1: validate the request and derive its capability server-side (INV-001/002)."""

from __future__ import annotations

import hashlib
import importlib
from collections.abc import Callable, Mapping
from typing import Any, Final

import orjson

from pi_sandbox.capabilities import Capability
from pi_sandbox.dispatch.call import CallInfo
from pi_sandbox.dispatch.request import HostcallRequest, coerce_request, derive_and_check
from pi_sandbox.hashing import params_hash
from pi_sandbox.vocabulary import StageName

#: Distinct (method, declared capability, op, name) spellings remembered; the table is emptied when full
#: (the spellings come from extensions, so the cache must stay bounded whatever they send).
DERIVED_CACHE: Final = 4096

_Key = tuple[str, str | None, str | None, str | None]
#: Parameter value types ``flat_params_hash`` hashes itself (integers within ±2**53, lists of text only).
_FLAT: Final = frozenset({str, bool, int, type(None), list})
_TEXT: Final = frozenset({str})
#: ...and, nested (``_plain``), objects too (no floats: orjson and RFC 8785 write some differently).
_PLAIN: Final = _FLAT | {dict}
#: How deep ``_plain`` looks before it leaves a value to ``params_hash`` (which cuts at 128 levels).
_NESTED_DEPTH: Final = 16
_INT_LIMIT: Final = 2**53


def _own_sha256() -> Callable[[bytes], hashlib._Hash]:
    """CPython's own SHA-256 (3.11: ``_sha256``, 3.12+: ``_sha2``), else hashlib's; see ``flat_params_hash``."""
    for name in ("_sha256", "_sha2"):
        try:
            found: Callable[[bytes], hashlib._Hash] = importlib.import_module(name).sha256
            return found
        except (ImportError, AttributeError):
            continue
    return hashlib.sha256


_SHA256: Final = _own_sha256()
_new = tuple.__new__


class CapabilityStage:
    """Turns a raw request into a :class:`CallInfo`; a malformed call raises ``InvalidRequestError``.

    Unlike the later stages it does not judge a :class:`CallInfo` but produces one: nothing can be
    decided about a call before its capability is known, and a caller's claim is only ever checked.
    """

    name = StageName.CAPABILITY
    summary = "validate the request; derive the capability from the method, never from the caller's claim"

    def __init__(self) -> None:
        # The derived capability is a pure function of the method, the declared capability and the
        # ``op``/``name`` parameters (``capabilities.required_capability``): the first request of each
        # spelling takes the general validation, later ones only the per-call checks. Failures are never kept.
        self._derived: dict[_Key, tuple[str, Capability]] = {}

    def derive(self, extension_id: str, request: HostcallRequest | Mapping[str, Any]) -> CallInfo:
        """The validated call (raises ``InvalidRequestError`` for an invalid one)."""
        if type(request) is dict:
            call = self._derive_plain(extension_id, request)
            if call is not None:
                return call
        req = coerce_request(request)
        capability = derive_and_check(req)
        return CallInfo(extension_id, req.call_id, req.method.strip().lower(), capability, req.params,
                        params_hash(req.method, req.params), req.timeout_ms)

    def _derive_plain(self, extension_id: str, request: dict[str, Any]) -> CallInfo | None:
        """The common request (a JSON object of plain, ASCII fields) without the general path's copies;
        None when anything about it is unusual (the general path then validates it and says what is wrong)."""
        call_id, method, params = request.get("call_id"), request.get("method"), request.get("params")
        declared, timeout = request.get("capability"), request.get("timeout_ms")
        if type(call_id) is not str or type(method) is not str or type(params) is not dict \
                or not call_id.isascii() or not call_id.strip():
            return None
        if timeout is not None and (type(timeout) is not int or timeout <= 0):
            return None
        op, name = params.get("op"), params.get("name")
        if (declared is not None and type(declared) is not str) or (op is not None and type(op) is not str) \
                or (name is not None and type(name) is not str):
            return None
        key = (method, declared, op, name)
        derived = self._derived.get(key)
        if derived is None:
            req = coerce_request(request)  # raises for an invalid request, as the general path does
            derived = (method.strip().lower(), derive_and_check(req))
            if len(self._derived) >= DERIVED_CACHE:
                self._derived.clear()
            self._derived[key] = derived
        elif derived[0] == "tool":
            tool_input = params.get("input")
            if tool_input is not None and not isinstance(tool_input, Mapping):
                return None  # the general path refuses it with its message
        # every field, straight to ``tuple.__new__``: a NamedTuple's own ``__new__`` is one more Python frame per call
        return _new(CallInfo, (extension_id, call_id, derived[0], derived[1], params, flat_params_hash(method, params),
                               timeout))


def _plain(items: Any, types: set[type], depth: int) -> bool:
    """Whether the values ``items`` (of the ``types``) are JSON that orjson writes as RFC 8785 does (text, integers
    within 2**53, booleans, null, and lists and objects of them under ASCII names, at most ``_NESTED_DEPTH`` deep).

    One C pass (``set(map(type, ...))``) per container instead of a Python step per value: a session entry's data
    and a file tool's input are nested, and are on the allow path of every such call."""
    if not _PLAIN.issuperset(types) or depth > _NESTED_DEPTH:
        return False
    if int in types and not all(-_INT_LIMIT < v < _INT_LIMIT for v in items if type(v) is int):
        return False
    if list in types and not all(_TEXT.issuperset(sub) or _plain(v, sub, depth + 1)
                                 for v in items if type(v) is list for sub in (set(map(type, v)),)):
        return False
    if dict in types:
        for v in items:
            if type(v) is dict:
                try:
                    if not "".join(v).isascii():  # TypeError: a name that is not text
                        return False
                except TypeError:
                    return False
                if not _plain(v.values(), set(map(type, v.values())), depth + 1):
                    return False
    return True


def flat_params_hash(method: str, params: dict[str, Any]) -> str:
    """``hashing.params_hash`` of the common request (text, small integers, booleans, and lists and objects of
    them under ASCII names) without its general walk; anything else is hashed by ``params_hash`` itself."""
    types = set(map(type, params.values()))
    if method.isascii() and _PLAIN.issuperset(types):
        try:
            names_ascii = "".join(params).isascii()  # TypeError: a name that is not text
        except TypeError:
            names_ascii = False
        if names_ascii and (_FLAT.issuperset(types) and (
                int not in types or all(-_INT_LIMIT < v < _INT_LIMIT for v in params.values() if type(v) is int))
                and (list not in types or all(_TEXT.issuperset(map(type, v)) for v in params.values()
                                              if type(v) is list))
                or _plain(params.values(), types, 1)):
            try:
                # the bytes ``params_hash`` hashes for such a value (sorted keys, RFC 8785 strings), by the
                # interpreter's own SHA-256: the same digest as OpenSSL's, which costs twice as much when the CPU
                # caches are cold (as they are at a session's hostcalls: 35 vs 17 µs p50 with 16 MiB evicted
                # before each; equal when warm)
                return _SHA256(orjson.dumps({"method": method, "params": params}, option=orjson.OPT_SORT_KEYS)
                              ).hexdigest()
            except orjson.JSONEncodeError:  # a lone surrogate: the general path fingerprints it
                pass
    return params_hash(method, params)
