"""The forensic record of one hostcall: which path, host or command it tried, safe to keep.

Built before the call's ledger entry is written and stored beside it (``audit/forensics.py`` commits
the entry to it). Parameters are copied *after* the secret broker replaced every withheld value with
its placeholder; long strings, long lists and deep nesting are cut to their size and SHA-256, and a
copy that is still large is replaced whole by its size and hash, so a record stays small whatever an
extension sends.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Final
from urllib.parse import urlsplit

import orjson

from pi_sandbox.dispatch.call import CallInfo
from pi_sandbox.dispatch.forensic_scrub import scrub
from pi_sandbox.hashing import args_shape_hash, canonical_json, is_unicode_text, sha256_hex
from pi_sandbox.mediation.exec_mediation import command_hash
from pi_sandbox.mediation.secret_broker import name_hash

#: Strings longer than this (in UTF-8 bytes) are kept as size + hash.
MAX_STRING_BYTES: Final = 512
#: Lists keep their first items; the rest is counted and hashed.
MAX_LIST_ITEMS: Final = 32
MAX_DEPTH: Final = 8
#: A redacted copy larger than this (canonical JSON bytes) is kept as size + hash only.
MAX_COPY_BYTES: Final = 8 * 1024
#: A copy whose plain JSON is at most ``MAX_COPY_BYTES`` / this is below the limit in canonical form too (RFC
#: 8785 spells a number at most one character longer than ``orjson``, e.g. ``1e+21`` for ``1e21``; strings and
#: keys are the same length).
SMALL_COPY_FACTOR: Final = 4
#: Evidence keys a stage may report that belong in the forensic record, not the chained detail
#: (so a bundle can withhold them and still verify).
FORENSIC_EVIDENCE_KEYS: Final = ("command_hash", "name_hash")
#: The operator's advice for a refusal whose stage gave none (every refused call's forensic record names
#: what to do next; the runbook's ``redact_remediation`` field).
DEFAULT_REMEDIATION: Final[Mapping[str, str]] = {
    "capability": "the request was malformed or declared a capability its method does not need; fix the "
                  "extension's call or report it to its author",
    "trust": "the extension is stopped or quarantined; see `pi-sandbox security kill-switch status` and "
             "`pi-sandbox ext trust history --extension ID` before lifting it",
    "policy": "see `pi-sandbox policy explain --extension ID` for the layer that decided and how to change it",
    "quota": "tighten or raise this extension's quota (extensionPolicy.perExtension.<id>.quota); see "
             "`pi-sandbox security quota status`",
    "risk": "the runtime risk stage refused a call pattern; review `pi-sandbox security alerts --extension ID` "
            "and the extension's recent calls (`pi-sandbox security ledger show --extension ID`)",
    "mediation": "the call's target or content was refused by mediation; review the alert and the forensic "
                 "parameters of this entry, and inspect the extension if the attempt was unexpected",
    "connector": "the call was refused while being carried out (a limit or a confinement check); see the "
                 "alert for this call id",
}
#: A refusal by a stage that failed internally (a bug: fail closed).
STAGE_FAILURE_REMEDIATION: Final = ("an internal error refused this call (fail closed); report it with "
                                    "`pi-sandbox doctor --json` and the ledger entry")


def remediation_for(stage: str, reason: str, given: str = "") -> str:
    """The advice recorded with a refusal: the stage's own, else its stage's default."""
    if given:
        return given
    if reason == "stage_failure":
        return STAGE_FAILURE_REMEDIATION
    return DEFAULT_REMEDIATION.get(stage, DEFAULT_REMEDIATION["mediation"])


def _digest(value: Any) -> dict[str, Any]:
    data = canonical_json(value) if not isinstance(value, str) else value.encode("utf-8", "surrogatepass")
    return {"truncated": True, "size": len(data), "sha256": sha256_hex(data)}


#: Most members (dict entries, list items kept) one copy visits. Each costs a JSON byte or more, so a copy with more
#: could never fit ``MAX_COPY_BYTES`` and is replaced whole at once — before, a call whose params held a dict of
#: 100,000 keys (an ``exec`` env, ``http`` headers; refused or not: every call gets a record) had every key checked
#: for a credential name first: 17 s with the interpreter lock held, per call.
MAX_COPY_MEMBERS: Final = MAX_COPY_BYTES


class _TooMany(Exception):
    """The copy would visit more than ``MAX_COPY_MEMBERS`` members."""


def _count(budget: list[int], members: int) -> None:
    budget[0] -= members
    if budget[0] < 0:
        raise _TooMany


def _cut(value: Any, depth: int = 0, budget: list[int] | None = None) -> Any:
    """``value`` with long strings/lists and deep nesting replaced by size + hash (``_TooMany`` past ``budget``)."""
    if budget is None:
        budget = [MAX_COPY_MEMBERS]
    if type(value) is dict and depth < MAX_DEPTH:
        _count(budget, len(value))
        # the common parameters: short ASCII names and texts are kept as they are without a call each
        return {(k if type(k) is str and len(k) <= MAX_STRING_BYTES and k.isascii() else _key(k)):
                (v if type(v) is str and len(v) <= MAX_STRING_BYTES and v.isascii() else _cut(v, depth + 1, budget))
                for k, v in value.items()}
    if isinstance(value, str):
        if not is_unicode_text(value) or len(value.encode("utf-8", "surrogatepass")) > MAX_STRING_BYTES:
            return _digest(value)
        return value
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return value if abs(value) < 2**53 else f"int:{value}"
    if isinstance(value, float):
        return value if value == value and value not in (float("inf"), float("-inf")) else f"float:{value}"
    if depth >= MAX_DEPTH:
        return _digest(_cut_for_hash(value))
    if isinstance(value, Mapping):
        _count(budget, len(value))
        return {_key(k): _cut(v, depth + 1, budget) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        _count(budget, min(len(value), MAX_LIST_ITEMS))
        kept = [_cut(v, depth + 1, budget) for v in value[:MAX_LIST_ITEMS]]
        if len(value) > MAX_LIST_ITEMS:
            kept.append({"omitted_items": len(value) - MAX_LIST_ITEMS,
                         "sha256": sha256_hex(canonical_json(_cut_for_hash(list(value[MAX_LIST_ITEMS:]))))})
        return kept
    return f"{type(value).__name__}"


def _whole(params: Mapping[str, Any]) -> dict[str, Any]:
    """Size and hash of params too large to keep any of (orjson: fast on megabytes; a value it cannot encode
    is hashed by its repr)."""
    try:
        data = orjson.dumps(params, option=orjson.OPT_SORT_KEYS)
    except (TypeError, orjson.JSONEncodeError):
        data = repr(params).encode("utf-8", "surrogatepass")
    return {"truncated": True, "size": len(data), "sha256": sha256_hex(data)}


def _key(key: Any) -> str:
    if isinstance(key, str) and is_unicode_text(key) and len(key) <= MAX_STRING_BYTES:
        return key
    return f"key:{sha256_hex(str(key).encode('utf-8', 'surrogatepass'))}"


def _cut_for_hash(value: Any) -> Any:
    # Only JSON values reach a hash: anything canonical JSON cannot encode becomes text.
    try:
        canonical_json(value)
        return value
    except Exception:  # rfc8785 raises several types for values outside its domain
        return repr(type(value))


def redacted_params(params: Mapping[str, Any], redact: Callable[[Any], Any]) -> Any:
    """The call's parameters with secret values replaced (``redact``, then ``forensic_scrub.scrub`` for credentials
    the broker does not withhold) and large parts cut to size + hash."""
    # Cut first: the broker works on Unicode text, and a lone surrogate or a huge string becomes a hash
    # (the cut builds a new dict, whatever mapping ``params`` is).
    # Then credentials the broker does not know (the extension's own tokens, passwords, keys): never kept raw.
    try:
        cut = _cut(params)
    except _TooMany:  # far over the size kept: replaced whole, without reading every member for credentials
        return _whole(params)
    copy = scrub(redact(cut))
    try:
        # Most copies are far below the limit: plain JSON of the same value is never shorter than
        # ``SMALL_COPY_FACTOR`` times its canonical form (which only spells some numbers longer), so a copy that
        # small is kept without being canonicalised here (the ledger canonicalises the record once).
        if len(orjson.dumps(copy)) * SMALL_COPY_FACTOR <= MAX_COPY_BYTES:
            return copy
    except (TypeError, orjson.JSONEncodeError):
        pass
    data = canonical_json(copy)
    return copy if len(data) <= MAX_COPY_BYTES else {"truncated": True, "size": len(data), "sha256": sha256_hex(data)}


def _texts(*values: Any) -> bool:
    return all(isinstance(v, str) and is_unicode_text(v) for v in values)


def target(call: CallInfo) -> str | None:
    """What the call acts on, for the context hash: a path, a host, a command, a variable or tool name."""
    params = call.params
    for key in ("path", "cmd", "name"):
        value = params.get(key)
        if isinstance(value, str):
            return value
    url = params.get("url")
    if isinstance(url, str):
        try:
            return urlsplit(url).hostname or url
        except ValueError:
            return url
    return None


#: Remembered context and shape hashes (the same ones come back call after call); emptied when full.
_HASH_CACHE: Final = 4096
#: Value types whose shape is their type alone (``hashing._shape``): a flat object of them has a shape
#: that its keys and types say.
_SCALARS: Final = frozenset({str, int, float, bool, type(None)})
#: Nested parameters (an exec argv, a tool's input, a session entry's data) have their shape remembered
#: under a key made of their keys and leaf types when they are at most this deep and wide.
_KEY_DEPTH: Final = 4
_KEY_WIDTH: Final = 64


class _Unkeyed(Exception):
    """A value :func:`_shape_key` does not stand in for (its shape is computed every time)."""


def _shape_key(value: Any, depth: int = 0) -> Any:
    """A hashable stand-in for ``hashing._shape(value)`` of a ``dict`` or ``list``/``tuple``: values with equal
    keys have equal shapes.

    Exact JSON types only (a ``dict`` subclass or any other type raises :class:`_Unkeyed`), so a key never
    stands for two shapes: a dict's key is ``(dict, its keys, one item per value)`` (the keys fix how many
    items follow), a list's ``(list, one item per value)``; an item is the leaf's type or the nested container's
    own key (a tuple, never a type). The leaves' types are read in C (``map(type, ...)``); nested containers
    are followed in this loop, not by a call each (a Python call costs more than the rest of a level)."""
    if depth >= _KEY_DEPTH or len(value) > _KEY_WIDTH:
        raise _Unkeyed
    if type(value) is dict:
        items = value.values()
        types = tuple(map(type, items))
        if _SCALARS.issuperset(types):
            return (dict, tuple(value), types)
        parts: list[Any] = [dict, tuple(value)]
    else:
        items = value
        types = tuple(map(type, items))
        if _SCALARS.issuperset(types):
            return (list, types)
        parts = [list]
    for kind, item in zip(types, items, strict=True):
        if kind in _SCALARS:
            parts.append(kind)
        elif kind is dict or kind is list or kind is tuple:
            parts.append(_shape_key(item, depth + 1))
        else:
            raise _Unkeyed
    return tuple(parts)


class ContextHashes:
    """Context and shape hashes remembered for one redactor (a pipeline's): the context hash is of the
    *redacted* target, so what is remembered for one redactor is never served for another."""

    def __init__(self) -> None:
        self._owner: object = None
        self._hashes: dict[tuple[str, str, str, str | None], str] = {}
        self._shapes: dict[tuple[str, Any], str] = {}

    def get(self, call: CallInfo, redact: Callable[[Any], Any]) -> str:
        """``context_hash(call, redact)``, remembered."""
        owner = getattr(redact, "__self__", redact)  # a bound method is a new object at every access
        if owner is not self._owner:
            self._owner, self._hashes = owner, {}
        aim = target(call)
        key = (call.extension_id, call.capability, call.method, aim)
        found = self._hashes.get(key)
        if found is None:
            if len(self._hashes) >= _HASH_CACHE:
                self._hashes.clear()
            found = self._hashes[key] = context_hash(call, redact, aim)
        return found

    def shape(self, method: str, params: Mapping[str, Any]) -> str:
        """``args_shape_hash(method, params)``, remembered under the parameters' keys and leaf types."""
        if type(params) is dict:
            types = tuple(map(type, params.values()))
            if _SCALARS.issuperset(types):  # flat (log, ui, fs...): the keys and types are the shape
                key: Any = (tuple(params), types)
            else:
                try:
                    key = _shape_key(params)
                except _Unkeyed:
                    return args_shape_hash(method, params)
        else:
            return args_shape_hash(method, params)
        found = self._shapes.get((method, key))
        if found is None:
            if len(self._shapes) >= _HASH_CACHE:
                self._shapes.clear()
            found = self._shapes[(method, key)] = args_shape_hash(method, params)
        return found


def context_hash(call: CallInfo, redact: Callable[[Any], Any], aim: str | None = None) -> str:
    """SHA-256 of who did what to which target (redacted): what an investigator groups attempts by."""
    return sha256_hex(canonical_json({
        "extension_id": call.extension_id, "capability": str(call.capability), "method": call.method,
        "target": redact(_cut(aim if aim is not None else target(call)))}))


_shapes = ContextHashes()


def shape_hash(method: str, params: Mapping[str, Any]) -> str:
    """``args_shape_hash``, remembered for the parameter shapes that come back (log, ui, fs, exec...)."""
    return _shapes.shape(method, params)


def forensic_fields(call: CallInfo, redact: Callable[[Any], Any], evidence: Mapping[str, Any],
                    remediation: str = "", contexts: ContextHashes | None = None) -> dict[str, Any]:
    """The forensic record of ``call`` (``evidence``: what the stages reported, ``remediation``: the advice;
    ``contexts``: the caller's remembered context and shape hashes)."""
    params = call.params
    method = call.method
    if contexts is None:
        fields: dict[str, Any] = {"params": redacted_params(params, redact),
                                  "args_shape_hash": shape_hash(method, params),
                                  "context_hash": context_hash(call, redact)}
    else:
        fields = {"params": redacted_params(params, redact), "args_shape_hash": contexts.shape(method, params),
                  "context_hash": contexts.get(call, redact)}
    if evidence:
        for key in FORENSIC_EVIDENCE_KEYS:
            if key in evidence:
                fields[key] = evidence[key]
    # Calls refused before mediation still get the hashes an investigator searches by.
    if method == "exec":
        cmd, args = params.get("cmd"), params.get("args") or []
        if "command_hash" not in fields and isinstance(cmd, str) and isinstance(args, list) and _texts(cmd, *args):
            fields["command_hash"] = command_hash(cmd, args)
    elif method == "env":
        name = params.get("name")
        if "name_hash" not in fields and isinstance(name, str) and _texts(name):
            fields["name_hash"] = name_hash(name)
    if remediation:
        fields["remediation"] = redact(_cut(remediation))
    return fields
