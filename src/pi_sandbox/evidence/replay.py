"""Forensic replay (runbook INC-3, ANALYZE): re-decide recorded hostcalls under the configuration in force.

For each hostcall entry, replay takes the configuration version the entry names (``detail.config_digest``)
and re-runs what is a pure function of configuration and request: the 5-layer policy and, for exec calls
whose command the forensic record keeps, exec mediation. It reports where the replayed decision differs
from the recorded one (a decision the rules of its time do not explain: a bypass, a bug or an edited
entry), where the configuration changed between entries, and where the chain breaks — entries from the
first break on are replayed but marked untrusted. Stages that depend on runtime state (trust, quota, risk,
paths on disk, secret values) cannot be re-derived; such refusals are reported as ``stateful``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from pi_sandbox.audit import AuditStore
from pi_sandbox.audit.chain import GENESIS
from pi_sandbox.audit.verify import verify_ledger
from pi_sandbox.capabilities import Capability
from pi_sandbox.config.model import SecurityConfig
from pi_sandbox.config.snapshot import from_snapshot
from pi_sandbox.errors import ConfigError, MediationError
from pi_sandbox.evidence.canon import entry_hash_of, gc_paused
from pi_sandbox.evidence.model import REDACTED
from pi_sandbox.mediation.exec_mediation import ExecMediator
from pi_sandbox.policy import CompiledPolicy
from pi_sandbox.progress import ProgressCallback, report
from pi_sandbox.vocabulary import PolicyOutcome

SCHEMA: Final = "pi.security.risk_replay.v1"
# Enum members looked up once: attribute access on an enum costs a descriptor call per entry.
_DENY: Final = PolicyOutcome.DENY
_PROMPT: Final = PolicyOutcome.PROMPT
_EXEC: Final = Capability.EXEC.value
#: Cached re-decisions kept during one replay before the cache starts over (bounds memory on long ledgers).
_CACHE_LIMIT: Final = 65536
#: Steps listed in a report (differences and untrusted entries first); the counts cover all of them.
MAX_LISTED: Final = 1000
#: Recorded stages whose refusals depend on runtime state, not on configuration alone.
_STATEFUL_STAGES: Final = frozenset({"trust", "quota", "risk", "connector", "capability"})
#: Mediation refusals that depend on the filesystem, the sandbox or secret values at the time.
_RUNTIME_REASONS: Final = frozenset({
    "path_outside_roots", "protected_path", "secret_file", "extension_code", "sandbox_unavailable",
    "secret_exposure", "secret_value_in_exec_args",
})


@dataclass(frozen=True, slots=True)
class ReplayStep:
    """One replayed entry: what was recorded, what the configuration of its time decides, and the verdict."""

    seq: int
    extension_id: str | None
    method: str | None
    capability: str | None
    recorded: str
    recorded_reason: str
    recorded_stage: str | None
    replayed: str | None
    replayed_reason: str | None
    #: ``match``, ``differs``, ``stateful`` (a runtime stage decided), ``not_replayable`` (no config version).
    status: str
    trusted: bool
    config_digest: str | None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {name: getattr(self, name) for name in self.__slots__}


@dataclass(frozen=True, slots=True)
class ReplayReport:
    """Outcome of a replay (schema ``pi.security.risk_replay.v1``)."""

    source: str
    replayed: int
    counts: Mapping[str, int]
    differences: tuple[ReplayStep, ...]
    config_changes: tuple[Mapping[str, Any], ...]
    chain_break_seq: int | None
    chain_findings: tuple[str, ...]
    untrusted: int
    listed: tuple[ReplayStep, ...] = field(default=())
    against: str = "recorded"
    #: What the runtime risk stage recorded (``detail.risk``): counts, the peak score and its alarms.
    risk: Mapping[str, Any] = field(default_factory=dict)

    @property
    def difference_count(self) -> int:
        """How many replayed decisions differ from the recorded ones."""
        return self.counts.get("differs", 0)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (the bundle's ``risk_replay`` section)."""
        return {
            "schema": SCHEMA, "source": self.source, "against": self.against, "replayed": self.replayed,
            "counts": dict(self.counts), "difference_count": self.difference_count,
            "chain_break_seq": self.chain_break_seq, "chain_findings": list(self.chain_findings),
            "untrusted": self.untrusted, "config_changes": [dict(c) for c in self.config_changes],
            "differences": [s.to_dict() for s in self.differences[:MAX_LISTED]],
            "steps": [s.to_dict() for s in self.listed[:MAX_LISTED]],
            "risk": dict(self.risk) or _RiskTally().to_dict(),
        }


