"""The quota's shortcuts give the answers of the work they skip (issue 14, speed).

- ``QuotaMeter._add`` recomputes the first used-up total only when a charge can change it: after every admit
  and settle of a random session, ``account.exhausted`` is what the full recheck gives;
- ``payload_bytes`` counts flat objects inline: the same number as the one-call-per-container walk
  (``_payload_bytes_reference``, the code before) on random JSON-like values;
- ``QuotaStage.settle`` answers a call that moves nothing (log, ui, session, stat...) without the meter: the
  same answer, the same meter state and the same snapshots as the general path (``_settle_reference``).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from pi_sandbox.capabilities import Capability
from pi_sandbox.config.model import QuotaSettings
from pi_sandbox.dispatch.call import CallInfo, Outcome
from pi_sandbox.dispatch.stages.quota import (
    _NOTHING_MOVED,
    SNAPSHOT_S,
    QuotaStage,
    demand_of,
    payload_bytes,
    usage_of,
)
from pi_sandbox.quota import Demand, QuotaMeter, Usage
from pi_sandbox.quota.meter import _recheck
from pi_sandbox.vocabulary import Decision, StageName

_SCALARS = frozenset({int, float, bool, type(None)})


def _payload_bytes_reference(value: Any, depth: int = 0) -> int:
    """``payload_bytes`` before flat objects were counted inline (one call per nested container)."""
    if type(value) is str or isinstance(value, str):
        return len(value)
    if depth > 16:
        return 0
    if type(value) is dict or isinstance(value, Mapping):
        items: Any = value.values()
    elif type(value) is list or isinstance(value, (list, tuple)):
        items = value
    else:
        return 0
    total = 0
    for item in items:
        kind = type(item)
        if kind is str:
            total += len(item)
        elif kind not in _SCALARS:
            total += _payload_bytes_reference(item, depth + 1)
    return total


class _Str(str):
    pass


_leaf = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=8),
                  st.builds(_Str, st.text(max_size=5)))


def _nested(depth: int) -> Any:
    """A value nested ``depth`` levels (around the cut at 16)."""
    value: Any = {"text": "x" * 3, "n": 1}
    for i in range(depth):
        value = [value, "ab"] if i % 2 else {"k": value, "s": "cd"}
    return value


@settings(max_examples=300, deadline=None)
@given(st.recursive(_leaf, lambda inner: st.one_of(
    st.lists(inner, max_size=5), st.tuples(inner, inner),
    st.dictionaries(st.text(max_size=4), inner, max_size=5)), max_leaves=30))
def test_payload_bytes_is_the_walk(value: Any) -> None:
    assert payload_bytes(value) == _payload_bytes_reference(value)


def test_payload_bytes_cut_at_the_same_depth() -> None:
    for depth in range(10, 22):
        for start in (0, 1, 2):
            value = _nested(depth)
            assert payload_bytes(value, start) == _payload_bytes_reference(value, start), (depth, start)
    # a search result's shape: a list of flat matches under an object
    matches = {"matches": [{"path": f"src/m{i}.py", "line": i, "text": "def x():"} for i in range(50)],
               "truncated": False}
    expected = sum(len(m["path"]) + len(m["text"]) for m in matches["matches"])  # type: ignore[attr-defined]
    assert payload_bytes(matches) == _payload_bytes_reference(matches) == expected


_OPS = st.lists(st.tuples(
    st.sampled_from(["admit", "settle", "limits"]),
    st.integers(0, 3),  # which extension
    st.integers(0, 40),  # write bytes / read bytes
    st.booleans(),  # subprocess
    st.booleans(),  # http
    st.integers(0, 40),  # http bytes / exec wall
), max_size=60)


@settings(max_examples=200, deadline=None)
@given(_OPS, st.lists(st.integers(1, 60), min_size=6, max_size=6))
def test_exhausted_is_the_full_recheck(ops: list[tuple[str, int, int, bool, bool, int]], caps: list[int]) -> None:
    """After every charge, the first used-up total is the one ``_recheck`` finds (limits changing meanwhile)."""
    base = QuotaSettings(max_hostcalls_per_second=10**6, hostcall_burst=10**6, max_subprocesses=10**6,
                         max_subprocesses_total=caps[0], max_write_bytes=caps[1], max_read_bytes=caps[2],
                         max_http_requests=caps[3], max_http_bytes=caps[4], max_exec_wall_ms=caps[5])
    current = {"limits": base}
    meter = QuotaMeter(lambda _e: current["limits"])
    for op, ext, amount, subprocess, http, other in ops:
        extension_id = f"ext-{ext}"
        if op == "limits":  # a new limits object (configuration, probation): tighter or looser
            current["limits"] = replace(base, max_read_bytes=max(1, caps[2] + amount - 20),
                                        max_write_bytes=max(1, caps[1] - amount // 2))
            continue
        if op == "admit":
            meter.admit(extension_id, Demand(amount, subprocess, http))
        else:
            meter.settle(extension_id, Demand(0, subprocess, http), Usage(amount, other if http else 0,
                                                                           0 if http else other))
        account = meter._accounts.get(extension_id)
        if account is None:
            continue
        found = account.exhausted
        twin = copy.copy(account)
        _recheck(twin)
        assert found == twin.exhausted, (op, account.used, account.totals)


def _settle_reference(stage: QuotaStage, call: CallInfo, outcome: Outcome) -> Mapping[str, Any] | None:
    """``QuotaStage.settle`` before calls that move nothing skipped the meter."""
    if outcome.stage == StageName.QUOTA:
        return None
    demand = demand_of(call)
    if outcome.decision != "allow":
        stage.meter.settle(call.extension_id, demand, Usage())
        return None
    usage = usage_of(call, outcome)
    breach = stage.meter.settle(call.extension_id, demand, usage)
    if breach is not None:
        stage.breached(breach)
    stage._snapshot(call.extension_id)
    bytes_in = demand.write_bytes + (payload_bytes(call.params.get("body")) if call.method == "http" else 0)
    bytes_out = usage.read_bytes or usage.http_bytes
    return {"bytes_in": bytes_in, "bytes_out": bytes_out} if bytes_in or bytes_out else _NOTHING_MOVED


class _Notes:
    """The evidence port at its edge: what was noted, in order."""

    def __init__(self) -> None:
        self.notes: list[tuple[str, Any, str | None]] = []

    def note(self, kind: str, payload: Mapping[str, Any], extension_id: str | None) -> None:
        # (a breach's ts_ms is the wall clock's: the two sides note it a moment apart)
        self.notes.append((kind, {k: v for k, v in copy.deepcopy(dict(payload)).items() if k != "ts_ms"},
                           extension_id))

    def raise_alert(self, draft: Any) -> None:
        self.notes.append(("alert", draft.summary, draft.extension_id))


_CALLS = [
    ("log", Capability.LOG, {"level": "info", "message": "hi"}),
    ("ui", Capability.UI, {"op": "set_status", "key": "k", "text": "t"}),
    ("session", Capability.SESSION, {"op": "append_entry", "customType": "j", "data": {"a": 1}}),
    ("fs", Capability.READ, {"op": "stat", "path": "a.txt"}),
    ("fs", Capability.READ, {"op": "read", "path": "a.txt"}),
    ("fs", Capability.WRITE, {"op": "write", "path": "a.txt", "data": "hello"}),
    ("exec", Capability.EXEC, {"cmd": "ls", "args": []}),
    ("http", Capability.HTTP, {"url": "http://127.0.0.1:9/", "body": "abc"}),
    ("env", Capability.ENV, {"op": "get", "name": "HOME"}),
    ("events", Capability.EVENTS, {"op": "emit", "name": "x"}),
]
_RESULTS = st.one_of(st.none(), st.text(max_size=20), st.fixed_dictionaries({"content": st.text(max_size=30)}),
                     st.fixed_dictionaries({"entries": st.lists(st.fixed_dictionaries(
                         {"name": st.text(max_size=6), "type": st.sampled_from(["file", "dir"])}), max_size=4)}))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, len(_CALLS) - 1), st.integers(0, 2),
                          st.sampled_from([Decision.ALLOW, Decision.DENY]),
                          st.sampled_from([StageName.POLICY, StageName.QUOTA, StageName.RISK, StageName.MEDIATION]),
                          st.booleans(), _RESULTS, st.floats(0, 50), st.floats(0, 0.7)), max_size=40))
def test_settle_is_the_general_path(steps: list[tuple[int, int, Decision, StageName, bool, Any, float, float]]) -> None:
    """The same answers, the same meter usage and the same records (snapshots, breaches) as the general path."""
    limits = QuotaSettings(max_hostcalls_per_second=10**6, hostcall_burst=10**6, max_read_bytes=60,
                           max_http_bytes=20, max_exec_wall_ms=30)
    now = [100.0]
    sides = []
    for _ in range(2):
        meter = QuotaMeter(lambda _e: limits, clock=lambda: now[0])
        sides.append((QuotaStage(meter, _Notes()), meter))  # type: ignore[arg-type]
    (fast, fast_meter), (general, general_meter) = sides
    for i, (kind, ext, decision, stage, ok, result, connector_ms, step_s) in enumerate(steps):
        now[0] += step_s
        method, capability, params = _CALLS[kind]
        call = CallInfo(f"ext-{ext}", f"c{i}", method, capability, params, "0" * 64)
        outcome = Outcome(decision, stage, "r", ok, None if ok else "io", result if ok else None, connector_ms)
        for meter in (fast_meter, general_meter):
            meter.admit(call.extension_id, demand_of(call))
        assert fast.settle(call, outcome) == _settle_reference(general, call, outcome)
        assert fast.evidence.notes == general.evidence.notes  # type: ignore[attr-defined]
        assert fast_meter.usage(call.extension_id) == general_meter.usage(call.extension_id)
    assert now[0] - 100.0 >= 0 and SNAPSHOT_S > 0


def test_usage_snapshot_is_plain_json_text_keys() -> None:
    """A usage snapshot's keys are plain text (orjson canonicalises it; an enum key sent it to ``json.dumps``), and
    its canonical JSON is RFC 8785's, the same text the enum-keyed dict gave."""
    import orjson
    import rfc8785

    from pi_sandbox.audit.records import canonical_mapping
    from pi_sandbox.quota import Resource

    meter = QuotaMeter(lambda _e: QuotaSettings())
    meter.admit("ext", Demand(5, True, True))
    meter.settle("ext", Demand(0, True, False), Usage(7, 0, 3))
    usage = meter.usage("ext")
    assert all(type(k) is str for k in usage)
    assert set(usage) == {r.value for r in Resource} - {Resource.MEMORY.value}
    assert orjson.dumps(usage, option=orjson.OPT_SORT_KEYS) == rfc8785.dumps(usage)
    as_enums = {Resource(k): v for k, v in usage.items()}
    assert canonical_mapping("x", {"usage": usage}) == canonical_mapping("x", {"usage": as_enums})
