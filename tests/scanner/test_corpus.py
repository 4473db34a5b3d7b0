"""The scanner against its own corpus: every sample's class, detection rate, benign-forbidden rate."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from pi_sandbox.scanner.walker import scan_path

CORPUS = Path(__file__).parent / "corpus"
VERDICT_CLASS = {"fail": "forbidden", "warn": "flagged", "pass": "safe"}


def _rows() -> list[dict[str, str]]:
    with (CORPUS / "expected.csv").open(newline="") as handle:
        return list(csv.DictReader(handle))


ROWS = _rows()


def _class_of(sample: str) -> str:
    return VERDICT_CLASS[scan_path(CORPUS / sample).verdict]


def test_corpus_size_and_table_matches_files() -> None:
    malicious = [r for r in ROWS if r["sample"].startswith("malicious/")]
    benign = [r for r in ROWS if r["sample"].startswith("benign/")]
    assert len(malicious) >= 80
    assert len(benign) >= 40
    # optional builtins (net, tls, dgram, worker_threads, cluster) are flagged with their capability
    assert all(r["expected"] in ("forbidden", "flagged") for r in malicious)
    assert all(r["expected"] in ("safe", "flagged") for r in benign)
    listed = {r["sample"] for r in ROWS}
    on_disk = {f"{kind}/{p.name}" for kind in ("malicious", "benign") for p in (CORPUS / kind).iterdir()}
    assert listed == on_disk, "expected.csv and the corpus folders disagree"


@pytest.mark.parametrize("row", ROWS, ids=[r["sample"] for r in ROWS])
def test_sample_class(row: dict[str, str]) -> None:
    assert _class_of(row["sample"]) == row["expected"], row["technique"]


def test_detection_and_false_positive_rates(capsys: pytest.CaptureFixture[str]) -> None:
    malicious = [r for r in ROWS if r["sample"].startswith("malicious/")]
    benign = [r for r in ROWS if r["sample"].startswith("benign/")]
    detected = sum(_class_of(r["sample"]) == r["expected"] for r in malicious)
    benign_forbidden = sum(_class_of(r["sample"]) == "forbidden" for r in benign)
    detection = detected / len(malicious)
    fp_rate = benign_forbidden / len(benign)
    with capsys.disabled():
        print(f"\nscanner corpus: detection {detected}/{len(malicious)} = {detection:.1%}; "
              f"benign marked forbidden {benign_forbidden}/{len(benign)} = {fp_rate:.1%}")
    assert detection >= 0.98
    assert benign_forbidden == 0


def test_every_technique_named_in_the_runbook_is_covered() -> None:
    techniques = {r["technique"] for r in ROWS if r["sample"].startswith("malicious/")}
    for needed in ("dynamic-require-resolved", "string-concatenation", "encoded-payload", "prototype-pollution",
                   "aliasing", "computed-globalThis", "constructor-chain", "setTimeout-string", "process.binding",
                   "forbidden-builtin-import", "forbidden-builtin-require", "forbidden-builtin-dynamic-import",
                   "require.cache", "multi-line", "line-separator", "unicode-escape-identifier",
                   "typescript-syntax", "node_modules", "syntax-error"):
        assert needed in techniques, needed


def test_every_rule_fires_in_the_corpus_or_a_file_system_test() -> None:
    from pi_sandbox.scanner.rules import RULES
    from pi_sandbox.scanner.walker import scan_source
    from tests.scanner.techniques import BENIGN, HOSTILE, PRECISION

    seen: set[str] = set()
    for row in ROWS:
        seen |= {f.rule_id for f in scan_path(CORPUS / row["sample"]).findings}
    sources = [s for samples in HOSTILE.values() for s, _ in samples]
    sources += [s for samples in BENIGN.values() for s in samples] + [s for _, s, _ in PRECISION]
    for source in sources:
        seen |= {f.rule_id for f in scan_source(source.encode(), "src/x.js", "javascript").findings}
    # These need file-system situations (links, permissions, size, binaries): see test_findings.py.
    file_system_rules = {"FILE_TOO_LARGE", "SYMLINK", "UNREADABLE_FILE", "NATIVE_ADDON_FILE", "SPECIAL_FILE"}
    assert set(RULES) - seen == file_system_rules
