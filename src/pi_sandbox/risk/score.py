"""The risk score of one call: weighted features of the call against its extension's window.

Two *sequences* are what an attack does and benign extensions do not: a secret file read and then
anything that can carry it away (http, a socket, a command), and a file written and then run as code.
Each weighs more than the *soft* part of a score can ever reach (``SOFT_CAP``), so a call that
completes one is above every benign window maximum and is refused at any ``alpha``. The soft
features — refusals of varied calls followed by a capability the extension had not tried, the denial
rate and variety, contact with secrets, novelty, new hosts, bursts, the mix of capabilities — are
refused only when together they exceed what benign traffic reaches (``calibration.py``).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final

from pi_sandbox.risk.features import EFFECTFUL, Observation
from pi_sandbox.risk.window import BURST_SPAN, MIN_FILL, ExtensionWindow


class Feature(StrEnum):
    """What a score is made of (the names decisions record)."""

    SECRET_THEN_EGRESS = "secret_then_egress"
    WRITE_THEN_EXEC = "write_then_exec"
    DENIALS_THEN_NEW_CAPABILITY = "denials_then_new_capability"
    DENIAL_RATE = "denial_rate"
    DENIAL_VARIETY = "denial_variety"
    SECRET_CONTACT = "secret_contact"
    NOVELTY = "novelty"
    NEW_HOST = "new_host"
    BURST = "burst"
    CAPABILITY_MIX = "capability_mix"


#: Weight of each feature (each feature's value is in [0, 1]).
WEIGHTS: Final[dict[Feature, float]] = {
    Feature.SECRET_THEN_EGRESS: 12.0,
    Feature.WRITE_THEN_EXEC: 12.0,
    Feature.DENIALS_THEN_NEW_CAPABILITY: 3.0,
    Feature.DENIAL_RATE: 3.0,
    Feature.DENIAL_VARIETY: 1.5,
    Feature.SECRET_CONTACT: 2.0,
    Feature.NOVELTY: 1.5,
    Feature.NEW_HOST: 1.0,
    Feature.BURST: 1.0,
    Feature.CAPABILITY_MIX: 1.0,
}
#: The sequences that alone must exceed every calibrated threshold.
SEQUENCES: Final = (Feature.SECRET_THEN_EGRESS, Feature.WRITE_THEN_EXEC)
#: The most the other features add up to (below every sequence's weight).
SOFT_CAP: Final = 8.0
#: Refusals of at least ``PROBE_DENIALS`` different calls in at least ``PROBE_CAPABILITIES`` capabilities
#: make a probe (the same refused call repeated every turn is one).
PROBE_CAPABILITIES: Final = 3
PROBE_DENIALS: Final = 5
#: Different refused calls at which variety is 1.
VARIETY_FULL: Final = 8
#: Calls per second: a burst starts above the first and is full at the second.
BURST_FROM: Final = 50.0
BURST_FULL: Final = 500.0
#: Features a decision's evidence names (the largest contributions).
TOP_FEATURES: Final = 3
_EFFECTFUL_COUNT: Final = float(len(EFFECTFUL))
#: ``burst_rate`` of calls that came within the clock's resolution.
_BURST_NO_SPAN: Final = float(BURST_SPAN) * 1000.0
#: Feature names as plain text, and the members themselves as module constants: an enum member's ``.value``
#: and a class attribute lookup each cost more than the arithmetic of a feature (this runs on every call).
_NAMES: Final[dict[Feature, str]] = {f: f.value for f in Feature}
_SECRET_THEN_EGRESS, _WRITE_THEN_EXEC, _DENIALS_THEN_NEW_CAPABILITY, _DENIAL_RATE, _DENIAL_VARIETY, _SECRET_CONTACT, \
    _NOVELTY, _NEW_HOST, _BURST, _CAPABILITY_MIX = Feature
_W_SECRET_THEN_EGRESS, _W_WRITE_THEN_EXEC, _W_DENIALS_THEN_NEW_CAPABILITY, _W_DENIAL_RATE, _W_DENIAL_VARIETY, \
    _W_SECRET_CONTACT, _W_NOVELTY, _W_NEW_HOST, _W_BURST, _W_CAPABILITY_MIX = (WEIGHTS[f] for f in Feature)
#: ``round(value, 3)`` and ``round(value, 6)`` of the contributions and scores ``assess`` has seen (see there).
_ROUNDED_3: dict[float, float] = {}
_ROUNDED_6: dict[float, float] = {}
_ROUNDED_LIMIT: Final = 4096
_N_SECRET_THEN_EGRESS, _N_WRITE_THEN_EXEC, _N_DENIALS_THEN_NEW_CAPABILITY, _N_DENIAL_RATE, _N_DENIAL_VARIETY, \
    _N_SECRET_CONTACT, _N_NOVELTY, _N_NEW_HOST, _N_BURST, _N_CAPABILITY_MIX = (f.value for f in Feature)


def assess(window: ExtensionWindow, obs: Observation, novel: bool, new_host: bool,
           now: float) -> tuple[float, dict[str, float]]:
    """``score`` and ``top_features`` of ``features`` in one pass (what the controller runs for every call).

    The same features as ``scored``, added and summed in the same order (so the score is the same float to the
    last bit: the shipped calibration holds), each kept only as (weighted contribution, name): the names the
    evidence records, without a dict keyed by ``Feature`` to rank afterwards (property test against both)."""
    parts: list[tuple[float, str]] = []
    hard = soft = 0.0
    n = len(window.calls)
    capability, _, _, _, egress, _, secret_read, _, secret_env, secret_send, _, runs, runs_own_write = obs
    capabilities = window.capabilities
    if egress and (window.secret_reads > 0 or secret_send):
        parts.append((_W_SECRET_THEN_EGRESS, _N_SECRET_THEN_EGRESS))
        hard += _W_SECRET_THEN_EGRESS
    if runs and (runs_own_write or any(path in window.written for path in runs)):
        parts.append((_W_WRITE_THEN_EXEC, _N_WRITE_THEN_EXEC))
        hard += _W_WRITE_THEN_EXEC
    variety = len(window.denied_calls)
    effectful = capability in EFFECTFUL
    if variety:
        if variety >= PROBE_DENIALS and len(window.denied_capabilities) >= PROBE_CAPABILITIES \
                and effectful and not capabilities.get(capability):
            parts.append((_W_DENIALS_THEN_NEW_CAPABILITY, _N_DENIALS_THEN_NEW_CAPABILITY))
            soft += _W_DENIALS_THEN_NEW_CAPABILITY
        weighted = _W_DENIAL_RATE * (variety / max(n, MIN_FILL))
        parts.append((weighted, _N_DENIAL_RATE))
        soft += weighted
        weighted = _W_DENIAL_VARIETY * min(variety / VARIETY_FULL, 1.0)
        parts.append((weighted, _N_DENIAL_VARIETY))
        soft += weighted
    fill = max(n + 1, MIN_FILL)
    secret = window.secret_any + (secret_read or secret_env)
    if secret:
        weighted = _W_SECRET_CONTACT * min(secret / fill * 4.0, 1.0)
        parts.append((weighted, _N_SECRET_CONTACT))
        soft += weighted
    fresh = window.novel + novel
    if fresh:
        weighted = _W_NOVELTY * (fresh / fill)
        parts.append((weighted, _N_NOVELTY))
        soft += weighted
    if new_host and n >= MIN_FILL:
        parts.append((_W_NEW_HOST, _N_NEW_HOST))
        soft += _W_NEW_HOST
    if n >= BURST_SPAN:
        # ``window.burst_rate(now)`` inline (n >= BURST_SPAN here): calls per second over the last BURST_SPAN calls
        span = now - window.calls[-BURST_SPAN].t
        rate = BURST_SPAN / span if span > 0 else _BURST_NO_SPAN
        if rate > BURST_FROM:
            weighted = _W_BURST * min((rate - BURST_FROM) / (BURST_FULL - BURST_FROM), 1.0)
            parts.append((weighted, _N_BURST))
            soft += weighted
    used = len(capabilities) - (capability in capabilities) + effectful
    if used > 1:
        weighted = _W_CAPABILITY_MIX * ((used - 1) / (_EFFECTFUL_COUNT - 1))
        parts.append((weighted, _N_CAPABILITY_MIX))
        soft += weighted
    count = len(parts)
    if not count:
        return 0.0, {}
    # ``round`` (a correctly rounded decimal conversion) is a decision's costliest step when the CPU caches are
    # cold, and the same contributions and scores come back call after call: each rounded once (every value
    # here is > 0, so a remembered 0.0 never stands for -0.0, and ``or`` only ever misses)
    rounded = _ROUNDED_3
    if count == 1:
        (first, name), = parts
        top = {name: rounded.get(first) or _round(rounded, first, 3)}
    elif count == 2:  # the most common case after one (novelty with the capability mix, or a burst)
        top_1, top_2 = parts
        if top_1 < top_2:
            top_1, top_2 = top_2, top_1
        first, second = top_1[0], top_2[0]
        top = {top_1[1]: rounded.get(first) or _round(rounded, first, 3),
               top_2[1]: rounded.get(second) or _round(rounded, second, 3)}
    else:
        parts.sort(reverse=True)
        top = {name: rounded.get(c) or _round(rounded, c, 3) for c, name in parts[:TOP_FEATURES]}
    total = hard + min(soft, SOFT_CAP)
    return _ROUNDED_6.get(total) or _round(_ROUNDED_6, total, 6), top


def _round(table: dict[float, float], value: float, digits: int) -> float:
    """``round(value, digits)``, remembered in ``table`` (emptied when full: scores come from extensions' calls)."""
    if len(table) >= _ROUNDED_LIMIT:
        table.clear()
    found = table[value] = round(value, digits)
    return found
