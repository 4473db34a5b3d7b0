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

#: Where a finding sits. Findings in code that never runs in the sandbox are reported apart and never
#: decide the verdict or the implied capabilities: the sandbox serves its own copy of a served package,
#: a type declaration holds no code, a test fixture nothing loads is not part of the extension.
EXTENSION: Final = "extension"
DEPENDENCY: Final = "dependency"
SERVED: Final = "served_dependency"
TYPES: Final = "type_declaration"
TEST_FIXTURE: Final = "test_fixture"
SEPARATE_CONTEXTS: Final = frozenset({SERVED, TYPES, TEST_FIXTURE})
CONTEXT_LABELS: Final = {SERVED: "served dependencies", TYPES: "type declarations", TEST_FIXTURE: "test fixtures",
                         DEPENDENCY: "dependencies", EXTENSION: "the extension's own code"}

#: Severity: the rule's class, raised one step when the value was hidden (encoded, built from pieces).
CRITICAL: Final = "critical"
HIGH: Final = "high"
MEDIUM: Final = "medium"
LOW: Final = "low"


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
    severity: str = MEDIUM
    context: str = EXTENSION

    @property
    def counts(self) -> bool:
        """Whether the finding decides the verdict (its code can run in the sandbox)."""
        return self.context not in SEPARATE_CONTEXTS

    @property
    def fingerprint(self) -> str:
        """A stable hash of the finding (rule, file, position, excerpt); ledgers store this, not code."""
        return sha256_hex(f"{self.rule_id}\0{self.file}\0{self.line}\0{self.column}\0{self.excerpt}")

    def sort_key(self) -> tuple[int, str, int, int, str]:
        """Forbidden first, then file, line, column, rule."""
        return (0 if self.cls == FORBIDDEN else 1, self.file, self.line, self.column, self.rule_id)


def severity_of(rule_id: str, hidden: bool) -> str:
    """Severity from the rule's class and capability, one step higher when the value was hidden."""
    rule = RULES[rule_id]
    if rule.cls == FORBIDDEN:
        return CRITICAL if hidden else HIGH
    base = MEDIUM if rule.capability in ("exec", "env", "http", "write") else LOW
    return HIGH if hidden else base


def make_finding(rule_id: str, file: str, line: int, column: int, excerpt: str, detail: str = "",
                 *, hidden: bool = False) -> Finding:
    """Build a finding for ``rule_id``; ``detail`` (e.g. the module name or the flow) follows the explanation."""
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
        severity=severity_of(rule_id, hidden or rule_id in _HIDING_RULES),
    )


#: Rules whose very nature is hiding (their severity is always the raised one).
_HIDING_RULES: Final = frozenset({"OBFUSCATED_ACCESS", "DECODED_PAYLOAD", "JSFUCK_CODE", "REFLECTIVE_LOOKUP"})


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
    context: str = EXTENSION


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
    def all_findings(self) -> tuple[Finding, ...]:
        """Every finding of every file, including those reported apart, forbidden first."""
        return tuple(sorted((f for fr in self.files for f in fr.findings), key=Finding.sort_key))

    @property
    def findings(self) -> tuple[Finding, ...]:
        """Findings that decide the verdict (code that runs in the sandbox), forbidden first."""
        return tuple(f for f in self.all_findings if f.counts)

    @property
    def separate_findings(self) -> tuple[Finding, ...]:
        """Findings reported apart: served dependencies, type declarations, unreferenced test fixtures."""
        return tuple(f for f in self.all_findings if not f.counts)

    @property
    def forbidden_count(self) -> int:
        """Number of forbidden findings that decide the verdict."""
        return sum(1 for fr in self.files for f in fr.findings if f.cls == FORBIDDEN and f.counts)

    @property
    def flagged_count(self) -> int:
        """Number of flagged findings that decide the verdict."""
        return sum(1 for fr in self.files for f in fr.findings if f.cls == FLAGGED and f.counts)

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
            if fr.context in SEPARATE_CONTEXTS:
                continue
            caps |= fr.capabilities
            caps.update(f.capability for f in fr.findings if f.capability and f.counts)
        return tuple(sorted(caps))

    @property
    def total_lines(self) -> int:
        """Lines of JS/TS source scanned."""
        return sum(fr.lines for fr in self.files)

    @property
    def finding_hashes(self) -> tuple[str, ...]:
        """Fingerprints of every finding (those reported apart too), in report order."""
        return tuple(f.fingerprint for f in self.all_findings)
