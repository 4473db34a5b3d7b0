"""Exec mediation: turn a command's classification into allow / allow_with_audit / deny.

Order (deny wins over allow, unlike the reference, whose allow-prefix check came first):

1. a **critical** finding denies, whatever the profile, ``allowDangerous``, the threshold, an allow
   pattern, or ``enabled: false`` say (fail closed: these classes are never a matter of settings);
2. mediation disabled → allow;
3. a deny pattern matches any simple command (as written or unwrapped) → deny;
4. simple commands matching an allow pattern (as written) drop their *own* non-critical findings — a
   command they are chained with (``&&``, ``;``, pipes, substitutions) is still judged;
5. worst remaining tier ≥ threshold → deny; else classified → allow_with_audit (if auditing) or allow.

Patterns are shell words (``git push *``); each word is a glob (``fnmatch``) matched against one
argv word, the program word by base name; a pattern matches when its words match the start of the
argv, and a final ``$`` word requires the argv to end there.
"""

from __future__ import annotations

import fnmatch
import shlex
import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final

from pi_sandbox.config.model import ExecMediationSettings
from pi_sandbox.errors import MediationError
from pi_sandbox.hashing import canonical_json, sha256_hex
from pi_sandbox.mediation.exec_classifier import ExecClassification, ExecClassifier, Finding
from pi_sandbox.mediation.exec_rules import TIER_RANK
from pi_sandbox.mediation.script_source import ScriptSource

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
    #: files the classification read (SHA-256 of each text, or why it was unavailable), in order
    scripts: tuple[str, ...] = ()

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
            "scripts": list(self.scripts),
        }


@dataclass(frozen=True, slots=True)
class MediationRequest:
    """Everything about one exec call that decides what will really run."""

    cmd: str
    args: tuple[str, ...] = ()
    stdin: str | None = None
    env: Mapping[str, str] = field(default_factory=dict)
    cwd: str | None = None
    scripts: ScriptSource | None = None

    def cache_key(self) -> tuple[object, ...]:
        """The inputs a decision depends on when it read no file."""
        return (self.cmd, self.args, self.stdin, tuple(sorted(self.env.items())), self.cwd)


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
        self.allow_env = frozenset(settings.allow_env)
        self.classifier = classifier or ExecClassifier()
        self._cache: OrderedDict[tuple[object, ...], ExecMediationDecision] = OrderedDict()
        self._lock = threading.Lock()

    def evaluate(
        self,
        cmd: str,
        args: Sequence[str] = (),
        *,
        stdin: str | None = None,
        env: Mapping[str, str] | None = None,
        cwd: str | None = None,
        scripts: ScriptSource | None = None,
        cached: bool = True,
    ) -> ExecMediationDecision:
        """Decide about running ``cmd`` with ``args`` (explicit argv), fed ``stdin``, with ``env`` set.

        ``scripts`` gives the text of files the command runs (``sh x``, ``./x``, ``make``, ``npm test``);
        without it those files are ``unreadable_script``. See :meth:`evaluate_request`.
        """
        request = MediationRequest(cmd, tuple(args), stdin, dict(env or {}), cwd, scripts)
        return self.evaluate_request(request, cached=cached)

    def evaluate_request(self, request: MediationRequest, *, cached: bool = True) -> ExecMediationDecision:
        """Decide about one exec call.

        Recent decisions are cached (agents repeat ``git status`` / ``npm test`` constantly), but only
        those that read no file: a script's text can change between two identical calls. The cache
        holds decisions, which carry hashes only.
        """
        key = request.cache_key()
        if cached:
            with self._lock:
                hit = self._cache.get(key)
                if hit is not None:
                    self._cache.move_to_end(key)
                    return hit
        digest = command_hash(request.cmd, request.args)
        result = self.classifier.classify(
            request.cmd, request.args, stdin=request.stdin, env=request.env, scripts=request.scripts,
            cwd=request.cwd, allow_env=self.allow_env,
        )
        decision = self.decide(result, digest)
        if cached and not result.inspected:
            with self._lock:
                self._cache[key] = decision
                if len(self._cache) > DECISION_CACHE_SIZE:
                    self._cache.popitem(last=False)
        return decision

    def evaluate_script(
        self, text: str, *, scripts: ScriptSource | None = None, cwd: str | None = None, cached: bool = True
    ) -> ExecMediationDecision:
        """Decide about shell text as ``sh -c TEXT`` would run it (the ``bash`` tool)."""
        return self.evaluate("sh", ("-c", text), scripts=scripts, cwd=cwd, cached=cached)

    def decide(self, result: ExecClassification, digest: str) -> ExecMediationDecision:
        """Apply the critical rule, the switch, patterns and the threshold to a classification."""
        scripts = tuple(state for _path, state in result.inspected)
        critical = next((f for f in result.findings if f.risk_tier == "critical"), None)
        if critical is not None:
            return ExecMediationDecision(
                "deny", critical.command_class, "critical", "critical_always_denied", critical.rule, digest,
                result.classes, scripts,
            )
        if not self.enabled:
            return ExecMediationDecision("allow", None, None, "mediation_disabled", None, digest, (), scripts)
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
                            scripts,
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
                return ExecMediationDecision(
                    "allow", None, None, "allow_pattern", f"allow:{allowed_by}", digest, (), scripts
                )
            return ExecMediationDecision("allow", None, None, "unclassified", None, digest, (), scripts)
        if TIER_RANK[worst.risk_tier] >= TIER_RANK[self.threshold]:
            return ExecMediationDecision(
                "deny",
                worst.command_class,
                worst.risk_tier,
                f"tier_{worst.risk_tier}_at_or_above_{self.threshold}",
                worst.rule,
                digest,
                kept.classes,
                scripts,
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
            scripts,
        )
