"""Canonical JSON and the fingerprints records carry instead of raw values (INV-012)."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import rfc8785
from hypothesis import given
from hypothesis import strategies as st

from pi_sandbox.hashing import args_shape_hash, canonical_json, params_hash, sha256_hex

json_leaves = st.none() | st.booleans() | st.integers(-(2**53) + 1, 2**53 - 1) | st.text(max_size=20) | st.floats(
    allow_nan=False, allow_infinity=False)
json_values = st.recursive(
    json_leaves,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20,
)


@given(json_values)
def test_canonical_json_equals_rfc8785_for_any_value(value: Any) -> None:
    """The fast path must never diverge from the RFC 8785 reference encoder."""
    assert canonical_json(value) == rfc8785.dumps(value)


@given(st.dictionaries(st.text(max_size=8), st.integers(-(2**53) + 1, 2**53 - 1), max_size=6))
def test_canonical_json_ignores_key_order(mapping: dict[str, int]) -> None:
    reordered = dict(reversed(list(mapping.items())))
    assert canonical_json(mapping) == canonical_json(reordered)


def test_sha256_hex_matches_hashlib() -> None:
    assert sha256_hex("abc") == hashlib.sha256(b"abc").hexdigest()
    assert sha256_hex(b"abc") == sha256_hex("abc")
    assert sha256_hex("é") == hashlib.sha256("é".encode()).hexdigest()


def test_params_hash_is_deterministic_and_hides_values() -> None:
    secret = "sk-live-0123456789abcdef"
    a = params_hash("http", {"headers": {"Authorization": secret}, "url": "https://x"})
    b = params_hash("http", {"url": "https://x", "headers": {"Authorization": secret}})
    assert a == b
    assert len(a) == 64 and all(c in "0123456789abcdef" for c in a)
    assert secret not in a
    assert a != params_hash("http", {"url": "https://x", "headers": {"Authorization": secret + "x"}})
    assert a != params_hash("fs", {"url": "https://x", "headers": {"Authorization": secret}})


def test_params_hash_survives_hostile_params() -> None:
    deep: dict[str, Any] = {}
    node = deep
    for _ in range(500):
        node["k"] = {}
        node = node["k"]
    assert len(params_hash("fs", deep)) == 64
    assert len(params_hash("fs", {"x": float("nan")})) == 64
    assert len(params_hash("fs", None)) == 64


def test_params_hash_accepts_numbers_outside_the_rfc8785_domain() -> None:
    """Regression: 2**64 or an infinity in params used to raise out of the dispatch pipeline."""
    big = params_hash("fs", {"n": 2**64})
    assert big != params_hash("fs", {"n": 2**64 + 1})
    assert len(params_hash("fs", {"n": -(2**70), "f": float("inf"), "g": float("-inf")})) == 64
    assert params_hash("fs", {"f": float("inf")}) != params_hash("fs", {"f": float("-inf")})


def test_args_shape_hash_depends_on_shape_not_values() -> None:
    assert args_shape_hash("fs", {"op": "read", "path": "a"}) == args_shape_hash("fs", {"op": "write", "path": "b"})
    assert args_shape_hash("fs", {"op": "read", "n": 1}) != args_shape_hash("fs", {"op": "read", "n": "1"})
    assert args_shape_hash("fs", {"a": True}) != args_shape_hash("fs", {"a": 1})


def test_canonical_json_is_compact_sorted_utf8() -> None:
    out = canonical_json({"b": 1, "a": ["é", None, True]})
    assert out == '{"a":["é",null,true],"b":1}'.encode()
    assert json.loads(out) == {"a": ["é", None, True], "b": 1}


# The params_hash fast path (plain JSON, no sanitising copy) must give byte-identical hashes to the
# general path for every input, including the ones the fast path hands over to it.
_json_leaf = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**60), max_value=2**60),
    st.floats(allow_nan=True, allow_infinity=True), st.text(alphabet=st.characters()),
)
_json_value = st.recursive(
    _json_leaf,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=6), inner, max_size=4)),
    max_leaves=20,
)


@given(st.text(max_size=8), st.dictionaries(st.text(max_size=6), _json_value, max_size=5))
def test_params_hash_fast_path_matches_general_path(method: str, params: dict[str, Any]) -> None:
    from pi_sandbox.hashing import _depth_limited, _text, canonical_json

    general = sha256_hex(canonical_json({"method": _text(method), "params": _depth_limited(params)}))
    assert params_hash(method, params) == general


# Floats around the edges of the orjson fast path (tiny, huge, integer-valued, negative zero) and the
# values hostcall details carry (risk scores, thresholds): every one must encode exactly as rfc8785 does.
_edge_floats = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False),
    st.floats(min_value=1e-6, max_value=1e-4), st.floats(min_value=1e14, max_value=1e17),
    st.integers(-(2**54), 2**54).map(float), st.sampled_from([0.0, -0.0, 1e-5, 1e15, 2.0**53, 0.5, 5.0]),
)


@given(st.lists(_edge_floats, max_size=6), st.dictionaries(st.text(max_size=4), _edge_floats, max_size=4))
def test_canonical_json_floats_match_rfc8785(floats: list[float], mapping: dict[str, float]) -> None:
    value = {"floats": floats, "nested": [mapping, {"x": floats[:1]}], "plain": 1}
    assert canonical_json(value) == rfc8785.dumps(value)


def test_canonical_json_writes_integer_valued_floats_as_integers() -> None:
    assert canonical_json({"p": 1.0, "z": -0.0, "s": 0.140625, "t": [5.96875, 6.0]}) == (
        b'{"p":1,"s":0.140625,"t":[5.96875,6],"z":0}')
