"""The decision stages' shortcuts give the answers of the work they skip, and never an old one.

- exec/http secret scan: one search over the parameters' JSON instead of one per string (property test
  against the string-by-string walk);
- a path that is a root itself is not walked from ``/`` again (same answer as ``realpath``);
- the quota's CPU probe reuses the runtime's reading of the worker's CPU time when it is recent enough, and
  the figure ``admit`` checks is never older than ``CPU_PROBE_INTERVAL_S``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pi_sandbox.capabilities import required_capability
from pi_sandbox.config.model import QuotaSettings, RiskSettings, SecretBrokerSettings
from pi_sandbox.dispatch.call import CallInfo, Verdict
from pi_sandbox.dispatch.stages.mediation import _strings, carried_secret
from pi_sandbox.dispatch.stages.risk import RiskStage
from pi_sandbox.mediation.paths import PathRules
from pi_sandbox.mediation.secret_broker import SecretBroker, value_fingerprint
from pi_sandbox.mediation.secret_files import SecretFiles
from pi_sandbox.quota import Demand, QuotaMeter
from pi_sandbox.quota.meter import CPU_PROBE_INTERVAL_S
from pi_sandbox.risk.calibrate import ManualClock, TraceWorkspace
from pi_sandbox.risk.calibration import shipped
from pi_sandbox.risk.controller import RiskAction, RiskController
from pi_sandbox.risk.features import Observer
from pi_sandbox.vocabulary import ErrorCode
from tests.runtime.conftest import MakeHost, ext_dir, make_host, source_for, write_file  # noqa: F401

SECRET = "sk-live-0123456789abcdef"
#: Secrets whose raw spelling JSON has to escape.
AWKWARD = ['pa"ss\\word-1234', "tab\there\nnewline-99", "ünïcødé-sécret-42", "ctl\x01\x1f\x7f-secret"]
BROKER = SecretBroker(SecretBrokerSettings(),
                      {"DEPLOY_TOKEN": SECRET, **{f"AWKWARD_{i}_TOKEN": s for i, s in enumerate(AWKWARD)}})


def _walked(params: Any) -> str | None:
    """The reference: every string searched one by one, the first fingerprint found."""
    return next((f for f in map(BROKER.secret_fingerprint, _strings(params)) if f), None)


_leaf = st.one_of(st.none(), st.booleans(), st.integers(-(2**60), 2**60), st.floats(allow_nan=False),
                  st.text(max_size=12), st.sampled_from([SECRET, *AWKWARD]),
                  st.builds(lambda a, s, z: a + s + z, st.text(max_size=4), st.sampled_from([SECRET, *AWKWARD]),
                            st.text(max_size=4)),
                  st.sampled_from(["\ud800" + SECRET, "x\udfff"]))  # lone surrogates: JSON cannot hold them


@given(st.dictionaries(st.one_of(st.text(max_size=6), st.sampled_from(AWKWARD)),
                       st.recursive(_leaf, lambda inner: st.one_of(
                           st.lists(inner, max_size=4),
                           st.dictionaries(st.one_of(st.text(max_size=6), st.sampled_from(AWKWARD)), inner,
                                           max_size=4)), max_leaves=12), max_size=5))
@settings(max_examples=400, deadline=None)
def test_secret_scan_finds_what_the_string_walk_finds(params: dict[str, Any]) -> None:
    assert carried_secret(BROKER, params) == _walked(params)


def test_secret_scan_finds_each_spelling_of_an_exec_argv() -> None:
    assert carried_secret(BROKER, {"cmd": "curl", "args": ["-d", f"k={SECRET}"]}) == value_fingerprint(SECRET)
    assert carried_secret(BROKER, {"cmd": "sh", "env": {"X": AWKWARD[0]}}) == value_fingerprint(AWKWARD[0])
    assert carried_secret(BROKER, {"cmd": "ls", "args": ["-la"], "cwd": "src"}) is None
    # nested deep (a walk limited to 32 levels let this body through): found at any depth, in lists and objects
    deep: Any = SECRET
    for level in range(400):
        deep = [deep] if level % 2 else {"k": deep}
    assert carried_secret(BROKER, {"body": deep}) == value_fingerprint(SECRET) == _walked({"body": deep})


def test_a_root_itself_resolves_as_realpath_does(tmp_path: Path) -> None:
    (tmp_path / "real" / "ws").mkdir(parents=True)
    (tmp_path / "link").symlink_to(tmp_path / "real")
    root = tmp_path / "link" / "ws"  # resolved when the rules are made
    rules = PathRules((root, tmp_path / "link" / "ws" / "inner"))
    resolved = os.path.realpath(root)
    for raw in (resolved, resolved + "/", resolved + "/.", ".", "./", str(root)):
        assert rules.resolve_text(raw, "list") == os.path.realpath(raw if raw.startswith("/") else root / raw)
    (tmp_path / "real" / "ws" / "inner").mkdir()
    assert rules.resolve_text(resolved + "/inner", "list") == resolved + "/inner"
    # a folder below the root replaced by a symlink out of it between two calls: still caught
    (tmp_path / "real" / "ws" / "inner").rmdir()
    (tmp_path / "real" / "ws" / "inner").symlink_to(tmp_path)
    assert not rules.allows(resolved + "/inner/real", "read")
    # the root itself replaced by a symlink out of the roots: resolved as realpath does, and refused
    (tmp_path / "real" / "ws" / "inner").unlink()
    (tmp_path / "real" / "ws").rename(tmp_path / "real" / "old")
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "real" / "ws").symlink_to(tmp_path / "elsewhere")
    assert not rules.allows(resolved, "list")


class _Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_cpu_figure_admit_checks_is_never_older_than_the_interval() -> None:
    """The probe may answer with a reading up to the age it is given; asked that often, what ``admit`` compares
    with the limit is never older than ``CPU_PROBE_INTERVAL_S`` (the bound of the fresh read every 250 ms)."""
    clock = _Clock()
    readings: list[tuple[float, int]] = []  # (time of the reading, CPU ms at that time)
    asked: list[float] = []

    def probe(extension_id: str, max_age_s: float) -> int:
        asked.append(max_age_s)
        # the oldest reading the probe is allowed to give: exactly ``max_age_s`` old
        taken_at = clock.now - max_age_s
        readings.append((taken_at, int(taken_at * 1000)))
        return readings[-1][1]

    meter = QuotaMeter(lambda _e: QuotaSettings(max_hostcalls_per_second=10**6, hostcall_burst=10**6,
                                                max_cpu_time_ms=10**9), cpu_probe=probe, clock=clock)
    worst = 0.0
    for _ in range(2000):
        clock.now += 0.007
        assert meter.admit("ext", Demand()) is None
        figure = meter.usage("ext")["cpu_time_ms"]
        taken_at = next(t for t, ms in reversed(readings) if ms == figure)
        worst = max(worst, clock.now - taken_at)
    assert worst <= CPU_PROBE_INTERVAL_S + 1e-9
    assert asked and all(0 < a <= CPU_PROBE_INTERVAL_S for a in asked)


def test_cpu_limit_still_refuses_once_crossed() -> None:
    clock = _Clock()
    used = [0]
    meter = QuotaMeter(lambda _e: QuotaSettings(max_cpu_time_ms=500), cpu_probe=lambda _e, _a: used[0], clock=clock)
    assert meter.admit("ext", Demand()) is None
    used[0] = 600
    clock.now += CPU_PROBE_INTERVAL_S
    breach = meter.admit("ext", Demand())
    assert breach is not None and breach.resource == "cpu_time_ms" and breach.actual == 600


def test_token_bucket_never_moves_back_when_calls_read_the_clock_out_of_order() -> None:
    """``admit`` reads the clock before its lock: a call that read an earlier time than the last refill (another
    thread's, taken meanwhile) is charged its token, and no interval is credited twice or taken back."""
    clock = _Clock()
    meter = QuotaMeter(lambda _e: QuotaSettings(max_hostcalls_per_second=4, hostcall_burst=10), clock=clock)
    assert meter.admit("ext", Demand()) is None  # 9 left
    account = meter._accounts["ext"]
    account.refilled_at = clock.now + 0.5  # another call refilled up to a later time than this one read
    assert meter.admit("ext", Demand()) is None
    assert meter.usage("ext")["hostcalls_per_second"] == 2  # one more token spent, none taken back
    clock.now += 0.75  # 0.25 s after that refill: one token credited (4 per second)
    assert meter.admit("ext", Demand()) is None
    assert meter.usage("ext")["hostcalls_per_second"] == 2
    for _ in range(8):
        assert meter.admit("ext", Demand()) is None
    breach = meter.admit("ext", Demand())  # the burst used up, no time passed: refused
    assert breach is not None and breach.resource == "hostcalls_per_second"


SPIN = """
export default function (pi: any) {
  pi.registerTool({ name: "spin", execute: async (_id: string, p: any) => {
    const until = Date.now() + p.ms; let n = 0; while (Date.now() < until) { n++; }
    return { content: [{ type: "text", text: String(n) }] };
  } });
}
"""


def test_worker_cpu_reading_is_reused_only_while_recent(make_host: MakeHost, ext_dir: Path) -> None:  # noqa: F811
    host = make_host()
    write_file(ext_dir / "spinner.ts", SPIN)
    host.load([source_for(ext_dir / "spinner.ts")])
    host.call_tool("spinner", "spin", {"ms": 30})
    worker = host._extensions["spinner"].worker
    assert worker is not None
    reading = worker._cpu_reading  # the request's own reading (its CPU budget, and the quota after it)
    assert reading is not None
    # within the age asked for: that reading, no new one
    assert worker.cpu_time_ms(3600.0) == int(reading[1] * 1000) and worker._cpu_reading is reading
    # no age (the runtime's own checks) or an older reading than asked for: read afresh
    host.call_tool("spinner", "spin", {"ms": 200})
    after_request = worker._cpu_reading
    assert after_request is not None and after_request[1] > reading[1]
    fresh = worker.cpu_time_ms()
    assert worker._cpu_reading is not after_request and fresh >= int(after_request[1] * 1000)
    latest = worker._cpu_reading
    assert latest is not None
    assert worker.cpu_time_ms(1e-9) >= fresh and worker._cpu_reading is not latest


@pytest.mark.parametrize("enforce", [True, False])
def test_risk_stage_allow_verdict_is_what_the_general_form_makes(enforce: bool) -> None:
    """The risk stage builds an allowed call's verdict itself: the same tuple ``Verdict.proceed`` makes from
    ``decision.evidence()``, for every kind of call (and the general form for everything else)."""
    clock = ManualClock()
    settings_ = RiskSettings(enforce=enforce, decision_timeout_ms=10**6)
    stage = RiskStage(RiskController(settings_, Observer(TraceWorkspace(), SecretFiles()), shipped(), clock=clock))
    twin = RiskController(settings_, Observer(TraceWorkspace(), SecretFiles()), shipped(), clock=clock)
    requests: list[tuple[str, dict[str, Any]]] = [
        ("log", {}), ("ui", {"op": "notify"}), ("fs", {"op": "read", "path": "src/a.py"}),
        ("fs", {"op": "write", "path": "a.sh"}), ("exec", {"cmd": "sh", "args": ["a.sh"]}),
        ("fs", {"op": "read", "path": ".env"}), ("http", {"url": "https://x.example/", "method": "POST"})]
    kinds = set()
    for i in range(60):
        clock.now += 0.001
        method, params = requests[i % len(requests)]
        call = CallInfo("ext", f"c{i}", method, required_capability(method, params), params, "0" * 64)
        verdict = stage.decide(call)
        expected = twin.decide(call)
        assert verdict == Verdict.proceed({"risk": expected.evidence()}) if not expected.refused else verdict.denied
        assert type(verdict) is Verdict and verdict.code is ErrorCode.DENIED
        kinds.add(expected.action)
    # both forms were compared
    assert RiskAction.ALLOW in kinds and (RiskAction.DENY if enforce else RiskAction.SHADOW_DENY) in kinds
