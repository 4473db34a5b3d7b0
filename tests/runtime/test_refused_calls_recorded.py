# ruff: noqa: E501  (embedded JavaScript keeps its natural line length)
"""Every refused call leaves exactly one ledger entry, also when the frame itself is malformed.

A real worker process talks to the real dispatch pipeline through the real supervisor (the host's
own handler shape). The calls are malformed in every way the bridge can carry — a method that is no
string, params that are no object or cannot be encoded, an unknown method — sync and async, plus a
refusal before policy (a trust stage that refuses everything). Before, the worker and the supervisor
answered the malformed ones themselves (``invalid_request``) and the ledger never heard of them.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from typing import Any

import pytest

from pi_sandbox.dispatch import Sandbox
from pi_sandbox.dispatch.call import CallInfo, Verdict
from pi_sandbox.runtime.modules import load_module_table
from pi_sandbox.runtime.supervisor import ExtensionWorker, WorkerLimits
from pi_sandbox.runtime.toolchain import default_toolchain
from pi_sandbox.vocabulary import StageName

BUNDLE = r"""
import * as host from "pi:host";
const cyclic = {}; cyclic.self = cyclic;
const CALLS = [
  () => host.callSync(42, {}),
  () => host.callSync(null, { op: "stat", path: "x" }),
  () => host.callSync("fs", [1, 2, 3]),
  () => host.callSync("fs", "op=read"),
  () => host.callSync("fs", cyclic),
  () => host.callSync("no.such.method", {}),
  () => host.callSync("fs", { op: "stat", path: "x" }, "extra"),
  () => host.call(undefined, {}),
  () => host.call("exec", 7),
  () => host.call("definitely-unknown", { a: 1 }),
  () => host.call("fs", () => 1),
];
export default function (pi) {
  pi.registerTool({ name: "fire", execute: async () => {
    const out = [];
    for (const c of CALLS) {
      try { out.push(["ok", await c()]); } catch (e) { out.push([e.name, e.code]); }
    }
    return { content: [{ type: "text", text: JSON.stringify(out) }] };
  } });
}
"""
EXPECTED_CALLS = 11


class RefuseEverything:
    """A trust stage that refuses every call (a kill switch that is on)."""

    name = StageName.TRUST
    summary = "test: refuse all"

    def decide(self, call: CallInfo) -> Verdict:
        return Verdict.deny("kill_switch", "refused by the kill switch")


def handler_for(sandbox: Sandbox, extension_id: str) -> Any:
    """The host's handler shape (runtime/host.py): one pipeline run per frame."""
    ids = itertools.count(1)

    def handle(method: Any, params: Any) -> dict[str, Any]:
        result = sandbox.hostcall(extension_id, {"call_id": f"{extension_id}:{next(ids)}", "method": method, "params": params})
        if result.ok:
            return {"ok": True, "result": result.result}
        return {"ok": False, "error": {"code": result.error_code, "message": result.message or "", "reason": result.reason}}

    return handle


@pytest.fixture(scope="module")
def table() -> Any:
    return load_module_table(default_toolchain())


def fire(table: Any, sandbox: Sandbox, extension_id: str) -> list[Any]:
    worker = ExtensionWorker(extension_id, handler_for(sandbox, extension_id), WorkerLimits(memory_bytes=64 << 20, call_timeout_s=10.0))
    worker.spawn({"modules": table.sources, "bundle": BUNDLE, "boot": list(table.boot), "info": {"cwd": "/ws"}})
    try:
        worker.wait_ready()
        assert worker.request("load", {})["ok"]
        reply = worker.request("tool", {"name": "fire", "input": {}})
        assert reply["ok"], reply
        return list(json.loads(reply["result"]["content"][0]["text"]))
    finally:
        worker.close()


@pytest.fixture()
def ledger_of(sandbox: Sandbox) -> Iterator[Any]:
    yield lambda ext: [e for e in sandbox.store.query_ledger(extension_id=ext) if e.kind == "hostcall"]


def test_malformed_frames_are_refused_by_the_pipeline_and_recorded_once_each(table: Any, sandbox: Sandbox, ledger_of: Any) -> None:
    outcomes = fire(table, sandbox, "malformed")
    entries = ledger_of("malformed")
    assert len(outcomes) == EXPECTED_CALLS
    # The only well-formed call (fs stat with an ignored extra argument) is decided by policy; all
    # the others are invalid requests refused by the capability stage.
    assert sum(1 for o in outcomes if o == ["HostcallError", "invalid_request"]) == EXPECTED_CALLS - 1
    assert len(entries) == EXPECTED_CALLS
    assert sorted(e.decision for e in entries).count("invalid") == EXPECTED_CALLS - 1
    assert {e.detail["stage"] for e in entries if e.decision == "invalid"} == {"capability"}
    assert len({e.call_id for e in entries}) == EXPECTED_CALLS


def test_refusals_before_policy_are_recorded_once_each(table: Any, open_sandbox: Any) -> None:
    sandbox = open_sandbox()
    refusing = Sandbox(sandbox.config, sandbox.store, stages={StageName.TRUST: RefuseEverything()})
    outcomes = fire(table, refusing, "quarantined")
    entries = [e for e in sandbox.store.query_ledger(extension_id="quarantined") if e.kind == "hostcall"]
    assert len(entries) == len(outcomes) == EXPECTED_CALLS
    by_stage = sorted(e.detail["stage"] for e in entries)
    assert by_stage == ["capability"] * (EXPECTED_CALLS - 1) + ["trust"]
    assert [o for o in outcomes if o != ["HostcallError", "invalid_request"]] == [["HostcallError", "denied"]]