class _RiskTally:
    """The risk stage's recorded decisions along the replayed timeline (it scores a call from the window of
    calls before it, runtime state replay cannot re-derive from configuration, so they are listed, not
    re-decided): how many calls were scored, refused, would have been refused in shadow mode, or failed,
    the peak score, and each alarm with its score, threshold and features."""

    __slots__ = ("scored", "denied", "shadow", "faults", "peak", "alarms")

    def __init__(self) -> None:
        self.scored = self.denied = self.shadow = self.faults = 0
        self.peak: float | None = None
        self.alarms: list[dict[str, Any]] = []

    def add(self, entry: Mapping[str, Any], risk: Mapping[str, Any], trusted: bool) -> None:
        score = risk.get("score")
        if isinstance(score, (int, float)) and not isinstance(score, bool):
            self.scored += 1
            self.peak = score if self.peak is None else max(self.peak, score)
        refused = entry["detail"].get("stage") == "risk" and entry["decision"] != "allow"
        self.denied += refused
        self.shadow += bool(risk.get("would_deny"))
        self.faults += risk.get("fault") is not None
        if (refused or risk.get("would_deny") or risk.get("fault") is not None) and len(self.alarms) < MAX_LISTED:
            self.alarms.append({
                "seq": entry["seq"], "extension_id": entry["extension_id"], "method": entry["method"],
                "decision": entry["decision"], "reason": entry["reason"], "score": score,
                "threshold": risk.get("threshold"), "p": risk.get("p"), "mode": risk.get("mode", "enforce"),
                "fault": risk.get("fault"), "features": risk.get("features"), "trusted": trusted})

    def to_dict(self) -> dict[str, Any]:
        return {"scored": self.scored, "denied": self.denied, "shadow_would_deny": self.shadow,
                "faults": self.faults, "peak_score": self.peak, "alarms": self.alarms}


class _Rules:
    """Compiled policy and exec mediator per configuration version (built once each)."""

    def __init__(self, config_for: Callable[[str], SecurityConfig | None]) -> None:
        self._config_for = config_for
        self._cache: dict[str, tuple[CompiledPolicy, ExecMediator | None] | None] = {}

    def get(self, digest: str | None) -> tuple[CompiledPolicy, ExecMediator | None] | None:
        key = digest or ""
        if key not in self._cache:
            config = self._config_for(key) if digest else None
            if config is None:
                self._cache[key] = None
            else:
                try:
                    mediator: ExecMediator | None = ExecMediator(config.exec_mediation, config.profile) \
                        if config.exec_mediation.enabled else None
                except MediationError:
                    mediator = None
                self._cache[key] = (CompiledPolicy.from_config(config), mediator)
        return self._cache[key]


def _argv(method: str | None, params: Mapping[str, Any] | None) -> tuple[str, list[str]] | None:
    """The argv an exec or bash call ran, when the forensic record kept it whole (not redacted or cut)."""
    if not isinstance(params, Mapping):
        return None
    if method == "exec":
        cmd, args = params.get("cmd"), params.get("args") or []
    elif method == "tool" and isinstance(params.get("input"), Mapping):
        cmd, args = "sh", ["-c", params["input"].get("command")]
    else:
        return None
    if not isinstance(cmd, str) or not isinstance(args, list) or not all(isinstance(a, str) for a in args):
        return None
    if REDACTED in (cmd, *args):  # the broker withheld a value: the real argv is unknown
        return None
    return cmd, list(args)


