"""The fast canonical serializer of evidence bundles is byte-identical to the RFC 8785 reference."""

from __future__ import annotations

import json
from typing import Any

import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from pi_sandbox.errors import EvidenceError
from pi_sandbox.evidence.canon import checked_text, dumps, object_text, parse

# Floats RFC 8785 can encode, with the awkward ones drawn often: integral, tiny, huge, negative zero.
_floats = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([0.0, -0.0, 3.0, 1e-5, 1e-7, 1.5e-7, 1e16, 1.5e17, 1e21, 123.456, 0.0001, 5e-324, 2.0**53,
                     2.0**53 + 2, 9.5e15]),
)
_ints = st.integers(min_value=-(2**53) + 1, max_value=2**53 - 1)
_text = st.text(st.characters(codec="utf-8"), max_size=8) | st.sampled_from(["\U0001f600", "\ue000", "a", "3.0,"])
_json = st.recursive(
    st.none() | st.booleans() | _ints | _floats | _text,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(_text, inner, max_size=5),
    max_leaves=30,
)


@settings(max_examples=400, deadline=None)
@given(_json)
def test_checked_text_equals_the_reference(value: Any) -> None:
    assert checked_text(value).encode("utf-8") == rfc8785.dumps(value)


@settings(max_examples=400, deadline=None)
@given(_json)
def test_values_parse_calls_plain_serialize_exactly(value: Any) -> None:
    reference = rfc8785.dumps(value)
    for data in (reference, json.dumps(value).encode("utf-8")):  # canonical and Python-formatted input
        parsed, plain = parse(data)
        if plain:
            assert dumps(parsed).encode("utf-8") == reference


def test_plainness_is_decided_by_the_troublemakers() -> None:
    assert parse(b'{"a":1.5,"b":[3,"x"]}')[1]
    assert parse(b'{"a":3.0,"b":-0.0}') == ({"a": 3, "b": 0}, True)  # read as the integers RFC 8785 writes
    for data in (b"[1e-05]", b"[0.00001]", b"[1e16]", b'{"\xf0\x9f\x98\x80":1}', b'{"\\ud83d\\ude00":1}'):
        assert not parse(data)[1], data
    assert object_text({"b": "1", "\U0001f600": "2", "\ue000": "3"}) == '{"b":1,"\U0001f600":2,"\ue000":3}'


def test_nan_and_infinity_are_refused() -> None:
    for data in (b"[NaN]", b'{"a":Infinity}'):
        try:
            parse(data)
        except EvidenceError as exc:
            assert "NaN" in str(exc) or "Infinity" in str(exc)
        else:
            raise AssertionError(f"{data!r} was accepted")
