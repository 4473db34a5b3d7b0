"""Exec mediation: turn a command's classification into allow / allow_with_audit / deny.

Order (deny wins over allow, unlike the reference, whose allow-prefix check came first):

1. mediation disabled → allow;
2. a deny pattern matches any simple command (as written or unwrapped) → deny;
3. simple commands matching an allow pattern (as written) drop their *own* findings — a command they
   are chained with (``&&``, ``;``, pipes, substitutions) is still judged;
4. worst remaining tier ≥ threshold → deny; else classified → allow_with_audit (if auditing) or allow.

Patterns are shell words (``git push *``); each word is a glob (``fnmatch``) matched against one
argv word, the program word by base name; a pattern matches when its words match the start of the
argv, and a final ``$`` word requires the argv to end there.
"""

from __future__ import annotations

import fnmatch
import functools
import shlex
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from pi_sandbox.config.model import ExecMediationSettings
from pi_sandbox.errors import MediationError
from pi_sandbox.hashing import canonical_json, sha256_hex
from pi_sandbox.mediation.exec_classifier import ExecClassification, ExecClassifier, Finding
from pi_sandbox.mediation.exec_rules import TIER_RANK

DECISION_CACHE_SIZE: Final = 2048

#: profile → (deny threshold, audit every classified command)
PROFILE_PRESETS: Final = {
    "safe": ("high", True),
    "balanced": ("critical", True),
    "standard": ("critical", True),
    "permissive": ("critical", False),
}


@dataclass(frozen=True, slots=True)
class ExecMediationDecision:
    """What mediation decided about one command. Carries the command's hash, never its text."""

    decision: str  # allow | allow_with_audit | deny
    command_class: str | None
    risk_tier: str | None
    reason: str
    rule: str | None
    command_hash: str
    classes: tuple[str, ...] = ()

    @property
    def denied(self) -> bool:
        """True when the command must not run."""
        return self.decision == "deny"

    def record_payload(self) -> dict[str, object]:
        """The ``exec_mediation`` record: hashes and codes only."""
        return {
            "command_hash": self.command_hash,
            "command_class": self.command_class,
            "risk_tier": self.risk_tier,
            "decision": self.decision,
            "reason": self.reason,
            "rule": self.rule,
        }


def command_hash(cmd: str, args: Sequence[str]) -> str:
    """SHA-256 of the whole argv as canonical JSON (args included, unlike the reference)."""
    return sha256_hex(canonical_json([cmd, *args]))


@dataclass(frozen=True, slots=True)
class _Pattern:
    source: str
    words: tuple[str, ...]
    anchored: bool

    def matches(self, argv: Sequence[str]) -> bool:
        if not argv or len(argv) < len(self.words) or (self.anchored and len(argv) != len(self.words)):
            return False
        for i, (pat, word) in enumerate(zip(self.words, argv, strict=False)):
            if i == 0 and "/" not in pat:
                word = word.rsplit("/", 1)[-1]
            if not fnmatch.fnmatchcase(word, pat):
                return False
        return True


def compile_patterns(patterns: Sequence[str], what: str) -> tuple[_Pattern, ...]:
    """Parse settings patterns; a malformed one is a ``MediationError`` naming it."""
    out: list[_Pattern] = []
    for source in patterns:
        try:
            words = shlex.split(source)
        except ValueError as exc:
            raise MediationError(f"execMediation.{what}: pattern {source!r} is not valid shell words: {exc}") from None
        anchored = bool(words) and words[-1] == "$"
        if anchored:
            words = words[:-1]
        while words and words[-1] in ("*", "**") and not anchored:
            words = words[:-1]  # a trailing '*' means "any further arguments", which prefix matching already is
        if not words:
            raise MediationError(f"execMediation.{what}: pattern {source!r} matches every command; remove it")
        out.append(_Pattern(source, tuple(words), anchored))
    return tuple(out)


