"""Records the scanner produces: findings, per-file results, the whole-extension report."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

from pi_sandbox.hashing import sha256_hex
from pi_sandbox.scanner.rules import FLAGGED, FORBIDDEN, RULES

PASS: Final = "pass"
WARN: Final = "warn"
FAIL: Final = "fail"

EXCERPT_MAX: Final = 120


@dataclass(frozen=True)
class Finding:
    """One rule match: where it is, what it is, and why it matters."""

    rule_id: str
    cls: str
    file: str
    line: int
    column: int
    excerpt: str
    explanation: str
    capability: str | None = None

    @property
    def fingerprint(self) -> str:
        """A stable hash of the finding (rule, file, position, excerpt); ledgers store this, not code."""
        return sha256_hex(f"{self.rule_id}\0{self.file}\0{self.line}\0{self.column}\0{self.excerpt}")

    def sort_key(self) -> tuple[int, str, int, int, str]:
        """Forbidden first, then file, line, column, rule."""
        return (0 if self.cls == FORBIDDEN else 1, self.file, self.line, self.column, self.rule_id)


def make_finding(rule_id: str, file: str, line: int, column: int, excerpt: str, detail: str = "") -> Finding:
    """Build a finding for ``rule_id``; ``detail`` (e.g. the module name) is appended to the explanation."""
    rule = RULES[rule_id]
    explanation = rule.explanation if not detail else f"{rule.explanation}: {detail}"
    return Finding(
        rule_id=rule.id,
        cls=rule.cls,
        file=file,
        line=line,
        column=column,
        excerpt=excerpt,
        explanation=explanation,
        capability=rule.capability,
    )


@dataclass(frozen=True)
class FileResult:
    """What the scanner learned about one file."""

    path: str
    language: str | None
    lines: int
    size: int
    sha256: str
    findings: tuple[Finding, ...]
    capabilities: frozenset[str] = field(default_factory=frozenset)
    relative_imports: tuple[str, ...] = ()


@dataclass(frozen=True)
class SkippedFile:
    """A file that is not JavaScript/TypeScript source (listed, never silently dropped)."""

    path: str
    reason: str


@dataclass(frozen=True)
class ScanReport:
    """The whole-extension scan: per-file findings, implied capabilities and the verdict."""

    root: str
    files: tuple[FileResult, ...]
    skipped: tuple[SkippedFile, ...]
    content_hash: str
    duration_s: float

    @property
    def findings(self) -> tuple[Finding, ...]:
        """Every finding of every file, forbidden first."""
        return tuple(sorted((f for fr in self.files for f in fr.findings), key=Finding.sort_key))

    @property
    def forbidden_count(self) -> int:
        """Number of forbidden findings."""
        return sum(1 for fr in self.files for f in fr.findings if f.cls == FORBIDDEN)

    @property
    def flagged_count(self) -> int:
        """Number of flagged findings."""
        return sum(1 for fr in self.files for f in fr.findings if f.cls == FLAGGED)

    @property
    def verdict(self) -> str:
        """``fail`` with any forbidden finding, ``warn`` with flagged ones only, else ``pass``."""
        if self.forbidden_count:
            return FAIL
        return WARN if self.flagged_count else PASS

    @property
    def capabilities(self) -> tuple[str, ...]:
        """Capabilities the findings and capability evidence imply, sorted."""
        caps: set[str] = set()
        for fr in self.files:
            caps |= fr.capabilities
            caps.update(f.capability for f in fr.findings if f.capability)
        return tuple(sorted(caps))

    @property
    def total_lines(self) -> int:
        """Lines of JS/TS source scanned."""
        return sum(fr.lines for fr in self.files)

    @property
    def finding_hashes(self) -> tuple[str, ...]:
        """Fingerprints of every finding, in report order."""
        return tuple(f.fingerprint for f in self.findings)
