"""Policy explanations: every capability with its decision, layer, reason and a remediation."""

from __future__ import annotations

from pi_sandbox.capabilities import ALL_CAPABILITIES
from pi_sandbox.policy import capability_decisions, explain_policy
from tests.conftest import MakeConfig


def test_explanation_document_fields(make_config: MakeConfig) -> None:
    config = make_config(cli_profile="standard", env={"PI_EXTENSION_ALLOW_DANGEROUS": "1"})
    doc = explain_policy(config)
    assert doc["schema"] == "pi.security.policy_explanation.v1"
    assert (doc["requested_profile"], doc["effective_profile"], doc["profile_source"]) == (
        "standard", "balanced", "cli")
    assert doc["profile_aliases"] == {"standard": "balanced"}
    assert doc["mode"] == "prompt"
    assert doc["allow_dangerous"] is True
    assert doc["allow_dangerous_source"] == "env:PI_EXTENSION_ALLOW_DANGEROUS"
    assert doc["dangerous_unblocked"] == ["env", "exec"]
    assert doc["deny_caps"] == []
    assert doc["dangerous_capabilities"] == ["env", "exec"]
    assert [row["capability"] for row in doc["capability_decisions"]] == [c.value for c in ALL_CAPABILITIES]


def test_every_decision_has_a_remediation(make_config: MakeConfig) -> None:
    for profile in ("safe", "balanced", "permissive"):
        for row in capability_decisions(make_config(cli_profile=profile)):
            assert set(row) >= {"capability", "decision", "layer", "reason", "remediation", "dangerous"}
            assert row["remediation"] and row["remediation"] != "see docs/policy.md", row
            assert 1 <= row["layer"] <= 5


def test_remediation_tells_how_to_allow_dangerous(make_config: MakeConfig) -> None:
    rows = {r["capability"]: r for r in capability_decisions(make_config())}
    assert rows["exec"]["reason"] == "deny_caps"
    assert "allowDangerous" in rows["exec"]["remediation"]
    assert "perExtension" in rows["ui"]["remediation"]


def test_explanation_for_one_extension_shows_its_overrides(make_config: MakeConfig) -> None:
    config = make_config(settings={"extensionPolicy": {"perExtension": {
        "ext.a": {"deny": ["http"], "allow": ["ui"]}, "ext.b": {"deny": ["read"]}}}})
    doc = explain_policy(config, "ext.a")
    assert doc["extension_id"] == "ext.a"
    assert set(doc["per_extension_overrides"]) == {"ext.a"}
    rows = {r["capability"]: r for r in doc["capability_decisions"]}
    assert (rows["http"]["decision"], rows["http"]["reason"]) == ("deny", "extension_deny")
    assert "perExtension.ext.a.deny" in rows["http"]["remediation"]
    assert (rows["ui"]["decision"], rows["ui"]["layer"]) == ("allow", 3)
    assert rows["read"]["decision"] == "allow"