def _redecide(entry: Mapping[str, Any], rules: tuple[CompiledPolicy, ExecMediator | None],
              params_for: Callable[[int], Mapping[str, Any] | None], cache: dict[Any, Any]) -> tuple[str, str, str]:
    """(decision, reason, stage) the configuration gives for the recorded request.

    ``cache`` keeps decisions per (rules, capability, extension) and per (rules, argv): both are pure
    functions of the configuration and the request, and a long ledger repeats them a lot."""
    policy, mediator = rules
    key = (id(policy), entry["capability"], entry["extension_id"])
    decision = cache.get(key)
    if decision is None:
        decision = cache[key] = policy.evaluate(Capability(entry["capability"]), entry["extension_id"])
    if decision.decision == _DENY:
        return "deny", str(decision.reason), "policy"
    if decision.decision == _PROMPT or entry["detail"].get("probation"):
        return "prompt", str(decision.reason), "policy"
    argv = _argv(entry["method"], params_for(entry["seq"])) if entry["capability"] == _EXEC else None
    if argv is not None and mediator is not None:
        argv_key = (id(mediator), argv[0], *argv[1])
        verdict = cache.get(argv_key)
        if verdict is None:
            if len(cache) > _CACHE_LIMIT:
                cache.clear()
            verdict = cache[argv_key] = mediator.evaluate(*argv, cached=False)
        return ("deny" if verdict.denied else "allow"), (verdict.reason if verdict.denied else str(decision.reason)), \
            "mediation"
    return "allow", str(decision.reason), "policy"


def _status(entry: Mapping[str, Any], replayed: tuple[str, str, str]) -> str:
    """``match``, ``differs`` or ``stateful`` for a recorded entry and its replayed decision."""
    recorded, reason, stage = entry["decision"], entry["reason"], entry["detail"].get("stage")
    decision, replayed_reason, replayed_stage = replayed
    if stage in ("trust", "capability"):  # decided before policy, from runtime state or the request's shape
        return "stateful"
    if decision == "prompt":  # the user's (or the headless) answer is not configuration
        return "match" if reason.startswith("prompt_") else "stateful" if recorded != "allow" and \
            stage != "policy" else "differs"
    if recorded == "allow":
        return "match" if decision == "allow" else "differs"
    if decision == "deny" and replayed_stage == "policy":
        return "match" if stage == "policy" and replayed_reason == reason else "differs"
    if stage == "policy":
        return "differs"  # refused by a policy the configuration of its time does not have
    if stage == "mediation" and replayed_stage == "mediation":
        if decision == "deny" and replayed_reason == reason:
            return "match"
        return "stateful" if reason in _RUNTIME_REASONS else "differs"
    return "stateful"  # quota, risk, connector, or a mediation refusal whose command was not kept