class ExecMediator:
    """Decides whether a command may run, for one profile and one set of mediation settings."""

    def __init__(self, settings: ExecMediationSettings, profile: str, classifier: ExecClassifier | None = None):
        threshold, audit = PROFILE_PRESETS.get(profile, PROFILE_PRESETS["safe"])
        if settings.deny_threshold is not None:
            if settings.deny_threshold not in TIER_RANK:
                raise MediationError(
                    f"execMediation.denyThreshold {settings.deny_threshold!r} is not one of low, medium, high, critical"
                )
            threshold = settings.deny_threshold
        self.enabled = settings.enabled
        self.threshold = threshold
        self.audit_all = audit if settings.audit_all_classified is None else settings.audit_all_classified
        self.deny_patterns = compile_patterns(settings.deny_patterns, "denyPatterns")
        self.allow_patterns = compile_patterns(settings.allow_patterns, "allowPatterns")
        self.classifier = classifier or ExecClassifier()
        self._evaluate_cached = functools.lru_cache(maxsize=DECISION_CACHE_SIZE)(self._evaluate_uncached)

    def evaluate(self, cmd: str, args: Sequence[str] = (), *, cached: bool = True) -> ExecMediationDecision:
        """Decide about running ``cmd`` with ``args`` (explicit argv).

        Decisions depend only on the argv and this mediator's settings, so recent ones are cached
        (agents repeat ``git status`` / ``npm test`` constantly); the cache holds decisions, which
        carry hashes only.
        """
        if cached:
            return self._evaluate_cached(cmd, tuple(args))
        return self._evaluate_uncached(cmd, tuple(args))

    def _evaluate_uncached(self, cmd: str, args: tuple[str, ...]) -> ExecMediationDecision:
        digest = command_hash(cmd, args)
        if not self.enabled:
            return ExecMediationDecision("allow", None, None, "mediation_disabled", None, digest)
        return self.decide(self.classifier.classify(cmd, args), digest)

    def evaluate_script(self, text: str, *, cached: bool = True) -> ExecMediationDecision:
        """Decide about shell text as ``sh -c TEXT`` would run it (the ``bash`` tool)."""
        if cached:
            return self._evaluate_cached("sh", ("-c", text))
        return self._evaluate_uncached("sh", ("-c", text))

    def decide(self, result: ExecClassification, digest: str) -> ExecMediationDecision:
        """Apply patterns and the threshold to a classification."""
        for unit in result.units:
            for variant in [unit.argv, *unit.variants]:
                for deny in self.deny_patterns:
                    if deny.matches(variant):
                        return ExecMediationDecision(
                            "deny",
                            result.command_class or "deny_pattern",
                            result.risk_tier,
                            "deny_pattern",
                            f"deny:{deny.source}",
                            digest,
                            result.classes,
                        )
        remaining: list[Finding] = []
        allowed_by: str | None = None
        for unit in result.units:
            pattern = next((p for p in self.allow_patterns if unit.argv and p.matches(unit.argv)), None)
            if pattern is not None:
                allowed_by = allowed_by or pattern.source
                continue
            remaining.extend(unit.findings)
        kept = ExecClassification(tuple(remaining))
        worst = kept.worst
        if worst is None:
            if allowed_by is not None and result.findings:
                return ExecMediationDecision("allow", None, None, "allow_pattern", f"allow:{allowed_by}", digest)
            return ExecMediationDecision("allow", None, None, "unclassified", None, digest)
        if TIER_RANK[worst.risk_tier] >= TIER_RANK[self.threshold]:
            return ExecMediationDecision(
                "deny",
                worst.command_class,
                worst.risk_tier,
                f"tier_{worst.risk_tier}_at_or_above_{self.threshold}",
                worst.rule,
                digest,
                kept.classes,
            )
        decision = "allow_with_audit" if self.audit_all else "allow"
        return ExecMediationDecision(
            decision,
            worst.command_class,
            worst.risk_tier,
            f"tier_{worst.risk_tier}_below_{self.threshold}",
            worst.rule,
            digest,
            kept.classes,
        )
