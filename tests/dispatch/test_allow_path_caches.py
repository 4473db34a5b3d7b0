"""The allow path's per-extension caches (issue 14: trust verdict, quota limits and their compiled checks,
derived capability) never serve a decision the state has moved past: each test first warms the cache
with allowed calls, then changes what it was computed from, and expects the very next call to see it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pi_sandbox.capabilities import KNOWN_METHODS, Capability
from pi_sandbox.config.model import QuotaSettings
from pi_sandbox.dispatch import Sandbox, forensic
from pi_sandbox.dispatch.call import CallInfo
from pi_sandbox.dispatch.stages.capability import CapabilityStage, flat_params_hash
from pi_sandbox.dispatch.stages.mediation import MEDIATED_METHODS, exec_argv, write_size
from pi_sandbox.errors import InvalidRequestError
from pi_sandbox.hashing import is_unicode_text, params_hash, sha256_hex
from pi_sandbox.mediation.paths import call_paths
from pi_sandbox.quota import Demand, QuotaMeter, Resource
from pi_sandbox.trust import Actor, TransitionReason, TrustState, promote, quarantine, set_kill_switch
from pi_sandbox.vocabulary import ErrorCode, Reason, StageName
from tests.conftest import OpenSandbox

Request = Callable[..., dict[str, Any]]
EXT = "cached.ext"


def _log(box: Sandbox, make_request: Request) -> Any:
    return box.hostcall(EXT, make_request("log", {"message": "hello"}))


def _warm(box: Sandbox, make_request: Request, calls: int = 5) -> None:
    for _ in range(calls):
        assert _log(box, make_request).ok


def test_a_kill_switch_from_another_process_stops_the_very_next_call(
        open_sandbox: OpenSandbox, make_request: Request) -> None:
    box = open_sandbox()
    _warm(box, make_request)
    set_kill_switch(box.config.state_dir, True, EXT, "incident 1")
    result = _log(box, make_request)
    assert not result.ok and result.reason == Reason.KILL_SWITCH
    set_kill_switch(box.config.state_dir, False, EXT, "contained")
    assert _log(box, make_request).ok
    set_kill_switch(box.config.state_dir, True, None, "stop everything")  # the global switch
    assert _log(box, make_request).reason == Reason.KILL_SWITCH
    assert box.hostcall("other.ext", make_request("log", {"message": "x"})).reason == Reason.KILL_SWITCH


def test_quarantine_and_release_apply_to_the_very_next_call(
        open_sandbox: OpenSandbox, make_request: Request) -> None:
    box = open_sandbox()
    box.controls.registry.observe_load(EXT, "cli", "h1")
    _warm(box, make_request)
    quarantine(box.config.state_dir, box.config.trust, EXT, "suspicious")  # another process
    assert _log(box, make_request).reason == Reason.QUARANTINED
    promote(box.config.state_dir, box.config.trust, EXT, TrustState.TRUSTED, "reviewed")
    assert _log(box, make_request).ok
    # In this process too: repeated risk denials quarantine it at once.
    for _ in range(box.config.trust.quarantine_after_risk_denials):
        box.controls.registry.note_event(EXT, TransitionReason.RISK_DENIALS)
    assert _log(box, make_request).reason == Reason.QUARANTINED


def test_the_trust_state_a_call_records_follows_transitions(open_sandbox: OpenSandbox, make_request: Request) -> None:
    box = open_sandbox()
    box.controls.registry.observe_load(EXT, "cli", "h1")
    _warm(box, make_request)
    trust = box.pipeline.stage(StageName.TRUST)
    call = box.pipeline.capability.derive(EXT, make_request("log", {"message": "x"}))
    assert trust.decide(call).evidence["trust"] == TrustState.PROBATION
    box.controls.registry.transition(EXT, TrustState.TRUSTED, actor=Actor.OPERATOR, reason="reviewed", note="ok")
    assert trust.decide(call).evidence["trust"] == TrustState.TRUSTED


def test_quota_limits_follow_the_trust_state(open_sandbox: OpenSandbox, make_request: Request) -> None:
    box = open_sandbox()
    box.controls.registry.observe_load(EXT, "cli", "h1")
    _warm(box, make_request)
    full = box.config.quota_for(EXT).max_http_requests
    assert box.quota_limits(EXT).max_http_requests == int(full * box.config.trust.probation_quota_factor)
    box.controls.registry.transition(EXT, TrustState.TRUSTED, actor=Actor.OPERATOR, reason="reviewed", note="ok")
    assert box.quota_limits(EXT).max_http_requests == full


def test_the_meter_checks_the_limits_in_force_not_the_ones_it_compiled() -> None:
    limits = {EXT: QuotaSettings(max_write_bytes=1000)}
    meter = QuotaMeter(lambda ext: limits[ext])
    assert meter.admit(EXT, Demand(write_bytes=600)) is None  # compiled under 1000
    limits[EXT] = QuotaSettings(max_write_bytes=500)  # a new configuration (or probation) lowers it
    breach = meter.admit(EXT, Demand())
    assert breach is not None and breach.resource == Resource.WRITE_BYTES and breach.limit == 500


def test_an_exhausted_quota_refuses_the_next_call_after_cached_allows(
        open_sandbox: OpenSandbox, make_request: Request) -> None:
    box = open_sandbox(settings={"extensionPolicy": {"quota": {"maxWriteBytes": 64}}})
    box.controls.registry.transition(EXT, TrustState.TRUSTED, actor=Actor.OPERATOR, reason="reviewed", note="ok")
    _warm(box, make_request)
    first = box.hostcall(EXT, make_request("fs", {"op": "write", "path": "a.txt", "data": "x" * 40}))
    assert first.ok, first
    second = box.hostcall(EXT, make_request("fs", {"op": "write", "path": "b.txt", "data": "x" * 30}))
    assert second.error_code == ErrorCode.QUOTA_EXCEEDED  # 70 > 64
    assert box.hostcall(EXT, make_request("fs", {"op": "write", "path": "c.txt", "data": "x" * 24})).ok  # 64
    # a session total used up refuses every later call, of any kind
    assert _log(box, make_request).error_code == ErrorCode.QUOTA_EXCEEDED


@pytest.mark.parametrize(("request_", "message"), [
    ({"method": "tool", "params": {"name": "read", "input": "not an object"}}, "must be a JSON object"),
    ({"method": "tool", "params": {"name": "read", "input": {}}, "capability": "write"}, "does not match"),
    ({"method": "fs", "params": {"op": "stat", "path": "x"}, "timeout_ms": 0}, "positive integer"),
    ({"method": "fs", "params": {"op": "stat", "path": "x"}, "call_id": " "}, "non-empty string"),
    ({"method": "fs", "params": {"op": "stat", "path": "x"}, "call_id": "\ud800"}, "lone surrogate"),
    ({"method": "fs", "params": {"op": "stat", "path": "x"}, "capability": 5}, "must be a string"),
])
def test_a_remembered_spelling_never_lets_an_invalid_request_through(request_: dict[str, Any], message: str) -> None:
    stage = CapabilityStage()
    # the same method and op, valid, first: its derivation is remembered
    for valid in ({"call_id": "v1", "method": "tool", "params": {"name": "read", "input": {}}},
                  {"call_id": "v2", "method": "fs", "params": {"op": "stat", "path": "x"}},
                  {"call_id": "v3", "method": "tool", "params": {"name": "read", "input": {}}, "capability": "read"}):
        stage.derive(EXT, valid)
    with pytest.raises(InvalidRequestError, match=message):
        stage.derive(EXT, {"call_id": "c1", **request_})


def test_a_remembered_spelling_derives_what_the_general_path_derives() -> None:
    stage, fresh = CapabilityStage(), CapabilityStage()
    requests = [{"call_id": f"c{i}", "method": m, "params": p} for i, (m, p) in enumerate([
        ("fs", {"op": "stat", "path": "a"}), ("FS ", {"op": "Readdir", "path": "a"}), ("fs", {"op": "rm", "path": "a"}),
        ("session", {"op": "set-name", "name": "x"}), ("session", {"op": "append_entry"}),
        ("tool", {"name": "bash", "input": {"command": "ls"}}), ("tool", {"name": "mine", "input": {}}),
        ("net", {"op": "connect", "host": "h"}), ("log", {"message": "m"}), ("exec", {"cmd": "git", "args": []}),
    ])]
    for request in requests * 3:
        got, want = stage.derive(EXT, request), fresh.derive(EXT, dict(request, params=dict(request["params"])))
        assert (got.method, got.capability, got.params_hash) == (want.method, want.capability, want.params_hash)
        fresh = CapabilityStage()  # the reference never remembers anything


_VALUES = st.one_of(st.text(max_size=8), st.booleans(), st.none(), st.integers(-(2**60), 2**60), st.floats(),
                    st.sampled_from([2**53 - 1, 2**53, -(2**53), 2**60, 1.0, "\ud800"]),
                    st.lists(st.one_of(st.text(max_size=4), st.integers(), st.none()), max_size=3),
                    st.dictionaries(st.text(max_size=3), st.text(max_size=3), max_size=2))


@given(st.text(max_size=6), st.dictionaries(st.one_of(st.text(max_size=6), st.sampled_from(["é", "\ud800", "k"])),
                                            _VALUES, max_size=5))
@settings(max_examples=400, deadline=None)
def test_the_flat_request_hash_is_the_general_one(method: str, params: dict[str, Any]) -> None:
    assert flat_params_hash(method, params) == params_hash(method, params)


_NESTED = st.recursive(
    st.one_of(st.text(max_size=6), st.booleans(), st.none(), st.integers(-(2**60), 2**60), st.floats(),
              st.sampled_from([2**53 - 1, 2**53, -(2**53), 1.0, "\ud800", "é"])),
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.tuples(inner),
                            # keys RFC 8785 sorts by UTF-16 code units, orjson by code points: U+E000..U+FFFF after
                            # the astral ones in one order, before them in the other
                            st.dictionaries(st.one_of(st.text(max_size=4), st.sampled_from(
                                ["é", "\ud800", "k", "\uffff", "\ue000", "\U0001f600"])), inner, max_size=4)),
    max_leaves=20)


@given(st.sampled_from(["session", "tool", "é"]),
       st.dictionaries(st.one_of(st.text(max_size=6), st.sampled_from(["data", "input", "é"])), _NESTED, max_size=4))
@settings(max_examples=500, deadline=None)
def test_the_nested_request_hash_is_the_general_one(method: str, params: dict[str, Any]) -> None:
    """Session entries' data and tool inputs (objects and lists at any depth) hash as ``params_hash`` does."""
    assert flat_params_hash(method, params) == params_hash(method, params)