def replay_entries(
    entries: Iterable[Mapping[str, Any]],
    *,
    config_for: Callable[[str], SecurityConfig | None],
    params_for: Callable[[int], Mapping[str, Any] | None],
    chain_break_seq: int | None = None,
    chain_findings: Iterable[str] = (),
    until_seq: int | None = None,
    extension_id: str | None = None,
    source: str = "ledger",
    against: SecurityConfig | None = None,
    progress: ProgressCallback | None = None,
) -> ReplayReport:
    """Replay hostcall ``entries`` (dicts with the ledger fields, chain order).

    ``config_for(digest)`` returns the configuration version (None if unknown); ``params_for(seq)`` the
    redacted parameters of the forensic record. ``against`` re-decides every entry under one configuration
    instead (e.g. the current one: "what would the policy of today have decided?").
    """
    rules = _Rules((lambda _d: against) if against is not None else config_for)
    counts = {"match": 0, "differs": 0, "stateful": 0, "not_replayable": 0}
    differences: list[ReplayStep] = []
    listed: list[ReplayStep] = []
    changes: list[dict[str, Any]] = []
    previous_digest: str | None = None
    replayed = untrusted = 0
    cache: dict[Any, Any] = {}
    risk = _RiskTally()
    for index, entry in enumerate(entries):
        seq = entry["seq"]
        if until_seq is not None and seq > until_seq:
            break
        digest = entry["detail"].get("config_digest")
        if isinstance(digest, str) and digest != previous_digest:
            if previous_digest is not None:
                changes.append(_change(seq, previous_digest, digest, config_for))
            previous_digest = digest
        if entry["kind"] != "hostcall" or entry["capability"] is None or \
                (extension_id is not None and entry["extension_id"] != extension_id):
            continue
        trusted = chain_break_seq is None or seq < chain_break_seq
        recorded_risk = entry["detail"].get("risk")
        if isinstance(recorded_risk, Mapping):
            risk.add(entry, recorded_risk, trusted)
        chosen = rules.get(digest if isinstance(digest, str) else None) if against is None else rules.get("current")
        outcome = None if chosen is None else _redecide(entry, chosen, params_for, cache)
        status = "not_replayable" if outcome is None else _status(entry, outcome)
        replayed += 1
        untrusted += not trusted
        counts[status] += 1
        if status == "differs" or not trusted:  # a step object only for what the report lists
            step = _step(entry, outcome, status, trusted)
            if status == "differs":
                differences.append(step)
            listed.append(step)
        if index % 10000 == 0:
            report(progress, index, None, "replaying")
    return ReplayReport(source, replayed, counts, tuple(differences), tuple(changes), chain_break_seq,
                        tuple(chain_findings), untrusted, tuple(listed),
                        "current" if against is not None else "recorded", risk.to_dict())


def _step(entry: Mapping[str, Any], outcome: tuple[str, str, str] | None, status: str, trusted: bool) -> ReplayStep:
    digest = entry["detail"].get("config_digest")
    return ReplayStep(entry["seq"], entry["extension_id"], entry["method"], entry["capability"], entry["decision"],
                      entry["reason"], entry["detail"].get("stage"), outcome[0] if outcome else None,
                      outcome[1] if outcome else None, status, trusted, digest if isinstance(digest, str) else None)


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for key, item in value.items():
            out.update(_flatten(item, f"{prefix}{key}."))
        return out
    return {prefix.rstrip("."): value}


def _change(seq: int, before: str, after: str, config_for: Callable[[str], SecurityConfig | None]) -> dict[str, Any]:
    """A configuration change between two entries, with the settings that changed."""
    from pi_sandbox.config.model import ExtensionOverride
    from pi_sandbox.config.snapshot import plain, snapshot

    old, new = config_for(before), config_for(after)
    changed: list[str] = []
    if old is not None and new is not None:
        a, b = _flatten(snapshot(old)), _flatten(snapshot(new))
        defaults = _flatten(plain(ExtensionOverride()))

        def appearing_default(key: str, value: Any) -> bool:
            # A key only one side has is a default appearing (a new override), not a change, when its value is
            # empty or what an override holds by default (``sources``).
            return value in (None, False, [], {}, "") or (key.startswith("per_extension.") and any(
                key.endswith("." + name) and value == default for name, default in defaults.items()))

        # Provenance records where values came from, not what they are.
        changed = sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k) and not k.startswith("provenance.")
                         and (k in a and k in b or not appearing_default(k, a.get(k, b.get(k)))))
    return {"seq": seq, "from_digest": before, "to_digest": after, "changed": changed}


def config_lookup(snapshots: Callable[[str], Mapping[str, Any] | None]) -> Callable[[str], SecurityConfig | None]:
    """``digest -> configuration`` over stored snapshots, each rebuilt once (None when unknown or unusable)."""
    cache: dict[str, SecurityConfig | None] = {}

    def lookup(digest: str) -> SecurityConfig | None:
        if digest not in cache:
            body = snapshots(digest)
            try:
                cache[digest] = from_snapshot(body) if body is not None else None
            except ConfigError:
                cache[digest] = None
        return cache[digest]

    return lookup


def replay_ledger(store: AuditStore, *, until_seq: int | None = None, extension_id: str | None = None,
                  against: SecurityConfig | None = None, progress: ProgressCallback | None = None) -> ReplayReport:
    """Replay the live ledger of ``store``; the chain is verified first and entries from its first break on
    are marked untrusted."""
    with gc_paused():
        return _replay_ledger(store, until_seq, extension_id, against, progress)


