"""Build the calibration: replay benign traces through the real controller, keep each window's maximum.

``python -m pi_sandbox.risk.calibrate`` rewrites ``calibration.json`` for the default window size;
``tests/risk/test_calibration.py`` rebuilds it and fails when the shipped file differs, so a change to
the features, weights or traces cannot leave a stale threshold behind.
"""

from __future__ import annotations

import functools
import json
import math
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from pi_sandbox.capabilities import Capability, required_capability
from pi_sandbox.config.model import RiskSettings
from pi_sandbox.errors import ConfigError
from pi_sandbox.mediation.secret_files import SecretFiles
from pi_sandbox.risk.benign import Step, StepResult, benign_sessions
from pi_sandbox.risk.calibration import DATA_FILE, Calibration, shipped
from pi_sandbox.risk.controller import RiskController
from pi_sandbox.risk.features import Observer
from pi_sandbox.risk.score import SEQUENCES, WEIGHTS
from pi_sandbox.risk.window import CallState

SEED: Final = 20_260_611
SESSIONS: Final = 280
MIN_LENGTH: Final = 200
MAX_LENGTH: Final = 1_200
#: Windows a calibration for a non-default ``windowSize`` aims at.
TARGET_WINDOWS: Final = 1_100
#: The smallest alpha whose threshold must stay below every sequence weight.
MIN_ALPHA: Final = 0.001
_STATE: Final = {StepResult.DONE: CallState.DONE, StepResult.FAILED: CallState.FAILED,
                 StepResult.REFUSED_AFTER: CallState.DENIED}


@dataclass(frozen=True, slots=True)
class TraceCall:
    """A traced call, shaped like the pipeline's derived call."""

    extension_id: str
    call_id: str
    method: str
    capability: Capability
    params: Mapping[str, Any]


class TraceWorkspace:
    """The workspace of replayed traces: ``/ws``; no secret file may be read."""

    def base(self, extension_id: str) -> str:
        return "/ws"

    def may_read_secret(self, extension_id: str, path: str) -> bool:
        return False


class ManualClock:
    """Time as the trace says it passed."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def replay_scores(steps: Iterable[Step], controller: RiskController, clock: ManualClock,
                  extension_id: str = "benign") -> list[float]:
    """The score of every call the controller scored, in order (refusals before it are observed only)."""
    scores: list[float] = []
    for i, step in enumerate(steps):
        clock.now += step.gap_s
        call = TraceCall(extension_id, f"c{i}", step.method, required_capability(step.method, step.params),
                         step.params)
        if step.result is StepResult.REFUSED_BEFORE:
            controller.observe(call)
            continue
        decision = controller.decide(call)
        if decision.score is not None:
            scores.append(decision.score)
        controller.settle(call, _STATE[step.result])
    return scores


def scoring_controller(window_size: int, clock: ManualClock) -> RiskController:
    """A controller that only scores (no threshold, no time budget, no records)."""
    settings = RiskSettings(enabled=True, enforce=False, window_size=window_size, decision_timeout_ms=10**9)
    return RiskController(settings, Observer(TraceWorkspace(), SecretFiles()),
                          Calibration(window_size, (math.inf,), (1,)), clock=clock)


def sessions_for(window_size: int) -> int:
    """Sessions a calibration for ``window_size`` replays: enough for about ``TARGET_WINDOWS`` windows (so
    ``MIN_ALPHA`` is certified), never more than the default's (a large window certifies less, and says so)."""
    mean_length = (MIN_LENGTH + MAX_LENGTH) / 2
    return max(8, min(SESSIONS, math.ceil(TARGET_WINDOWS * window_size / (0.8 * mean_length))))


def build_calibration(window_size: int, *, seed: int = SEED, sessions: int = SESSIONS) -> Calibration:
    """Replay ``sessions`` benign sessions and calibrate on their window maxima (deterministic)."""
    maxima: list[float] = []
    calls = 0
    for index, steps in enumerate(benign_sessions(seed, sessions, MIN_LENGTH, MAX_LENGTH)):
        clock = ManualClock()
        scores = replay_scores(steps, scoring_controller(window_size, clock), clock, f"benign-{index}")
        calls += len(steps)
        maxima += [max(scores[i:i + window_size]) for i in range(0, len(scores) - window_size + 1, window_size)]
    calibration = Calibration.from_maxima(window_size, maxima, "computed", {
        "seed": seed, "sessions": sessions, "calls": calls, "min_length": MIN_LENGTH, "max_length": MAX_LENGTH})
    floor = min(WEIGHTS[f] for f in SEQUENCES)
    if calibration.threshold(MIN_ALPHA) >= floor:
        raise ConfigError(f"benign traffic scores {calibration.threshold(MIN_ALPHA)} at alpha {MIN_ALPHA}, not below "
                          f"the weight of a dangerous sequence ({floor}): fix the features, not the threshold")
    return calibration


@functools.lru_cache(maxsize=8)
def for_window(window_size: int) -> Calibration:
    """The calibration for ``window_size``: shipped for the default, computed (once per process) otherwise."""
    data = shipped()
    if data.window_size == window_size:
        return data
    return build_calibration(window_size, sessions=sessions_for(window_size))


def main(argv: list[str]) -> int:
    """Rewrite the shipped calibration (default window size)."""
    window = int(argv[0]) if argv else RiskSettings().window_size
    data = build_calibration(window).to_json()
    pairs = ",\n".join(f"    [{v!r}, {c}]" for v, c in data.pop("maxima"))
    head = json.dumps(data, indent=2, sort_keys=True)[:-2]
    DATA_FILE.write_text(f'{head},\n  "maxima": [\n{pairs}\n  ]\n}}\n', encoding="utf-8")
    print(f"wrote {DATA_FILE} ({data['windows']} windows of {window} calls)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
