"""What the exec classifier reports: findings, per-command units and the overall classification."""

from __future__ import annotations

from dataclasses import dataclass, field

from pi_sandbox.mediation import exec_rules as R


@dataclass(frozen=True, slots=True)
class Finding:
    """One reason a command is risky: its class, the class's tier, and the rule that matched."""

    command_class: str
    risk_tier: str
    rule: str


@dataclass(slots=True)
class Unit:
    """One simple command: its argv variants (as written, then each unwrapped form) and own findings."""

    argv: tuple[str, ...]
    variants: list[tuple[str, ...]] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class ExecClassification:
    """Result of classifying one command: every finding, the worst one, and the per-command units."""

    findings: tuple[Finding, ...]
    units: tuple[Unit, ...] = ()
    #: files read while classifying: (path as written, SHA-256 of the text or why it was unavailable)
    inspected: tuple[tuple[str, str], ...] = ()

    @property
    def worst(self) -> Finding | None:
        """The finding with the highest tier (first one wins ties)."""
        best: Finding | None = None
        for finding in self.findings:
            if best is None or R.TIER_RANK[finding.risk_tier] > R.TIER_RANK[best.risk_tier]:
                best = finding
        return best

    @property
    def command_class(self) -> str | None:
        """Class of the worst finding (None when nothing matched)."""
        return self.worst.command_class if self.worst else None

    @property
    def risk_tier(self) -> str | None:
        """Worst tier (None when nothing matched)."""
        return self.worst.risk_tier if self.worst else None

    @property
    def rule(self) -> str | None:
        """Rule id of the worst finding."""
        return self.worst.rule if self.worst else None

    @property
    def classes(self) -> tuple[str, ...]:
        """Every distinct class found, in order of first appearance."""
        return tuple(dict.fromkeys(f.command_class for f in self.findings))
