"""The risk score as the shipped calibration computed it: the feature values of a call, then their weighted
sum and the largest contributions. Kept here, out of the package, as the reference ``score.assess`` (the
one pass the controller runs) must reproduce to the last bit (``test_fused_score.py``)."""

from __future__ import annotations

from pi_sandbox.risk.features import EFFECTFUL, Observation
from pi_sandbox.risk.score import (
    _BURST,
    _CAPABILITY_MIX,
    _DENIAL_RATE,
    _DENIAL_VARIETY,
    _DENIALS_THEN_NEW_CAPABILITY,
    _EFFECTFUL_COUNT,
    _NAMES,
    _NEW_HOST,
    _NOVELTY,
    _SECRET_CONTACT,
    _SECRET_THEN_EGRESS,
    _W_BURST,
    _W_CAPABILITY_MIX,
    _W_DENIAL_RATE,
    _W_DENIAL_VARIETY,
    _W_DENIALS_THEN_NEW_CAPABILITY,
    _W_NEW_HOST,
    _W_NOVELTY,
    _W_SECRET_CONTACT,
    _W_SECRET_THEN_EGRESS,
    _W_WRITE_THEN_EXEC,
    _WRITE_THEN_EXEC,
    BURST_FROM,
    BURST_FULL,
    PROBE_CAPABILITIES,
    PROBE_DENIALS,
    SEQUENCES,
    SOFT_CAP,
    TOP_FEATURES,
    VARIETY_FULL,
    WEIGHTS,
    Feature,
)
from pi_sandbox.risk.window import BURST_SPAN, MIN_FILL, ExtensionWindow


def features(window: ExtensionWindow, obs: Observation, novel: bool, new_host: bool,
             now: float) -> dict[Feature, float]:
    """The non-zero feature values of ``obs`` given ``window`` (before ``obs`` enters it)."""
    return scored(window, obs, novel, new_host, now)[0]


def scored(window: ExtensionWindow, obs: Observation, novel: bool, new_host: bool,
           now: float) -> tuple[dict[Feature, float], float]:
    """``features`` and their ``score`` in one pass (what the controller runs for every call).

    Every input is a running count of the window (``window.py``): O(1) per call. Features are added and
    summed in one fixed order, the order ``score`` sums a feature dict in (as the calibration did), so the
    score is the same float to the last bit."""
    out: dict[Feature, float] = {}
    hard = soft = 0.0
    n = len(window.calls)
    capability, _, _, _, egress, _, secret_read, _, secret_env, secret_send, _, runs, runs_own_write = obs
    capabilities = window.capabilities
    if egress and (window.secret_reads > 0 or secret_send):
        out[_SECRET_THEN_EGRESS] = 1.0
        hard += _W_SECRET_THEN_EGRESS
    if runs and (runs_own_write or any(path in window.written for path in runs)):
        out[_WRITE_THEN_EXEC] = 1.0
        hard += _W_WRITE_THEN_EXEC
    variety = len(window.denied_calls)
    effectful = capability in EFFECTFUL
    if variety:
        if variety >= PROBE_DENIALS and len(window.denied_capabilities) >= PROBE_CAPABILITIES \
                and effectful and not capabilities.get(capability):
            out[_DENIALS_THEN_NEW_CAPABILITY] = 1.0
            soft += _W_DENIALS_THEN_NEW_CAPABILITY
        # each different refused call once: a call refused again every turn (a status line whose git is not
        # allowed) is a misconfiguration, refusals of many different calls are a probe
        out[_DENIAL_RATE] = value = variety / max(n, MIN_FILL)
        soft += _W_DENIAL_RATE * value
        out[_DENIAL_VARIETY] = value = min(variety / VARIETY_FULL, 1.0)
        soft += _W_DENIAL_VARIETY * value
    fill = max(n + 1, MIN_FILL)
    secret = window.secret_any + (secret_read or secret_env)
    if secret:
        out[_SECRET_CONTACT] = value = min(secret / fill * 4.0, 1.0)
        soft += _W_SECRET_CONTACT * value
    fresh = window.novel + novel
    if fresh:
        out[_NOVELTY] = value = fresh / fill
        soft += _W_NOVELTY * value
    if new_host and n >= MIN_FILL:
        out[_NEW_HOST] = 1.0
        soft += _W_NEW_HOST
    if n >= BURST_SPAN:
        rate = window.burst_rate(now)
        if rate > BURST_FROM:
            out[_BURST] = value = min((rate - BURST_FROM) / (BURST_FULL - BURST_FROM), 1.0)
            soft += _W_BURST * value
    # capabilities in use (only those with calls in the window are keys), this call's own counted once
    used = len(capabilities) - (capability in capabilities) + effectful
    if used > 1:
        out[_CAPABILITY_MIX] = value = (used - 1) / (_EFFECTFUL_COUNT - 1)
        soft += _W_CAPABILITY_MIX * value
    return out, (round(hard + min(soft, SOFT_CAP), 6) if out else 0.0)


def score(values: dict[Feature, float]) -> float:
    """The weighted sum (the soft part capped at ``SOFT_CAP``), rounded to 6 decimals like the calibration."""
    if not values:
        return 0.0
    hard = soft = 0.0
    for feature, value in values.items():
        if feature in SEQUENCES:
            hard += WEIGHTS[feature] * value
        else:
            soft += WEIGHTS[feature] * value
    return round(hard + min(soft, SOFT_CAP), 6)


def top_features(values: dict[Feature, float]) -> dict[str, float]:
    """The ``TOP_FEATURES`` largest weighted contributions, largest first."""
    count = len(values)
    if count == 1:
        [(feature, value)] = values.items()
        return {_NAMES[feature]: round(WEIGHTS[feature] * value, 3)}
    if count == 2:  # the most common case after one (novelty with the capability mix, or a burst)
        (first, value_1), (second, value_2) = values.items()
        top_1 = (WEIGHTS[first] * value_1, _NAMES[first])
        top_2 = (WEIGHTS[second] * value_2, _NAMES[second])
        if top_1 < top_2:
            top_1, top_2 = top_2, top_1
        return {top_1[1]: round(top_1[0], 3), top_2[1]: round(top_2[0], 3)}
    ranked = sorted([(WEIGHTS[f] * v, _NAMES[f]) for f, v in values.items()], reverse=True)
    return {name: round(c, 3) for c, name in ranked[:TOP_FEATURES]}
