"""RFC 8785 canonical JSON at the speed of the C ``json`` module, for bundles of 100k entries.

The exact serializer (``hashing.canonical_json``) walks every value in Python and hands anything with
a float to the pure-Python ``rfc8785`` package: about 4 s per 10 MB of telemetry. Python's own
``json.dumps(sort_keys=True, separators=(",", ":"), ensure_ascii=False)`` (written in C) gives the very
same bytes except in three cases, which this module detects instead of paying for an exact walk:

- a float whose Python ``repr`` differs from ECMAScript's ``Number.prototype.toString``: integral
  values (``3.0`` vs ``3``), magnitudes under 1e-4 (``1e-05`` vs ``0.00001``) and from 1e16 up to 1e21
  (``1e+16`` vs ``10000000000000000``). Everywhere else both print the shortest round-trip digits the
  same way;
- object keys with characters outside the Basic Multilingual Plane: RFC 8785 sorts keys by UTF-16 code
  units, Python by code points, and the two orders differ only there;
- NaN and infinities, which JSON cannot carry (refused).

:func:`parse` reads JSON and tells whether it is free of the first two (a float hook sees every float
token and reads an integral one as the integer RFC 8785 writes for it; the raw bytes show supplementary
characters, escaped or not). A value read that way serializes
exactly with :func:`dumps`; any other goes through the exact serializer.
"""

from __future__ import annotations

import gc
import hashlib
import json
import re
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, Final

import orjson

from pi_sandbox.audit.chain import entry_preimage
from pi_sandbox.errors import EvidenceError
from pi_sandbox.hashing import canonical_json

#: Magnitudes in ``[_LOW, _HIGH)`` print identically in Python and ECMAScript when not integral.
_LOW: Final = 1e-4
_HIGH: Final = 1e16
#: Below this magnitude an integral double's shortest form is the integer itself.
_EXACT_INTS: Final = 2**53
#: Every byte value below the lead bytes of 4-byte UTF-8 sequences (deleted to find those).
_BELOW_F0: Final = bytes(range(0xF0))
#: A supplementary character escaped as a surrogate pair (\\uD8xx-\\uDBxx).
_SURROGATE_ESCAPES: Final = (b"\\ud8", b"\\ud9", b"\\uda", b"\\udb", b"\\uD8", b"\\uD9", b"\\uDA", b"\\uDB")

#: In ``json.dumps`` output, a float whose Python form may differ from ECMAScript's (integral: ``3.0``; an
#: exponent: ``1e-05``, ``1e+16``) or a supplementary character. Conservative: a match inside a string only
#: costs the exact serializer.
_RISKY: Final = re.compile(r"\d\.0(?:[,\]}]|$)|\de[-+]\d|[\U00010000-\U0010FFFF]")

def _not_json(value: Any) -> Any:
    raise TypeError(f"{type(value).__name__} is not a JSON value")


_encoder = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
# The C encoder itself, made once: JSONEncoder.encode builds a new one per call, which costs more than
# encoding a small value. Arguments: markers, default, string encoder, indent, key and item separators,
# sort_keys, skipkeys, allow_nan (json/encoder.py).
_make_c_encoder = getattr(json.encoder, "c_make_encoder", None)
_c_encoder = _make_c_encoder(None, _not_json, json.encoder.encode_basestring, None, ":", ",", True, False, False) \
    if _make_c_encoder is not None else None
_str = json.encoder.encode_basestring


def dumps(value: Any) -> str:
    """Canonical text of ``value``, exact when ``value`` came from :func:`parse` with ``exact`` true.

    orjson first (several times faster than ``json``; on plain values it writes exactly what RFC 8785 does,
    which tests/evidence/test_canon.py checks against the reference), the C ``json`` encoder for what orjson
    refuses (integers beyond 64 bits, lone surrogates)."""
    if type(value) is str:
        return _str(value)
    try:
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode("utf-8")
    except (orjson.JSONEncodeError, TypeError):
        pass
    if _c_encoder is not None and isinstance(value, (dict, list)):
        return "".join(_c_encoder(value, 0))
    return _encoder.encode(value)


