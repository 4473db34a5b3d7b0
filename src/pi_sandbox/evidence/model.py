"""What an evidence bundle selects (:class:`BundleFilter`) and hides (:class:`RedactionPolicy`).

Both are recorded in the bundle, so a reader knows what was left out and what was blanked.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any, Final

from pi_sandbox.audit.records import SEVERITY_RANK, normalize_category
from pi_sandbox.errors import EvidenceError

#: What a redacted value is replaced with.
REDACTED: Final = "[REDACTED]"


@dataclass(frozen=True, slots=True)
class BundleFilter:
    """Which evidence goes into a bundle (the runbook's ``IncidentBundleFilter``).

    ``start_ms``/``end_ms`` (inclusive) and ``extension_id`` apply to every section; entries without an
    extension (host-wide kill switches, configuration events) stay in an extension's bundle because they
    bear on it. ``alert_categories`` and ``min_severity`` select alerts only. ``until_seq`` ends the ledger
    at a chain position (for a bundle that must not move while the ledger grows).
    """

    start_ms: int | None = None
    end_ms: int | None = None
    extension_id: str | None = None
    alert_categories: tuple[str, ...] = ()
    min_severity: str | None = None
    until_seq: int | None = None

    def __post_init__(self) -> None:
        for name in ("start_ms", "end_ms", "until_seq"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
                raise EvidenceError(f"bundle filter '{name}' must be a non-negative integer")
        if self.start_ms is not None and self.end_ms is not None and self.start_ms > self.end_ms:
            raise EvidenceError("bundle filter: the start of the time range is after its end")
        canonical = []
        for category in self.alert_categories:
            folded = normalize_category(category) if isinstance(category, str) else None
            if folded is None:
                raise EvidenceError(f"unknown alert category {category!r}")
            canonical.append(folded)
        object.__setattr__(self, "alert_categories", tuple(sorted(set(canonical))))
        if self.min_severity is not None and self.min_severity not in SEVERITY_RANK:
            raise EvidenceError(f"unknown severity {self.min_severity!r}; use one of {', '.join(SEVERITY_RANK)}")

    @property
    def selects_everything(self) -> bool:
        """Whether no ledger entry is left out (the chain can then be checked end to end)."""
        return self.start_ms is None and self.end_ms is None and self.extension_id is None and self.until_seq is None

    def in_time(self, ts_ms: int) -> bool:
        """Whether ``ts_ms`` is inside the time range."""
        return (self.start_ms is None or ts_ms >= self.start_ms) and (self.end_ms is None or ts_ms <= self.end_ms)

    def for_extension(self, extension_id: str | None) -> bool:
        """Whether evidence about ``extension_id`` (None = host-wide) belongs in the bundle."""
        return self.extension_id is None or extension_id is None or extension_id == self.extension_id

    def selects_alert(self, category: str, severity: str) -> bool:
        """Whether an alert passes the category and severity filters."""
        if self.alert_categories and category not in self.alert_categories:
            return False
        return self.min_severity is None or SEVERITY_RANK.get(severity, -1) >= SEVERITY_RANK[self.min_severity]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (recorded in the bundle)."""
        return {
            "start_ms": self.start_ms, "end_ms": self.end_ms, "extension_id": self.extension_id,
            "alert_categories": list(self.alert_categories), "min_severity": self.min_severity,
            "until_seq": self.until_seq,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> BundleFilter:
        """The filter a bundle recorded."""
        return cls(data.get("start_ms"), data.get("end_ms"), data.get("extension_id"),
                   tuple(data.get("alert_categories") or ()), data.get("min_severity"), data.get("until_seq"))


@dataclass(frozen=True, slots=True)
class RedactionPolicy:
    """What a bundle blanks (the runbook's ``IncidentBundleRedactionPolicy``); see docs/evidence.md.

    Each flag replaces its field with :data:`REDACTED` wherever the bundle carries it outside the signed
    chain (alerts, side records) and withholds it from the entries' forensic records (whose salted
    commitments stay, so the chain still verifies and a withheld value cannot be guessed from them).
    """

    redact_params_hash: bool = False
    redact_context_hash: bool = False
    redact_args_shape_hash: bool = False
    redact_command_hash: bool = False
    redact_name_hash: bool = False
    redact_remediation: bool = False

    @classmethod
    def none(cls) -> RedactionPolicy:
        """Nothing redacted: for internal forensics."""
        return cls()

    @classmethod
    def full(cls) -> RedactionPolicy:
        """Everything redacted: for sharing outside the team."""
        return cls(*(True for _ in fields(cls)))

    @classmethod
    def parse(cls, spec: str) -> RedactionPolicy:
        """``none``, ``full`` or a comma list of field names (``params_hash,command_hash`` or the flag names)."""
        token = spec.strip().lower()
        if token in ("", "none"):
            return cls.none()
        if token == "full":
            return cls.full()
        chosen: dict[str, bool] = {}
        known = [f.name.removeprefix("redact_") for f in fields(cls)]
        for part in (p.strip() for p in token.split(",")):
            name = part.removeprefix("redact_")
            if name not in known:
                raise EvidenceError(f"unknown redaction field '{part}'; use none, full or some of {', '.join(known)}")
            chosen[f"redact_{name}"] = True
        return cls(**chosen)

    def redacted_fields(self) -> tuple[str, ...]:
        """The field names this policy blanks (``params_hash``, ``command_hash``, ...)."""
        return tuple(f.name.removeprefix("redact_") for f in fields(self) if getattr(self, f.name))

    def to_dict(self) -> dict[str, bool]:
        """JSON-ready form (recorded in the bundle)."""
        return {f.name: bool(getattr(self, f.name)) for f in fields(self)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RedactionPolicy:
        """The policy a bundle recorded (unknown keys are an error: the verifier must know every flag)."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise EvidenceError(f"bundle redaction names unknown flags: {', '.join(unknown)}")
        return cls(**{k: bool(v) for k, v in data.items()})

