"""The forensic record's remembered hashes equal the ones computed afresh: a shape hash is served from memory
only under a key that stands for exactly one shape (nested parameters included), and a context hash only for
the redactor it was made with."""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from pi_sandbox.capabilities import Capability
from pi_sandbox.dispatch.call import CallInfo
from pi_sandbox.dispatch.forensic import ContextHashes, _shape_key, _Unkeyed, context_hash, forensic_fields
from pi_sandbox.hashing import args_shape_hash

_LEAVES = st.one_of(st.text(max_size=4), st.integers(-3, 3), st.floats(allow_nan=False, allow_infinity=False),
                    st.booleans(), st.none())
_JSON = st.recursive(_LEAVES, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.sampled_from(["a", "b", "cmd", "args", "é"]), inner, max_size=4)),
    max_leaves=12)
_PARAMS = st.dictionaries(st.sampled_from(["path", "args", "input", "data", "op", "x"]), _JSON, max_size=4)


@given(_PARAMS, _PARAMS)
@settings(max_examples=400, deadline=None)
def test_equal_shape_keys_mean_equal_shape_hashes(a: dict[str, Any], b: dict[str, Any]) -> None:
    try:
        same = _shape_key(a) == _shape_key(b)
    except _Unkeyed:
        return
    if same:
        assert args_shape_hash("m", a) == args_shape_hash("m", b)


@given(st.lists(_PARAMS, min_size=1, max_size=6))
@settings(max_examples=200, deadline=None)
def test_remembered_shape_hashes_are_the_computed_ones(calls: list[dict[str, Any]]) -> None:
    hashes = ContextHashes()
    for params in calls * 2:  # the second time from memory
        assert hashes.shape("exec", params) == args_shape_hash("exec", params)


def test_mapping_subclasses_and_deep_values_are_not_keyed() -> None:
    hashes = ContextHashes()
    ordered = OrderedDict(a=1)
    deep: dict[str, Any] = {"a": [[[[["x"]]]]]}
    for params in ({"input": ordered}, deep, {"args": list(range(100))}):
        assert hashes.shape("tool", params) == args_shape_hash("tool", params)
    ordered["b"] = "two"  # the same object, another shape: nothing remembered it
    assert hashes.shape("tool", {"input": ordered}) == args_shape_hash("tool", {"input": ordered})


def _call(params: dict[str, Any]) -> CallInfo:
    return CallInfo("ext.f", "c1", "fs", Capability.READ, params, "h")


def test_context_hashes_follow_the_redactor() -> None:
    hashes = ContextHashes()
    call = _call({"op": "read", "path": "/w/SECRETVALUE/f"})

    def plain(value: Any) -> Any:
        return value

    def hiding(value: Any) -> Any:
        if isinstance(value, dict):
            return {hiding(k): hiding(v) for k, v in value.items()}
        return value.replace("SECRETVALUE", "[redacted]") if isinstance(value, str) else value

    assert hashes.get(call, plain) == context_hash(call, plain)
    assert hashes.get(call, hiding) == context_hash(call, hiding) != context_hash(call, plain)
    fields = forensic_fields(call, hiding, {}, contexts=hashes)
    assert fields["context_hash"] == context_hash(call, hiding)
    assert "SECRETVALUE" not in repr(fields)
