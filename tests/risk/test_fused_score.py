"""The controller scores a call in one pass (``score.assess``); it must give the very float ``score`` gives for
the same features, and the top features ``top_features`` ranks from them, whatever the window holds (the
shipped calibration was computed with ``score``); and the short cuts for the top features must rank them as
sorting does."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from pi_sandbox.capabilities import Capability
from pi_sandbox.risk.features import Observation
from pi_sandbox.risk.score import TOP_FEATURES, WEIGHTS, Feature, assess
from pi_sandbox.risk.window import CallState, ExtensionWindow, WindowCall
from tests.risk.score_reference import score, scored, top_features

_OBSERVATIONS = st.builds(
    Observation, st.sampled_from(list(Capability)), st.sampled_from(["fs:read", "exec:curl", "http:GET", "log"]),
    st.one_of(st.none(), st.sampled_from(["/w", "/w/src", "example.com"])), st.booleans(), st.booleans(),
    st.booleans(), st.booleans(), st.booleans(), st.booleans(), st.booleans(),
    st.sampled_from([(), ("/w/x.sh",)]), st.sampled_from([(), ("/w/x.sh",), ("/w/y.sh",)]), st.booleans())


@given(st.lists(st.tuples(_OBSERVATIONS, st.booleans(), st.sampled_from(list(CallState)), st.floats(0, 0.01)),
                max_size=80),
       _OBSERVATIONS, st.booleans(), st.booleans())
@settings(max_examples=200, deadline=None)
def test_the_one_pass_score_is_the_score_of_its_features(
        history: list[tuple[Observation, bool, CallState, float]], obs: Observation, novel: bool,
        new_host: bool) -> None:
    window = ExtensionWindow(64, 1000)
    now = 0.0
    for i, (past, past_novel, state, gap) in enumerate(history):
        now += gap
        window.push(WindowCall(f"c{i}", now, past, past_novel, state))
    values, value = scored(window, obs, novel, new_host, now + 0.001)
    assert value == score(values)
    # what the controller runs: the same score, and the evidence's top features as ranking the features gives
    assert assess(window, obs, novel, new_host, now + 0.001) == (value, top_features(values) if values else {})


@given(st.dictionaries(st.sampled_from(list(Feature)), st.floats(0, 1), min_size=1, max_size=len(Feature)))
@settings(max_examples=300, deadline=None)
def test_top_features_rank_as_sorting_does(values: dict[Feature, float]) -> None:
    ranked = sorted(((WEIGHTS[f] * v, f.value) for f, v in values.items()), reverse=True)[:TOP_FEATURES]
    assert list(top_features(values).items()) == [(name, round(c, 3)) for c, name in ranked]
