"""Canonical JSON (RFC 8785) and the hashes records carry instead of raw values (INV-012)."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import orjson
import rfc8785

_MAX_DEPTH = 128
_INT_LIMIT = 2**53


#: Floats orjson writes exactly as RFC 8785 (ECMAScript ``Number.prototype.toString``) does: finite, not
#: integer-valued (orjson writes ``5.0``, RFC 8785 ``5``) and in the range where both use plain decimal
#: notation with the same shortest round-trip digits (below 1e-5 orjson switches to ``1e-6`` where RFC 8785
#: writes ``0.000001``; from 1e16 on, orjson writes ``1e+16``). Outside it floats take the rfc8785 path.
_FLOAT_MIN = 1e-5
_FLOAT_MAX = 1e15

#: What :func:`_simple_kind` found.
_NOT_SIMPLE, _SIMPLE, _SIMPLE_BUT_INTEGRAL_FLOATS = 0, 1, 2


def _float_kind(item: float) -> int:
    if item.is_integer():
        # RFC 8785 writes an integer-valued float as the integer (5.0 -> 5, -0.0 -> 0): exact below 2**53.
        return _SIMPLE_BUT_INTEGRAL_FLOATS if -_INT_LIMIT < item < _INT_LIMIT else _NOT_SIMPLE
    magnitude = abs(item)
    return _SIMPLE if _FLOAT_MIN <= magnitude < _FLOAT_MAX else _NOT_SIMPLE


def _simple_kind(value: Any) -> int:
    """Whether orjson (sorted keys) yields RFC 8785 output for ``value`` as it is (``_SIMPLE``), once its
    integer-valued floats are written as integers (``_SIMPLE_BUT_INTEGRAL_FLOATS``), or not at all.

    It does for strings, ints within 2**53, bools, None, floats orjson formats as RFC 8785 does
    (:data:`_FLOAT_MIN`) and containers of them with ASCII keys (sorting by UTF-16 code units equals
    sorting by code points for ASCII). Other floats and non-ASCII keys take the slower, exact rfc8785
    path. (One loop over a stack, leaves checked in place with exact types first: this runs on every
    hostcall.)
    """
    kind_found = _SIMPLE
    stack: list[tuple[Any, int]] = [(value, 0)]
    pop, push = stack.pop, stack.append
    while stack:
        item, depth = pop()
        if depth > _MAX_DEPTH:
            return _NOT_SIMPLE
        kind = type(item)
        if kind is dict:
            for key, sub in item.items():
                if type(key) is not str or not key.isascii():
                    if not (isinstance(key, str) and key.isascii()):
                        return _NOT_SIMPLE
                sub_kind = type(sub)
                if sub_kind is str or sub_kind is bool or sub is None:
                    continue
                if sub_kind is int and -_INT_LIMIT < sub < _INT_LIMIT:
                    continue
                if sub_kind is float:  # in place (a ledger detail's risk scores): no stack round per leaf
                    if sub.is_integer():
                        if -_INT_LIMIT < sub < _INT_LIMIT:
                            kind_found = _SIMPLE_BUT_INTEGRAL_FLOATS
                            continue
                        return _NOT_SIMPLE
                    if _FLOAT_MIN <= abs(sub) < _FLOAT_MAX:
                        continue
                    return _NOT_SIMPLE
                push((sub, depth + 1))
            continue
        if kind is list or kind is tuple:
            for sub in item:
                sub_kind = type(sub)
                if sub_kind is str or sub_kind is bool or sub is None:
                    continue
                if sub_kind is int and -_INT_LIMIT < sub < _INT_LIMIT:
                    continue
                push((sub, depth + 1))
            continue
        if kind is str or kind is bool or item is None:
            continue
        if kind is int:
            if -_INT_LIMIT < item < _INT_LIMIT:
                continue
            return _NOT_SIMPLE
        if kind is float:
            found = _float_kind(item)
            if found == _NOT_SIMPLE:
                return _NOT_SIMPLE
            kind_found = max(kind_found, found)
            continue
        # Subclasses (enums, bools) take the general checks; float subclasses the rfc8785 path.
        if isinstance(item, (str, bool)):
            continue
        if isinstance(item, int):
            if -_INT_LIMIT < item < _INT_LIMIT:
                continue
            return _NOT_SIMPLE
        if isinstance(item, dict):
            push((dict(item), depth))
            continue
        if isinstance(item, (list, tuple)):
            push((list(item), depth))
            continue
        return _NOT_SIMPLE
    return kind_found


def _is_simple(value: Any) -> bool:
    """True when orjson (sorted keys) already yields RFC 8785 output for ``value`` (see :func:`_simple_kind`)."""
    return _simple_kind(value) == _SIMPLE


def _integral_floats_as_ints(value: Any) -> Any:
    """A copy of a value :func:`_simple_kind` accepted with every integer-valued float as an int (leaves are
    handled in the loops, not by a call each)."""
    if isinstance(value, dict):
        out: dict[Any, Any] = {}
        for key, sub in value.items():
            kind = type(sub)
            if kind is float:
                out[key] = int(sub) if sub.is_integer() else sub
            elif kind is str or kind is int or kind is bool or sub is None:
                out[key] = sub
            else:
                out[key] = _integral_floats_as_ints(sub)
        return out
    if isinstance(value, (list, tuple)) and not isinstance(value, str):
        items: list[Any] = []
        for sub in value:
            kind = type(sub)
            if kind is float:
                items.append(int(sub) if sub.is_integer() else sub)
            elif kind is str or kind is int or kind is bool or sub is None:
                items.append(sub)
            else:
                items.append(_integral_floats_as_ints(sub))
        return items
    if type(value) is float and value.is_integer():
        return int(value)
    return value


def canonical_json(value: Any) -> bytes:
    """Serialise ``value`` as RFC 8785 canonical JSON bytes."""
    simple = _simple_kind(value)
    if simple:
        if simple == _SIMPLE_BUT_INTEGRAL_FLOATS:
            value = _integral_floats_as_ints(value)
        try:
            # orjson writes strings exactly as RFC 8785 does (short escapes, lower-case \u00XX, nothing
            # else escaped) and sorts ASCII keys as RFC 8785 does; a property test compares it with rfc8785.
            return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
        except orjson.JSONEncodeError:  # a lone surrogate: keep json's own error behaviour
            pass
        return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    return rfc8785.dumps(value)


def sha256_hex(data: bytes | str) -> str:
    """Lower-case hex SHA-256 of ``data`` (strings are UTF-8 encoded; a lone surrogate, which UTF-8
    cannot hold, as its own three bytes instead of an error)."""
    if isinstance(data, str):
        data = data.encode("utf-8", "surrogatepass")
    return hashlib.sha256(data).hexdigest()


def is_unicode_text(text: str) -> bool:
    """Whether ``text`` encodes as UTF-8 (no lone surrogates, which JSON from JavaScript can carry)."""
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _text(value: str) -> str:
    # A lone surrogate cannot be canonicalised; tag it as hex so the call is still fingerprinted.
    return value if is_unicode_text(value) else "str:" + value.encode("utf-8", "surrogatepass").hex()


def _depth_limited(value: Any, depth: int = 0) -> Any:
    if depth > _MAX_DEPTH:
        return "too_deep"
    if isinstance(value, str):
        return _text(value)
    if isinstance(value, dict):
        return {_text(str(k)): _depth_limited(v, depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_depth_limited(v, depth + 1) for v in value]
    if isinstance(value, float) and value != value:  # NaN cannot be canonicalised
        return None
    # RFC 8785 has no encoding for infinities or integers beyond 2**53; a hostcall carrying one
    # must still be fingerprinted (and recorded), not crash the pipeline, so tag them as text.
    if isinstance(value, float) and value in (float("inf"), float("-inf")):
        return f"float:{value}"
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 2**53:
        return f"int:{value}"
    return value


def params_hash(method: str, params: Any) -> str:
    """Fingerprint of a hostcall's method and parameters; the raw parameters are never stored."""
    if isinstance(method, str) and method.isascii():
        # Hot path (every hostcall): plain JSON needs no sanitising copy; the bytes are exactly what the
        # general path produces (orjson refuses what is not valid Unicode text: that takes the general path).
        value = {"method": method, "params": params}
        if _is_simple(value):
            try:
                return hashlib.sha256(orjson.dumps(value, option=orjson.OPT_SORT_KEYS)).hexdigest()
            except orjson.JSONEncodeError:
                pass
    return sha256_hex(canonical_json({"method": _text(method), "params": _depth_limited(params)}))


def _shape(value: Any, depth: int = 0) -> Any:
    if depth > _MAX_DEPTH:
        return "too_deep"
    if isinstance(value, dict):
        return {_text(str(k)): _shape(v, depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_shape(v, depth + 1) for v in value]
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    if value is None:
        return "null"
    return "string"


def args_shape_hash(method: str, params: Any) -> str:
    """Fingerprint of the *shape* of a hostcall's parameters (every leaf replaced by its type)."""
    return sha256_hex(canonical_json({"method": _text(method), "params_shape": _shape(params)}))