def test_nested_names_sorted_differently_by_utf16_take_the_general_hash() -> None:
    params = {"op": "append_entry", "data": {"\uffff": 1, "\U0001f600": [{"\ue000": 2, "\U0001f601": 3}]}}
    assert flat_params_hash("session", params) == params_hash("session", params)


def test_deeply_nested_params_hash_as_the_general_one() -> None:
    for depth in (10, 16, 17, 40, 130, 200):
        value: Any = {"k": "v", "n": 1}
        for i in range(depth):
            value = {"d": value} if i % 2 else [value, "x"]
        params = {"op": "append_entry", "data": value}
        assert flat_params_hash("session", params) == params_hash("session", params)


def _reference_cut(value: Any, depth: int = 0) -> Any:
    """The forensic cut string by string (what ``forensic._cut``'s fast path for short ASCII must equal)."""
    if isinstance(value, str):
        if not is_unicode_text(value) or len(value.encode("utf-8", "surrogatepass")) > forensic.MAX_STRING_BYTES:
            return forensic._digest(value)
        return value
    if isinstance(value, bool) or value is None or isinstance(value, (int, float)):
        return forensic._cut(value)
    if depth >= forensic.MAX_DEPTH:
        return forensic._digest(forensic._cut_for_hash(value))
    if isinstance(value, dict):
        return {(k if isinstance(k, str) and is_unicode_text(k) and len(k) <= forensic.MAX_STRING_BYTES else
                 f"key:{sha256_hex(str(k).encode('utf-8', 'surrogatepass'))}"): _reference_cut(v, depth + 1)
                for k, v in value.items()}
    return forensic._cut(value, depth)


