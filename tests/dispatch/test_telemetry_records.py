"""Every decided hostcall leaves one telemetry record (the writer thread builds it from the pipeline's clock
readings): the stages that judged it with their times, the connector and total time, what the stages
settled (bytes), and no parameter or result (INV-012)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from pi_sandbox.audit.telemetry import TELEMETRY_KIND, CallTimes
from pi_sandbox.dispatch import Sandbox
from pi_sandbox.vocabulary import StageName
from tests.conftest import OpenSandbox

Request = Callable[..., dict[str, Any]]
STAGES = [str(s) for s in (StageName.TRUST, StageName.POLICY, StageName.QUOTA, StageName.RISK, StageName.MEDIATION)]
MARKER = "telemetry-marker-7f3a"


def _records(box: Sandbox) -> dict[str, dict[str, Any]]:
    box.telemetry.flush()
    return {str(r.payload["call_id"]): dict(r.payload) for r in box.store.query_records(kind=TELEMETRY_KIND)}


def test_allowed_call_record_names_every_stage_and_no_parameter(
        open_sandbox: OpenSandbox, make_request: Request) -> None:
    box = open_sandbox()
    box.controls.registry.observe_load("ext.t", "cli", "h1")
    request = make_request("fs", {"op": "write", "path": "t.txt", "data": MARKER})
    result = box.hostcall("ext.t", request)
    assert result.ok
    record = _records(box)[request["call_id"]]
    assert record["seq"] == result.ledger_seq and record["method"] == "fs" and record["capability"] == "write"
    assert (record["decision"], record["stage"], record["ok"], record["error_code"]) == ("allow", "policy", True, None)
    assert list(record["stage_us"]) == STAGES
    assert all(isinstance(v, float) and v >= 0 for v in record["stage_us"].values())
    assert record["connector_us"] > 0
    assert record["total_us"] >= record["connector_us"] + sum(record["stage_us"].values()) - 1
    assert record["bytes_in"] == len(MARKER)  # settled by the quota stage
    assert MARKER not in repr(record)


def test_refused_call_record_stops_at_the_refusing_stage(
        open_sandbox: OpenSandbox, make_request: Request) -> None:
    box = open_sandbox()
    request = make_request("tool", {"name": "not-granted", "input": {"secret": MARKER}})
    result = box.hostcall("ext.t", request)
    assert not result.ok
    record = _records(box)[request["call_id"]]
    assert (record["decision"], record["stage"], record["ok"]) == ("deny", "policy", False)
    assert record["error_code"] == result.error_code and record["reason"] == result.reason
    assert list(record["stage_us"]) == STAGES[:2]  # trust, then policy refused
    assert record["connector_us"] == 0
    assert MARKER not in repr(record)


def test_a_failing_settle_is_counted_in_the_record(open_sandbox: OpenSandbox, make_request: Request) -> None:
    box = open_sandbox()

    def broken(*_args: Any) -> None:
        raise RuntimeError("accounting bug")

    pipeline = box.pipeline
    pipeline._settlers = ((pipeline._settlers[0][0], broken), *pipeline._settlers[1:])
    request = make_request("log", {"message": "hello"})
    assert box.hostcall("ext.t", request).ok  # an accounting bug never fails a decided call
    assert _records(box)[request["call_id"]]["settle_error"] is True


def test_call_times_record_rounds_to_tenths_of_microseconds() -> None:
    times = CallTimes("c1", 7, "log", "log", "allow", "policy", "granted", True, None, ("trust", "policy", "quota"),
                      [1_000, 2_550, 2_600], 12_345, 0, 20_000, {"bytes_out": 3})
    assert times.record() == {
        "call_id": "c1", "seq": 7, "method": "log", "capability": "log", "decision": "allow", "stage": "policy",
        "reason": "granted", "ok": True, "error_code": None, "stage_us": {"trust": 1.6, "policy": 0.1},
        "connector_us": 12.3, "total_us": 20.0, "bytes_out": 3}
    assert CallTimes(*times[:10], [0, 1_549], 1_450, 0, 999_950, None).record()["stage_us"] == {"trust": 1.5}
    assert CallTimes(*times[:10], [0, 1_549], 1_450, 0, 999_950, None).record()["total_us"] == 1000.0


@given(st.lists(st.integers(0, 10**9), min_size=1, max_size=7), st.integers(0, 10**9), st.integers(0, 10**9))
@settings(max_examples=200, deadline=None)
def test_stage_times_are_those_of_the_stages_that_judged_the_call(
        steps: list[int], connector_ns: int, total_ns: int) -> None:
    stamps = [sum(steps[:i + 1]) for i in range(len(steps))]  # one clock reading per stage boundary
    times = CallTimes("c", None, "fs", "read", "deny", "risk", "r", False, "denied", tuple(STAGES), stamps,
                      connector_ns, 0, total_ns, None)
    judged = STAGES[:len(stamps) - 1]
    assert times.record()["stage_us"] == {
        name: (stamps[i + 1] - stamps[i] + 50) // 100 / 10 for i, name in enumerate(judged)}
    assert list(times.record()["stage_us"]) == judged
