"""Renderings of a scan report: JSON (``pi.security.scan_report.v1``), SARIF 2.1.0 and a text table."""

from __future__ import annotations

from typing import Any, Final

from pi_sandbox import __version__
from pi_sandbox.scanner.model import CONTEXT_LABELS, FileResult, Finding, ScanReport
from pi_sandbox.scanner.rules import FORBIDDEN, RULES
from pi_sandbox.schemas import SCAN_REPORT

SARIF_SCHEMA_URI: Final = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
TOOL_NAME: Final = "pi-sandbox-scanner"
INFORMATION_URI: Final = "https://github.com/pi-sandbox/pi-sandbox/blob/main/docs/scanner.md"


def finding_dict(finding: Finding) -> dict[str, Any]:
    """One finding as JSON."""
    return {
        "rule": finding.rule_id,
        "class": finding.cls,
        "file": finding.file,
        "line": finding.line,
        "column": finding.column,
        "excerpt": finding.excerpt,
        "explanation": finding.explanation,
        "capability": finding.capability,
        "severity": finding.severity,
        "context": finding.context,
        "fingerprint": finding.fingerprint,
    }


def _file_dict(result: FileResult) -> dict[str, Any]:
    return {
        "path": result.path,
        "language": result.language,
        "lines": result.lines,
        "bytes": result.size,
        "sha256": result.sha256,
        "context": result.context,
        "findings": [finding_dict(f) for f in result.findings],
    }


def to_json(report: ScanReport) -> dict[str, Any]:
    """The report as a ``pi.security.scan_report.v1`` document."""
    rule_counts: dict[str, int] = {}
    for finding in report.findings:
        rule_counts[finding.rule_id] = rule_counts.get(finding.rule_id, 0) + 1
    apart: dict[str, int] = {}
    for finding in report.separate_findings:
        apart[finding.context] = apart.get(finding.context, 0) + 1
    return {
        "schema": SCAN_REPORT,
        "scanner_version": __version__,
        "root": report.root,
        "verdict": report.verdict,
        "content_hash": report.content_hash,
        "capabilities": list(report.capabilities),
        "counts": {
            "forbidden": report.forbidden_count,
            "flagged": report.flagged_count,
            "files_scanned": len(report.files),
            "files_skipped": len(report.skipped),
            "lines": report.total_lines,
            "by_rule": dict(sorted(rule_counts.items())),
            "reported_apart": dict(sorted(apart.items())),
        },
        "duration_ms": round(report.duration_s * 1000, 1),
        "files": [_file_dict(f) for f in report.files],
        "skipped": [{"path": s.path, "reason": s.reason} for s in report.skipped],
    }


def to_sarif(report: ScanReport) -> dict[str, Any]:
    """The report as a SARIF 2.1.0 log (one run, one result per finding)."""
    used = sorted({f.rule_id for f in report.all_findings})
    index = {rule_id: i for i, rule_id in enumerate(used)}
    rules = [
        {
            "id": rule_id,
            "name": rule_id.title().replace("_", ""),
            "shortDescription": {"text": RULES[rule_id].explanation},
            "defaultConfiguration": {"level": "error" if RULES[rule_id].cls == FORBIDDEN else "warning"},
            "properties": {"class": RULES[rule_id].cls, "capability": RULES[rule_id].capability},
        }
        for rule_id in used
    ]
    results = [
        {
            "ruleId": f.rule_id,
            "ruleIndex": index[f.rule_id],
            # findings in code that never runs in the sandbox are notes: reported, never failing a build
            "level": "note" if not f.counts else "error" if f.cls == FORBIDDEN else "warning",
            "message": {"text": f"{f.explanation} ({f.cls}{'' if f.counts else ', ' + f.context})"},
            "locations": [
                {
                    "physicalLocation": {
                        "artifactLocation": {"uri": f.file, "uriBaseId": "EXTROOT"},
                        "region": {
                            "startLine": f.line,
                            "startColumn": f.column,
                            "snippet": {"text": f.excerpt},
                        },
                    }
                }
            ],
            "partialFingerprints": {"piFinding/v1": f.fingerprint},
            "properties": {"class": f.cls, "severity": f.severity, "context": f.context},
        }
        for f in report.all_findings
    ]
    return {
        "$schema": SARIF_SCHEMA_URI,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": TOOL_NAME,
                        "version": __version__,
                        "informationUri": INFORMATION_URI,
                        "rules": rules,
                    }
                },
                "originalUriBaseIds": {"EXTROOT": {"description": {"text": f"extension root {report.root}"}}},
                "results": results,
                "properties": {"verdict": report.verdict, "contentHash": report.content_hash},
            }
        ],
    }


def _table(findings: tuple[Finding, ...]) -> list[str]:
    rows = [(f.cls.upper(), f.rule_id, f"{f.file}:{f.line}:{f.column}", f.excerpt) for f in findings]
    widths = [max(len(r[i]) for r in rows + [("CLASS", "RULE", "LOCATION", "")]) for i in range(3)]
    header = ("CLASS", "RULE", "LOCATION", "EXCERPT")
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, [*widths, 0], strict=True)).rstrip()]
    for row in rows:
        lines.append("  ".join(c.ljust(w) for c, w in zip(row, [*widths, 0], strict=True)).rstrip())
    return lines


def flow_lines(report: ScanReport) -> list[str]:
    """``file:line: atob(…) → k → `g[k]` `` for every finding that explains its flow."""
    return list(dict.fromkeys(f"  {f.file}:{f.line}: {f.explanation.rsplit('flow: ', 1)[1]}"
                              for f in report.findings if "flow: " in f.explanation))


def apart_summary(report: ScanReport) -> str | None:
    """One line on the findings reported apart (served packages, type declarations, fixtures), if any."""
    by_context: dict[str, int] = {}
    for f in report.separate_findings:
        by_context[f.context] = by_context.get(f.context, 0) + 1
    if not by_context:
        return None
    summary = ", ".join(f"{n} in {CONTEXT_LABELS.get(c, c)}" for c, n in sorted(by_context.items()))
    return f"reported apart (code that never runs in the sandbox; not part of the verdict): {summary}"


def render_text(report: ScanReport) -> str:
    """A human-readable table of findings (flows under them), the findings reported apart, the verdict line."""
    lines: list[str] = []
    findings = report.findings
    apart = apart_summary(report)
    if apart is not None:
        lines.append(apart)
        lines.extend(_table(report.separate_findings))
        lines.append("")
    if findings:
        lines.extend(_table(findings))
        lines.append("")
        seen: set[str] = set()
        for f in findings:
            if f.rule_id not in seen:
                seen.add(f.rule_id)
                lines.append(f"  {f.rule_id}: {RULES[f.rule_id].explanation}")
        lines.extend(flow_lines(report))
        lines.append("")
    caps = ", ".join(report.capabilities) or "none"
    lines.append(
        f"verdict: {report.verdict.upper()}  ({report.forbidden_count} forbidden, {report.flagged_count} flagged; "
        f"{len(report.files)} files, {report.total_lines} lines scanned, {len(report.skipped)} non-source files "
        f"listed; implied capabilities: {caps})"
    )
    return "\n".join(lines)