def _replay_ledger(store: AuditStore, until_seq: int | None, extension_id: str | None,
                   against: SecurityConfig | None, progress: ProgressCallback | None) -> ReplayReport:
    verification = verify_ledger(store)
    findings = [f"seq {e.seq}: {e.kind}: {e.message}" for e in verification.verification_errors]
    head, _ = store.head()
    rows = store.raw_ledger(head if until_seq is None else min(head, until_seq))
    entries = [parsed_row(r) for r in rows]
    forensic = store.raw_forensic_records(1, rows[-1][0]) if rows else {}

    def params_for(seq: int) -> Mapping[str, Any] | None:  # parsed only for the exec calls replay re-decides
        text = forensic.get(seq)
        item = json.loads(text).get("disclosed", {}).get("params") if text is not None else None
        return item.get("value") if isinstance(item, Mapping) else None

    return replay_entries(entries, config_for=config_lookup(store.config_version), params_for=params_for,
                          chain_break_seq=verification.first_invalid_seq, chain_findings=findings[:50],
                          until_seq=until_seq, extension_id=extension_id, against=against, progress=progress)


def parsed_row(row: Sequence[Any]) -> dict[str, Any]:
    """A ledger entry dict (without ``schema``) from a row of ``store.raw_ledger``."""
    return {"seq": row[0], "ts_ms": row[1], "kind": row[2], "extension_id": row[3], "call_id": row[4],
            "capability": row[5], "method": row[6], "params_hash": row[7], "decision": row[8], "layer": row[9],
            "reason": row[10], "detail": json.loads(row[11]), "prev_hash": row[12], "entry_hash": row[13]}


def chain_break(entries: list[Mapping[str, Any]], complete: bool) -> tuple[int | None, list[str]]:
    """The first seq where a bundle's entries stop hashing or linking (None when intact), and why."""
    previous: Mapping[str, Any] | None = None
    for entry in entries:
        seq = entry["seq"]
        try:
            digest = entry_hash_of(entry)
        except (KeyError, TypeError, ValueError):
            return seq, [f"entry {seq} is malformed"]
        if digest != entry["entry_hash"]:
            return seq, [f"entry {seq} does not hash to its entry_hash"]
        if previous is not None and seq == previous["seq"] + 1 and entry["prev_hash"] != previous["entry_hash"]:
            return seq, [f"entry {seq} does not link to entry {previous['seq']}"]
        if previous is None and complete and entry["prev_hash"] != GENESIS:
            return seq, [f"entry {seq} does not start from GENESIS"]
        previous = entry
    return None, []


def replay_bundle(bundle: Mapping[str, Any], *, until_seq: int | None = None, extension_id: str | None = None,
                  against: SecurityConfig | None = None, progress: ProgressCallback | None = None) -> ReplayReport:
    """Replay the entries an evidence bundle carries, under the configuration versions it carries."""
    with gc_paused():
        return _replay_bundle(bundle, until_seq, extension_id, against, progress)


def _replay_bundle(bundle: Mapping[str, Any], until_seq: int | None, extension_id: str | None,
                   against: SecurityConfig | None, progress: ProgressCallback | None) -> ReplayReport:
    ledger = bundle["risk_ledger"]
    entries = list(ledger["entries"])
    versions: Mapping[str, Any] = bundle.get("config", {}).get("versions", {})
    forensic: Mapping[str, Any] = ledger.get("forensics", {})

    def params_for(seq: int) -> Mapping[str, Any] | None:
        item = forensic.get(str(seq), {}).get("disclosed", {}).get("params")
        return item.get("value") if isinstance(item, Mapping) else None

    break_seq, findings = chain_break(entries, bool(ledger.get("complete")))
    return replay_entries(entries, config_for=config_lookup(versions.get), params_for=params_for,
                          chain_break_seq=break_seq, chain_findings=findings, until_seq=until_seq,
                          extension_id=extension_id, source="bundle", against=against, progress=progress)