_TEXTS = st.one_of(st.text(max_size=6), st.sampled_from(["x" * 512, "x" * 513, "é" * 300, "\ud800", "k"]))


@given(st.recursive(st.one_of(_TEXTS, st.integers(), st.none(), st.booleans()),
                    lambda inner: st.dictionaries(st.one_of(_TEXTS, st.integers()), inner, max_size=4), max_leaves=10))
@settings(max_examples=300, deadline=None)
def test_the_forensic_cut_keeps_what_it_kept_string_by_string(value: Any) -> None:
    assert forensic._cut(value) == _reference_cut(value)


@pytest.mark.parametrize("method", sorted(KNOWN_METHODS - MEDIATED_METHODS))
def test_mediation_lets_at_once_only_calls_it_has_nothing_to_judge_in(method: str) -> None:
    """The mediation stage answers calls of other methods at once (unless they need exec): whatever they carry,
    none of its checks would look at them — no path, command, write or env name is read from such a call.
    (The params are data for pure functions: nothing here reaches a connector, so nothing in them can run.)"""
    params = {"op": "write", "path": "/etc/passwd", "cwd": "/", "cmd": "rm", "args": ["-rf", "/"],
              "url": "http://example.com", "name": "bash", "names": ["AWS_SECRET_ACCESS_KEY"], "data": "x",
              "input": {"command": "rm -rf /", "path": "/etc/passwd", "content": "x"}}
    for capability in Capability:
        if capability is Capability.EXEC:
            continue  # always judged
        call = CallInfo("ext", "c1", method, capability, params, "h")
        assert call_paths(method, params) == [] and exec_argv(call) is None and write_size(call) is None
        assert method not in ("exec", "http", "env")  # secret values and env names are judged for these
