"""Building an evidence bundle from the audit store (the runbook's COLLECT step).

The export first seals the ledger head with a signed checkpoint (so every exported entry is covered by
a signed Merkle root), then selects entries and records by the filter, proves the selected entries
(:mod:`.proofs`), blanks what the redaction policy names, and adds the configuration versions the
entries were decided under, the replayed decision timeline and the summary.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pi_sandbox import schemas
from pi_sandbox.audit import AuditStore, LedgerEntry
from pi_sandbox.audit.forensics import DIGEST_KEY
from pi_sandbox.errors import EvidenceError
from pi_sandbox.evidence.bundle import (
    COUNTED_SECTIONS,
    FORENSIC_REDACTION,
    REDACTION_TARGETS,
    compute_bundle_hash,
    write_bundle,
)
from pi_sandbox.evidence.model import REDACTED, BundleFilter, RedactionPolicy
from pi_sandbox.evidence.proofs import covering_checkpoint, prove_selection
from pi_sandbox.evidence.replay import replay_bundle
from pi_sandbox.progress import ProgressCallback, report

#: Ledger entry kinds copied into their own sections (they stay in ``risk_ledger`` too).
TRUST_KIND = "trust"
KILL_SWITCH_KIND = "kill_switch"
#: Side-record kinds → bundle section.
RECORD_SECTIONS: Mapping[str, str] = {
    "telemetry": "telemetry", "exec_mediation": "exec_mediation", "secret_broker": "secret_broker",
    "quota_breach": "quota_breaches",
}
#: Ledger decisions that refused something (the summary's ``deny_count``).
DENYING = ("deny", "invalid", "timeout")
#: Key of the configuration digest in a ledger entry's detail (written by the dispatch pipeline).
CONFIG_DIGEST_KEY = "config_digest"



@dataclass(frozen=True, slots=True)
class ExportResult:
    """What ``bundle export`` wrote."""

    path: Path
    bundle_hash: str
    size_bytes: int
    summary: Mapping[str, Any]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"path": str(self.path), "bundle_hash": self.bundle_hash, "size_bytes": self.size_bytes,
                "summary": dict(self.summary)}


def export_bundle(
    store: AuditStore,
    out: Path | str,
    *,
    bundle_filter: BundleFilter | None = None,
    redaction: RedactionPolicy | None = None,
    config_snapshot: Mapping[str, Any] | None = None,
    progress: ProgressCallback | None = None,
) -> ExportResult:
    """Build a bundle from ``store`` (opened writable: the head is sealed first) and write it to ``out``."""
    bundle = build_bundle(store, bundle_filter=bundle_filter, redaction=redaction,
                          config_snapshot=config_snapshot, progress=progress)
    size = write_bundle(bundle, out)
    return ExportResult(Path(out), str(bundle["bundle_hash"]), size, bundle["summary"])


def build_bundle(
    store: AuditStore,
    *,
    bundle_filter: BundleFilter | None = None,
    redaction: RedactionPolicy | None = None,
    config_snapshot: Mapping[str, Any] | None = None,
    progress: ProgressCallback | None = None,
) -> dict[str, Any]:
    """The bundle as a JSON-ready dict with its ``bundle_hash`` (same ledger and options → same bundle).

    ``config_snapshot`` is the resolved configuration in force now (``config.snapshot``); the versions
    the selected entries were decided under come from the store.
    """
    chosen = bundle_filter or BundleFilter()
    policy = redaction or RedactionPolicy.none()
    seal_head(store, chosen.until_seq)
    checkpoints = store.query_checkpoints()
    cover = covering_checkpoint(checkpoints, chosen.until_seq)
    if cover is None:
        raise EvidenceError("the ledger has no checkpoint with a Merkle root to prove entries against; "
                            "open it writable (the export seals the head) and retry")
    bound = cover["seq"] if chosen.until_seq is None else min(chosen.until_seq, cover["seq"])
    entries = [e for e in store.query_ledger() if e.seq <= bound]
    report(progress, len(entries) // 4, len(entries), "entries read")
    selected = [e for e in entries if chosen.in_time(e.ts_ms) and chosen.for_extension(e.extension_id)]
    complete = chosen.selects_everything
    ledger = prove_selection(store, selected, checkpoints, cover, complete=complete)
    report(progress, len(entries) // 2, len(entries), "entries proven")
    ledger["forensics"] = _forensics(store, selected, policy)
    ledger["entries"] = [_entry_dict(e) for e in selected]
    ledger["complete"] = complete
    ledger["schema"] = schemas.LEDGER_SCHEMA
    report(progress, 3 * len(entries) // 4, len(entries), "sections")
    bundle: dict[str, Any] = {
        "schema": schemas.INCIDENT_EVIDENCE_BUNDLE,
        "generated_at_ms": cover["ts_ms"],
        "source": {"ledger_id": store.ledger_id or store.meta("ledger_id") or "", "head_seq": cover["seq"],
                   "head_hash": cover["head_hash"], "public_key": cover["public_key"]},
        "filter": chosen.to_dict(),
        "redaction": policy.to_dict(),
        "risk_ledger": ledger,
        **_sections(store, selected, chosen, policy),
        "config": _config_section(store, selected, config_snapshot),
        "risk_replay": None,
    }
    report(progress, 7 * len(entries) // 8, len(entries), "replaying")
    bundle["risk_replay"] = replay_bundle(bundle).to_dict()
    bundle["summary"] = summarize(bundle)
    bundle["bundle_hash"] = compute_bundle_hash(bundle)
    report(progress, len(entries), len(entries), "done")
    return bundle


def seal_head(store: AuditStore, until_seq: int | None) -> None:
    """Make sure a signed checkpoint with a Merkle root covers the head (or ``until_seq``)."""
    head_seq, _ = store.head()
    target = head_seq if until_seq is None else min(until_seq, head_seq)
    if not any(cp["merkle_root"] is not None and cp["seq"] >= target for cp in store.query_checkpoints()):
        store.checkpoint("bundle_export")


def _entry_dict(entry: LedgerEntry) -> dict[str, Any]:
    data = entry.to_dict()
    del data["schema"]
    return data


def _forensics(store: AuditStore, selected: list[LedgerEntry], policy: RedactionPolicy) -> dict[str, Any]:
    """Each selected entry's forensic record, minus the fields the policy withholds (commitments stay)."""
    if not selected:
        return {}
    withheld = set(policy.redacted_fields())
    records = store.forensic_records(selected[0].seq, selected[-1].seq)
    out: dict[str, Any] = {}
    for entry in selected:
        record = records.get(entry.seq)
        if record is None or DIGEST_KEY not in entry.detail:
            continue
        disclosed = {name: item for name, item in dict(record.get("disclosed", {})).items()
                     if FORENSIC_REDACTION.get(name) not in withheld}
        out[str(entry.seq)] = {"commitments": record.get("commitments", {}), "disclosed": disclosed}
    return out