def _no_constants(token: str) -> Any:
    raise EvidenceError(f"{token} is not a JSON number (NaN and infinities cannot be canonicalised)")


def parse(data: bytes | str) -> tuple[Any, bool]:
    """``(value, exact)``: the JSON value and whether :func:`dumps` serializes it exactly (see module doc)."""
    plain = True

    def parse_float(token: str) -> float | int:
        nonlocal plain
        number = float(token)
        if number.is_integer() and abs(number) < _EXACT_INTS:
            return int(number)  # RFC 8785 writes it as that integer (3.0 -> 3, -0.0 -> 0)
        if plain and (number.is_integer() or not _LOW <= abs(number) < _HIGH):
            plain = False
        return number

    raw = data.encode("utf-8") if isinstance(data, str) else data
    value = json.loads(raw, parse_float=parse_float, parse_constant=_no_constants)
    return value, plain and not _has_supplementary(raw)


def _has_supplementary(raw: bytes) -> bool:
    """Whether ``raw`` (UTF-8 JSON) holds a character beyond the BMP, literally or as an escaped surrogate."""
    if raw.translate(None, _BELOW_F0):  # what is left are lead bytes of 4-byte sequences
        return True
    return b"\\u" in raw and any(mark in raw for mark in _SURROGATE_ESCAPES)


class Canon:
    """The serializer for one bundle: the fast one when its values are known to be plain, else exact."""

    __slots__ = ("exact", "text")

    def __init__(self, plain: bool) -> None:
        self.exact = plain
        self.text: Callable[[Any], str] = dumps if plain else checked_text

    def bytes(self, value: Any) -> bytes:
        """Canonical bytes of ``value``."""
        return self.text(value).encode("utf-8")

    def sha256(self, value: Any) -> str:
        """SHA-256 hex of the canonical bytes of ``value``."""
        return hashlib.sha256(self.bytes(value)).hexdigest()

    def members(self, obj: Mapping[str, Any], skip: str | None = None) -> dict[str, str]:
        """Canonical text of each member of ``obj`` (except ``skip``), by key."""
        return {key: self.text(value) for key, value in obj.items() if key != skip}


def _exact_text(value: Any) -> str:
    return canonical_json(value).decode("utf-8")


def checked_text(value: Any) -> str:
    """Canonical text of any JSON value: the C serializer's output unless it shows a float or key order
    RFC 8785 writes differently (then the exact serializer's)."""
    try:
        text = dumps(value)
    except ValueError:  # NaN or infinity: let the exact serializer raise its own error
        return _exact_text(value)
    return _exact_text(value) if _RISKY.search(text) else text


def entry_hash_of(entry: Mapping[str, Any], text: Callable[[Any], str] = checked_text) -> str:
    """An exported entry's ``entry_hash`` recomputed field by field (``text`` writes its detail as canonical
    JSON). Raises ``KeyError``/``TypeError``/``ValueError`` for a malformed entry."""
    detail = entry["detail"]
    if not isinstance(detail, Mapping):
        raise TypeError("entry detail is not an object")
    return hashlib.sha256(entry_preimage(
        entry["seq"], entry["ts_ms"], entry["kind"], entry["extension_id"], entry["call_id"], entry["capability"],
        entry["method"], entry["params_hash"], entry["decision"], entry["layer"], entry["reason"],
        text(detail), entry["prev_hash"])).hexdigest()


def object_text(members: Mapping[str, str]) -> str:
    """The canonical object whose members' canonical texts are ``members`` (keys sorted by UTF-16 units)."""
    keys = sorted(members, key=lambda k: k.encode("utf-16-be"))
    return "{" + ",".join(dumps(k) + ":" + members[k] for k in keys) + "}"


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while a bundle's millions of small dicts and lists are built.

    Each full collection walks every live object; building a 100k-entry bundle triggers dozens of them
    (several seconds of CPU for nothing: JSON values hold no reference cycles). Reference counting still
    frees everything as usual; the collector resumes, as it was, on exit.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
