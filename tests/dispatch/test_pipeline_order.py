"""The pipeline in the code is the pipeline in the docs: one ordered list, checked when built."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from pi_sandbox.audit import AuditStore
from pi_sandbox.dispatch import CallInfo, Sandbox, Stage, Verdict, pipeline_table_markdown
from pi_sandbox.dispatch.pipeline import Pipeline
from pi_sandbox.dispatch.stages import CapabilityStage, PolicyStage, RiskStage, TrustStage
from pi_sandbox.vocabulary import StageName
from tests.conftest import MakeConfig, OpenSandbox, PiEnv

DOC = Path(__file__).resolve().parents[2] / "docs" / "pipeline.md"


def test_docs_table_is_the_running_pipeline(sandbox: Sandbox) -> None:
    text = DOC.read_text(encoding="utf-8")
    block = re.search(r"<!-- pipeline-table:start -->\n(.*?)<!-- pipeline-table:end -->", text, re.S)
    assert block is not None, "docs/pipeline.md lost its generated table markers"
    assert block.group(1) == pipeline_table_markdown(sandbox.pipeline), (
        "docs/pipeline.md is out of date; paste the output of pipeline_table_markdown(sandbox.pipeline)")


def test_stage_order_is_the_architecture_order(sandbox: Sandbox) -> None:
    assert [name for name, _ in sandbox.pipeline.describe()] == [
        "capability", "trust", "policy", "quota", "risk", "mediation", "connector"]


def test_a_misordered_pipeline_does_not_start(sandbox: Sandbox) -> None:
    policy = sandbox.pipeline.stage(StageName.POLICY)
    with pytest.raises(ValueError, match="out of order"):
        Pipeline(CapabilityStage(), (policy, TrustStage(), sandbox.quota_stage, RiskStage()), {}, sandbox.evidence,
                 lambda call, method: None, sandbox.broker)  # type: ignore[arg-type, return-value]
    with pytest.raises(ValueError, match="out of order"):
        Pipeline(CapabilityStage(), (TrustStage(), TrustStage(), policy), {}, sandbox.evidence,
                 lambda call, method: None, sandbox.broker)  # type: ignore[arg-type, return-value]
    assert isinstance(policy, PolicyStage)


class ExplodingStage:
    name = StageName.RISK

    def decide(self, call: CallInfo) -> Verdict:
        raise RuntimeError("bug in a stage")


class GrantlessPolicy:
    name = StageName.POLICY

    def decide(self, call: CallInfo) -> Verdict:
        return Verdict.proceed()


@pytest.mark.parametrize(("slot", "stage"), [(StageName.RISK, ExplodingStage()),
                                             (StageName.POLICY, GrantlessPolicy())])
def test_a_broken_stage_fails_closed_with_one_entry(make_config: MakeConfig, pi_env: PiEnv, slot: StageName,
                                                    stage: Stage) -> None:
    config = make_config()
    box = Sandbox(config, AuditStore.open(config.state_dir), stages={slot: stage})
    try:
        result = box.hostcall("ext.a", {"call_id": "c1", "method": "fs",
                                        "params": {"op": "write", "path": "x.txt", "data": "y"}})
        assert (result.ok, result.error_code, result.reason) == (False, "internal", "stage_failure")
        assert not (pi_env.workspace / "x.txt").exists()
        (entry,) = box.store.query_ledger(extension_id="ext.a")
        assert (entry.decision, entry.reason) == ("deny", "stage_failure")
    finally:
        box.close()


def test_unknown_stage_slot_is_refused(sandbox: Sandbox, make_config: MakeConfig) -> None:
    with pytest.raises(ValueError, match="no pipeline stage slot"):
        Sandbox(make_config(), sandbox.store, stages={StageName.CONNECTOR: TrustStage()})


def test_stages_record_through_the_port_and_see_no_environment(open_sandbox: OpenSandbox) -> None:
    box = open_sandbox(env={"SOME_TOKEN": "tok-0123456789abcdef"})
    assert box.public_config.environ == {}
    assert box.config.environ["SOME_TOKEN"]
    mediation = box.pipeline.stage(StageName.MEDIATION)
    assert not hasattr(mediation.evidence, "query_ledger")
