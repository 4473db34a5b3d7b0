"""docs/verify_bundle.py — the 50-line verifier a third party can run — agrees with ``bundle verify``."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from pi_sandbox.audit import AuditStore
from pi_sandbox.evidence import BundleFilter, RedactionPolicy, build_bundle, compute_bundle_hash, verify_bundle
from pi_sandbox.evidence.export import summarize

SCRIPT = Path(__file__).resolve().parents[2] / "docs" / "verify_bundle.py"
Bundle = dict[str, Any]


def _reseal(b: Bundle, summary: bool = True) -> Bundle:
    if summary:
        b["summary"] = summarize(b)
    b["bundle_hash"] = compute_bundle_hash(b)
    return b


def _drop_linked_entry(b: Bundle) -> Bundle:
    entries = b["risk_ledger"]["entries"]
    index = next(i for i in range(1, len(entries) - 1) if entries[i]["seq"] + 1 == entries[i + 1]["seq"]
                 and entries[i]["kind"] == "hostcall")
    del entries[index]
    return _reseal(b)


def _flip_decision(b: Bundle) -> Bundle:
    next(e for e in b["risk_ledger"]["entries"] if e["decision"] == "deny")["decision"] = "allow"
    return _reseal(b)


def _edit_forensic(b: Bundle) -> Bundle:
    record = next(r for r in b["risk_ledger"]["forensics"].values() if r["disclosed"])
    name = next(iter(record["disclosed"]))
    record["disclosed"][name]["value"] = "something else"
    return _reseal(b)


def _unredact(b: Bundle) -> Bundle:
    next(a for a in b["alerts"] if a["remediation"] == "[REDACTED]")["remediation"] = "the original advice"
    return _reseal(b)


def _count(b: Bundle) -> Bundle:
    b["summary"]["counts"]["alerts"] += 1
    return _reseal(b, summary=False)


def _schema(b: Bundle) -> Bundle:
    b["schema"] = "pi.security.incident_evidence_bundle.v9"
    return _reseal(b)


def _section(b: Bundle) -> Bundle:
    b["alerts"][0]["summary"] = "edited"
    return b


def _trust_view(b: Bundle) -> Bundle:
    b["trust_transitions"][-1]["reason"] = "operator_promotion"
    return _reseal(b)


def _forge_proof(b: Bundle) -> Bundle:
    proof = next(p for p in b["risk_ledger"]["proofs"] if p["type"] == "merkle")
    proof["path"][0] = "00" * 32
    return _reseal(b)


TAMPERS: dict[str, tuple[Callable[[Bundle], Bundle], str]] = {
    "untouched": (lambda b: b, "whole"), "untouched-filtered": (lambda b: b, "filtered"),
    "section": (_section, "whole"), "drop": (_drop_linked_entry, "filtered"), "flip": (_flip_decision, "whole"),
    "flip-filtered": (_flip_decision, "filtered"), "forensic": (_edit_forensic, "whole"),
    "unredact": (_unredact, "filtered"), "count": (_count, "whole"), "schema": (_schema, "filtered"),
    "trust-view": (_trust_view, "whole"), "proof": (_forge_proof, "filtered"),
}


@pytest.fixture()
def bundles(ledger_store: AuditStore) -> dict[str, Bundle]:
    return {"whole": build_bundle(ledger_store),
            "filtered": build_bundle(ledger_store, bundle_filter=BundleFilter(extension_id="ext.evil"),
                                     redaction=RedactionPolicy.full())}


def test_the_script_is_at_most_fifty_lines() -> None:
    assert len(SCRIPT.read_text().splitlines()) <= 50


@pytest.mark.parametrize("case", sorted(TAMPERS))
def test_script_and_bundle_verify_agree(bundles: dict[str, Bundle], incident_ledger: Path, tmp_path: Path,
                                        case: str) -> None:
    tamper, which = TAMPERS[case]
    bundle = tamper(copy.deepcopy(bundles[which]))
    key = (incident_ledger / "ledger-signing.pub").read_text().strip()
    path = tmp_path / "bundle.json"
    path.write_text(json.dumps(bundle))
    ours = verify_bundle(path, public_key=key).failed_steps
    run = subprocess.run([sys.executable, str(SCRIPT), str(path), key], capture_output=True, text=True, timeout=60)
    theirs = [line.removeprefix("FAILED: ") for line in run.stdout.splitlines() if line.startswith("FAILED: ")]
    assert run.returncode == (1 if ours else 0), run.stderr
    assert theirs == ours
    assert (ours == []) == case.startswith("untouched")
    other = subprocess.run([sys.executable, str(SCRIPT), str(path), "ab" * 32], capture_output=True, text=True,
                           timeout=60)
    assert "FAILED: chain" in other.stdout and other.returncode == 1


@pytest.mark.parametrize("damage", ["truncated", "not-an-object", "missing-section"])
def test_the_script_fails_a_damaged_bundle_without_a_traceback(bundles: dict[str, Bundle], tmp_path: Path,
                                                                damage: str) -> None:
    text = json.dumps(bundles["whole"])
    if damage == "truncated":
        text = text[: len(text) // 2]
    elif damage == "not-an-object":
        text = "[1, 2]"
    else:
        broken = copy.deepcopy(bundles["whole"])
        del broken["risk_ledger"]
        text = json.dumps(broken)
    path = tmp_path / "bundle.json"
    path.write_text(text)
    run = subprocess.run([sys.executable, str(SCRIPT), str(path)], capture_output=True, text=True, timeout=60)
    assert run.returncode == 1 and "Traceback" not in run.stderr, run.stderr
    assert run.stdout.startswith("FAILED: readable (") and "VALID" not in run.stdout.replace("FAILED", "")