def _redact(item: dict[str, Any], targets: Mapping[str, str], withheld: set[str]) -> dict[str, Any]:
    for field, flag in targets.items():
        if flag in withheld and item.get(field) is not None:
            item[field] = [REDACTED] * len(item[field]) if isinstance(item[field], list) else REDACTED
    return item


def _sections(store: AuditStore, selected: list[LedgerEntry], chosen: BundleFilter,
              policy: RedactionPolicy) -> dict[str, Any]:
    withheld = set(policy.redacted_fields())
    alerts = [_redact(a.to_dict(), REDACTION_TARGETS["alerts"], withheld) for a in store.query_alerts()
              if chosen.in_time(a.ts_ms) and chosen.for_extension(a.extension_id)
              and chosen.selects_alert(a.category, a.severity)]
    sections: dict[str, Any] = {"alerts": alerts}
    for kind, section in RECORD_SECTIONS.items():
        targets = REDACTION_TARGETS.get(section, {})
        sections[section] = [
            {"record_id": r.record_id, "ts_ms": r.ts_ms, "extension_id": r.extension_id,
             "payload": _redact(dict(r.payload), targets, withheld)}
            for r in store.query_records(kind=kind)
            if chosen.in_time(r.ts_ms) and chosen.for_extension(r.extension_id)]
    sections["trust_transitions"] = [_ledger_view(e) for e in selected if e.kind == TRUST_KIND]
    sections["kill_switch_events"] = [_ledger_view(e) for e in selected if e.kind == KILL_SWITCH_KIND]
    return sections


def _ledger_view(entry: LedgerEntry) -> dict[str, Any]:
    """A section item that repeats a ledger entry's fields (verification checks it matches the entry)."""
    return {"seq": entry.seq, "ts_ms": entry.ts_ms, "extension_id": entry.extension_id,
            "decision": entry.decision, "reason": entry.reason, "detail": dict(entry.detail)}


def _config_section(store: AuditStore, selected: Iterable[LedgerEntry],
                    snapshot: Mapping[str, Any] | None) -> dict[str, Any]:
    from pi_sandbox.config.snapshot import snapshot_digest

    digests = sorted({str(e.detail[CONFIG_DIGEST_KEY]) for e in selected if CONFIG_DIGEST_KEY in e.detail})
    versions = {}
    for digest in digests:
        body = store.config_version(digest)
        if body is not None:
            versions[digest] = body
    current = dict(snapshot) if snapshot is not None else None
    return {"digest": snapshot_digest(current) if current is not None else None, "snapshot": current,
            "versions": versions}


def summarize(bundle: Mapping[str, Any]) -> dict[str, Any]:
    """The ``summary`` section: counts per section and headline figures, all derived from the sections."""
    ledger = bundle["risk_ledger"]
    entries = ledger["entries"]
    counts = {name: len(bundle[name]) for name in COUNTED_SECTIONS}
    counts.update(risk_ledger=len(entries), checkpoints=len(ledger["checkpoints"]), proofs=len(ledger["proofs"]),
                  forensic_records=len(ledger["forensics"]), config_versions=len(bundle["config"]["versions"]))
    extensions = {e["extension_id"] for e in entries} | {a["extension_id"] for a in bundle["alerts"]}
    return {
        "counts": counts,
        "distinct_extensions": sorted(x for x in extensions if x is not None),
        "deny_count": sum(1 for e in entries if e["decision"] in DENYING),
    }
