"""The hash chain: genesis value, entry pre-image, checkpoint payload.

``entry_hash`` is SHA-256 over the RFC 8785 canonical JSON of the entry *without* ``entry_hash``
(so ``prev_hash`` is covered). The first entry's ``prev_hash`` is :data:`GENESIS`, a fixed value,
so a ledger whose first entries were removed no longer starts at genesis and the loss shows.

The pre-image is assembled by string concatenation rather than by building a dict and calling a
generic canonicaliser: verification must run at ≥ 50,000 entries/s. The field set is fixed, all
keys are ASCII and already in sorted order, integers are small and ``detail`` is stored already
canonical, so the result is byte-identical to ``canonical_json(entry_dict)`` (a property test
checks this against the rfc8785 reference implementation).
"""

from __future__ import annotations

import hashlib
import json.encoder
from collections.abc import Callable
from typing import Any, Final

from pi_sandbox import schemas
from pi_sandbox.hashing import canonical_json, sha256_hex

#: ``prev_hash`` of entry 1: SHA-256 of the ASCII string ``pi.security.ledger.v1:genesis``.
GENESIS: Final = "e594b826daa5e9c9eec6c635928c1b9f2294e483b4063151f7ef572cc284faff"
GENESIS_PREIMAGE: Final = f"{schemas.LEDGER_SCHEMA}:genesis"

# The C string encoder json.dumps(ensure_ascii=False) itself uses: escapes '"', '\\' and control
# characters exactly as RFC 8785 requires and leaves everything else literal.
_encode_str: Callable[[str], str] = json.encoder.encode_basestring


#: The pre-image's keys before ``prev_hash``, in canonical (sorted) order.
_HEAD_FORMAT: Final = ('{"call_id":%s,"capability":%s,"decision":%s,"detail":%s,"extension_id":%s,"kind":%s,'
                       '"layer":%s,"method":%s,"params_hash":%s,"prev_hash":')


def entry_preimage(
    seq: int,
    ts_ms: int,
    kind: str,
    extension_id: str | None,
    call_id: str | None,
    capability: str | None,
    method: str | None,
    params_hash: str | None,
    decision: str,
    layer: int | None,
    reason: str,
    detail_json: str,
    prev_hash: str,
) -> bytes:
    """Canonical JSON bytes of one entry without ``entry_hash`` (``detail_json`` is already canonical)."""
    head, middle = preimage_parts(ts_ms, kind, extension_id, call_id, capability, method, params_hash, decision,
                                  layer, reason, detail_json)
    return _joined(head, prev_hash, middle, seq, ts_ms).encode("utf-8")


def preimage_parts(
    ts_ms: int,
    kind: str,
    extension_id: str | None,
    call_id: str | None,
    capability: str | None,
    method: str | None,
    params_hash: str | None,
    decision: str,
    layer: int | None,
    reason: str,
    detail_json: str,
) -> tuple[str, str]:
    """The :func:`entry_preimage` text before and after its ``prev_hash`` and ``seq`` values.

    An appender builds these in its own thread; the commit, which alone knows seq and prev_hash,
    then only joins them (:func:`hash_from_parts`)."""
    enc = _encode_str
    # One formatting operation instead of ~20 concatenations (this runs on every append).
    head = _HEAD_FORMAT % (
        "null" if call_id is None else enc(call_id), "null" if capability is None else enc(capability),
        enc(decision), detail_json, "null" if extension_id is None else enc(extension_id), enc(kind),
        "null" if layer is None else int(layer), "null" if method is None else enc(method),
        "null" if params_hash is None else enc(params_hash))
    return head, ',"reason":' + enc(reason) + ',"seq":'


def hash_from_parts(head: str, prev_hash: str, middle: str, seq: int, ts_ms: int) -> str:
    """``entry_hash`` from :func:`preimage_parts` plus the chain position (same bytes as :func:`entry_preimage`)."""
    return hashlib.sha256(_joined(head, prev_hash, middle, seq, ts_ms).encode("utf-8")).hexdigest()


def _joined(head: str, prev_hash: str, middle: str, seq: int, ts_ms: int) -> str:
    # The keys after "prev_hash" in canonical (sorted) order: "reason", "seq", "ts_ms".
    return f'{head}{_encode_str(prev_hash)}{middle}{int(seq)},"ts_ms":{int(ts_ms)}}}'


def entry_hash(*fields: Any) -> str:
    """``entry_hash`` of an entry given the :func:`entry_preimage` arguments in order."""
    return hashlib.sha256(entry_preimage(*fields)).hexdigest()


def checkpoint_payload(seq: int, head_hash: str, ts_ms: int, merkle_root: str | None = None) -> bytes:
    """The bytes a checkpoint signature covers: canonical JSON of schema, seq, head hash, time and (for
    checkpoints written since Merkle roots exist, see :mod:`.merkle`) the root over entries 1..seq."""
    payload: dict[str, Any] = {"schema": schemas.LEDGER_CHECKPOINT, "seq": seq, "head_hash": head_hash, "ts_ms": ts_ms}
    if merkle_root is not None:
        payload["merkle_root"] = merkle_root
    return canonical_json(payload)


def genesis_is_consistent() -> bool:
    """True when :data:`GENESIS` is the documented derivation (guards against an edited constant)."""
    return sha256_hex(GENESIS_PREIMAGE) == GENESIS
