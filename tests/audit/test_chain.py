"""The fast entry pre-image is byte-identical to RFC 8785 canonical JSON of the entry."""

from __future__ import annotations

import json
from typing import Any

import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from pi_sandbox.audit import forensics
from pi_sandbox.audit.chain import (
    GENESIS,
    GENESIS_PREIMAGE,
    entry_hash,
    entry_preimage,
    genesis_is_consistent,
    hash_from_parts,
    preimage_parts,
)
from pi_sandbox.hashing import canonical_json

text = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=40)
opt_text = st.none() | text
json_leaf = st.none() | st.booleans() | st.integers(-(2**53) + 1, 2**53 - 1) | text
detail = st.dictionaries(text, st.recursive(json_leaf, lambda c: st.lists(c, max_size=3)
                                            | st.dictionaries(text, c, max_size=3), max_leaves=8), max_size=4)


@settings(max_examples=300, deadline=None)
@given(
    seq=st.integers(1, 2**40), ts_ms=st.integers(0, 2**45), kind=text, extension_id=opt_text,
    call_id=opt_text, capability=opt_text, method=opt_text, params_hash=opt_text, decision=text,
    layer=st.none() | st.integers(1, 5), reason=text, detail_value=detail, prev_hash=text,
)
def test_fast_preimage_equals_reference_canonical_json(
    seq: int, ts_ms: int, kind: str, extension_id: str | None, call_id: str | None, capability: str | None,
    method: str | None, params_hash: str | None, decision: str, layer: int | None, reason: str,
    detail_value: dict[str, Any], prev_hash: str,
) -> None:
    body = {
        "seq": seq, "ts_ms": ts_ms, "kind": kind, "extension_id": extension_id, "call_id": call_id,
        "capability": capability, "method": method, "params_hash": params_hash, "decision": decision,
        "layer": layer, "reason": reason, "detail": detail_value, "prev_hash": prev_hash,
    }
    detail_json = canonical_json(detail_value).decode()
    fast = entry_preimage(seq, ts_ms, kind, extension_id, call_id, capability, method, params_hash, decision,
                          layer, reason, detail_json, prev_hash)
    assert fast == rfc8785.dumps(body)
    assert json.loads(fast) == body


def test_control_characters_and_quotes_escape_like_rfc8785() -> None:
    tricky = 'a"b\\c\n\t\x00\x1f\x7f\u2028é😀'
    fast = entry_preimage(1, 2, tricky, tricky, None, None, None, None, tricky, None, tricky, "{}", GENESIS)
    body = {"seq": 1, "ts_ms": 2, "kind": tricky, "extension_id": tricky, "call_id": None, "capability": None,
            "method": None, "params_hash": None, "decision": tricky, "layer": None, "reason": tricky,
            "detail": {}, "prev_hash": GENESIS}
    assert fast == rfc8785.dumps(body)


def test_genesis_constant_matches_its_documented_preimage() -> None:
    assert GENESIS_PREIMAGE == "pi.security.ledger.v1:genesis"
    assert genesis_is_consistent()


@settings(max_examples=200, deadline=None)
@given(
    seq=st.integers(1, 2**40), ts_ms=st.integers(0, 2**45), kind=text, extension_id=opt_text,
    call_id=opt_text, capability=opt_text, method=opt_text, params_hash=opt_text, decision=text,
    layer=st.none() | st.integers(1, 5), reason=text, detail_value=detail, prev_hash=text,
)
def test_hash_from_parts_equals_entry_hash(
    seq: int, ts_ms: int, kind: str, extension_id: str | None, call_id: str | None, capability: str | None,
    method: str | None, params_hash: str | None, decision: str, layer: int | None, reason: str,
    detail_value: dict[str, Any], prev_hash: str,
) -> None:
    """The appender builds the pre-image around seq/prev_hash ahead of the commit: same bytes, same hash."""
    detail_json = canonical_json(detail_value).decode()
    fields = (ts_ms, kind, extension_id, call_id, capability, method, params_hash, decision, layer, reason,
              detail_json)
    before, after = preimage_parts(*fields)
    assert hash_from_parts(before, prev_hash, after, seq, ts_ms) == entry_hash(seq, *fields, prev_hash)


forensic_fields = st.dictionaries(
    st.text(max_size=12), st.recursive(json_leaf | st.floats(-1e15, 1e15),  # beyond 2**53 check() refuses
                                       lambda c: st.lists(c, max_size=3) | st.dictionaries(text, c, max_size=3),
                                       max_leaves=8), max_size=5)


@settings(max_examples=200, deadline=None)
@given(fields=forensic_fields)
def test_sealed_record_text_is_the_canonical_json_of_the_record(fields: dict[str, Any]) -> None:
    """The forensic record is assembled from each value's canonical JSON: it must be exactly RFC 8785 of
    the record it stands for, and its digest must check (old and new records verify the same way)."""
    digest, text_json = forensics.seal_canonical(fields)
    record = json.loads(text_json)
    assert set(record["disclosed"]) == set(fields)
    # The record with the original values (floats stay floats) through the reference encoder:
    reference = {"commitments": record["commitments"],
                 "disclosed": {name: {"salt": item["salt"], "value": fields[name]}
                               for name, item in record["disclosed"].items()}}
    assert text_json.encode() == rfc8785.dumps(reference)
    assert forensics.check(record, digest) is None
    assert all(len(item["salt"]) == 32 for item in record["disclosed"].values())
