"""The evidence phases of an incident: COLLECT, VERIFY, ANALYZE, the postmortem (close) and the report.

Each calls the evidence layer's library functions (``pi_sandbox.evidence``: bundle export and verify,
forensic replay) and the audit layer's ledger verification; this module adds no bundle format of its
own. Artifacts go to the incident's folder (:class:`.workflow.IncidentFiles`); each phase records what
it produced (file names, hashes, counts) in its ledger entry.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pi_sandbox.audit import AuditStore
from pi_sandbox.audit.records import now_ms
from pi_sandbox.config.model import SecurityConfig
from pi_sandbox.errors import EvidenceError, IncidentError, OutputWriteError
from pi_sandbox.evidence import (
    BundleFilter,
    BundleVerificationReport,
    export_bundle,
    load_bundle,
    replay_bundle,
    verify_bundle,
)
from pi_sandbox.hashing import canonical_json, sha256_hex
from pi_sandbox.incident.clock import phase_statuses
from pi_sandbox.incident.html import render_html
from pi_sandbox.incident.postmortem import render_postmortem
from pi_sandbox.incident.record import Incident, PhaseRecord
from pi_sandbox.incident.report_data import ReportData, VerificationLine, bundle_report_data
from pi_sandbox.incident.runbook import GUIDES, Phase
from pi_sandbox.incident.workflow import incident_files, record_phase, require_phase
from pi_sandbox.progress import ProgressCallback


@dataclass(frozen=True, slots=True)
class PhaseOutcome:
    """A phase's ledger record plus the report it produced (for the CLI to render)."""

    record: PhaseRecord
    report: Mapping[str, Any]


def _write_private(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` (mode 0600, folder 0700): incident artifacts are evidence."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def _secret_scanner(config: SecurityConfig) -> Any:
    """The local secret broker's value search, when it withholds anything (bundle verify step 5)."""
    from pi_sandbox.mediation.secret_broker import SecretBroker

    broker = SecretBroker(config.secret_broker, config.environ)
    return broker.secret_fingerprint if broker.withheld_count() else None


def _bundle_of(state_dir: Path, incident: Incident) -> Path:
    path = incident_files(state_dir, incident).bundle
    if incident.done(Phase.COLLECT) is None or not path.is_file():
        raise IncidentError(f"incident {incident.incident_id} has no evidence bundle yet: run "
                            f"`pi-sandbox incident collect` first")
    return path


def _collected_hash(incident: Incident) -> str | None:
    """The ``bundle_hash`` the COLLECT phase recorded in the ledger (the bundle verify must find)."""
    done = incident.done(Phase.COLLECT)
    value = None if done is None else done.detail.get("bundle_hash")
    return value if isinstance(value, str) else None


def _bundle_lost(incident: Incident) -> bool:
    """Whether the latest VERIFY, after the latest COLLECT, found the bundle damaged or not the one collected."""
    verified, collected = incident.done(Phase.VERIFY), incident.done(Phase.COLLECT)
    return (verified is not None and collected is not None and verified.seq > collected.seq
            and verified.detail.get("bundle_as_collected") is False)


def _collected_bundle(state_dir: Path, incident: Incident) -> dict[str, Any]:
    """The bundle COLLECT wrote; ``IncidentError`` when the file no longer reads or is another bundle."""
    path = _bundle_of(state_dir, incident)
    again = "`pi-sandbox incident verify` records it; then `pi-sandbox incident collect` exports a new bundle"
    try:
        bundle = load_bundle(path)
    except EvidenceError as exc:
        raise IncidentError(f"the incident's bundle is damaged: {exc}", remediation=again) from None
    if bundle.get("bundle_hash") != _collected_hash(incident):
        raise IncidentError(f"{path} is not the bundle collect recorded (bundle_hash {_collected_hash(incident)}): "
                            f"the file was replaced", remediation=again)
    return bundle


def collect(state_dir: Path, config: SecurityConfig, incident: Incident, *, actor: str,
            progress: ProgressCallback | None = None) -> PhaseOutcome:
    """COLLECT: export the evidence bundle (the incident's extension, or everything) and snapshot the config.

    Runs once, and again only after VERIFY found the collected bundle damaged or replaced: that file is kept
    as ``bundle.replaced-<verify seq>.json`` (evidence) and a new bundle is exported."""
    from pi_sandbox.config.snapshot import snapshot, snapshot_digest

    files = incident_files(state_dir, incident)
    if _bundle_lost(incident) and not incident.closed:
        verified = incident.done(Phase.VERIFY)
        assert verified is not None  # _bundle_lost checked it
        if files.bundle.exists():
            os.replace(files.bundle, files.root / f"bundle.replaced-{verified.seq}.json")
    else:
        require_phase(incident, Phase.COLLECT)
    current = snapshot(config)
    digest = snapshot_digest(current)
    _write_private(files.config_snapshot, canonical_json({"digest": digest, "snapshot": current}))
    files.bundle.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    with AuditStore.open(state_dir, anchor_copy=config.ledger.anchor_copy) as store:
        result = export_bundle(store, files.bundle, bundle_filter=BundleFilter(extension_id=incident.extension_id),
                               config_snapshot=current, progress=progress)
    artifacts = {"bundle_file": files.bundle.name, "bundle_hash": result.bundle_hash, "bundle_bytes": result.size_bytes,
                 "config_file": files.config_snapshot.name, "config_digest": digest,
                 "counts": dict(result.summary.get("counts", {}))}
    record = record_phase(state_dir, config, incident, Phase.COLLECT, ok=True, artifacts=artifacts, actor=actor)
    return PhaseOutcome(record, {**artifacts, "bundle_path": str(files.bundle)})


def verification_lines(bundle_report: BundleVerificationReport | None,
                       ledger: Mapping[str, Any] | None) -> list[VerificationLine]:
    """The report's verification rows: the five bundle steps, the trust anchor, and the live ledger check."""
    lines = []
    if bundle_report is not None:
        for step in bundle_report.steps:
            lines.append(VerificationLine(f"bundle step {step.step}: {step.name}", step.ok,
                                          "; ".join(step.errors[:3]) or "ok"))
        anchor = ("the ledger's own public key" if bundle_report.trust_anchor == "explicit"
                  else "the key recorded in the bundle only")
        lines.append(VerificationLine("checkpoint signatures checked against", None, anchor))
    if ledger is not None:
        detail = (f"{ledger.get('entry_count')} entries, {ledger.get('checkpoints_checked')} checkpoints"
                  + (f"; {ledger.get('findings')} finding(s), first: {ledger.get('first_finding')}"
                     if ledger.get("findings") else ""))
        lines.append(VerificationLine("live ledger chain (security ledger verify)", bool(ledger.get("chain_valid")),
                                      detail))
    return lines


def verify(state_dir: Path, config: SecurityConfig, incident: Incident, *, actor: str,
           progress: ProgressCallback | None = None) -> PhaseOutcome:
    """VERIFY: the bundle's five steps (against the ledger's own key) and the live ledger's chain and trust log.

    The phase is recorded either way; ``record.ok`` is False when anything failed (then see INC-3).
    """
    from pi_sandbox.audit.signing import trusted_public_key
    from pi_sandbox.trust import verify_ledger_and_trust

    require_phase(incident, Phase.VERIFY)
    bundle_path = _bundle_of(state_dir, incident)
    public_key, _ = trusted_public_key(state_dir)
    collected = _collected_hash(incident)
    # The incident's own bundle file no longer reading is tampering or damage, i.e. a failed verification
    # (recorded, exit 1), not an input error; and five passing steps prove nothing if the file is another
    # (older, smaller) bundle of the same ledger: it must be the one COLLECT recorded.
    bundle_report: BundleVerificationReport | None = None
    bundle_error = None
    try:
        bundle_report = verify_bundle(bundle_path, public_key=public_key, secret_scanner=_secret_scanner(config),
                                      progress=progress)
    except EvidenceError:
        # The ledger gets the file's name only: the message holds the state dir's path, a withheld value.
        bundle_error = f"{bundle_path.name} no longer reads as a JSON evidence bundle (damaged or truncated)"
    as_collected = bundle_report is not None and bundle_report.bundle_hash == collected
    if bundle_report is not None and not as_collected:
        bundle_error = (f"bundle_hash {bundle_report.bundle_hash} is not the {collected} collect recorded: "
                        f"the file was replaced")
    ledger_report = verify_ledger_and_trust(state_dir, public_key=public_key, anchor_copy=config.ledger.anchor_copy)
    ledger = ledger_report.to_dict()
    findings = ledger.get("verification_errors") or []
    artifacts = {
        "bundle_valid": bundle_report is not None and bundle_report.valid,
        "failed_steps": bundle_report.failed_steps if bundle_report is not None else [],
        "bundle_hash": bundle_report.bundle_hash if bundle_report is not None else None,
        "trust_anchor": bundle_report.trust_anchor if bundle_report is not None else None,
        "bundle_as_collected": as_collected, "bundle_error": bundle_error,
        "chain_valid": ledger_report.chain_valid, "entry_count": ledger.get("entry_count"),
        "checkpoints_checked": ledger.get("checkpoints_checked"), "findings": len(findings),
        "first_finding": (f"seq {findings[0]['seq']}: {findings[0]['kind']}" if findings else None),
    }
    ok = bool(artifacts["bundle_valid"]) and as_collected and ledger_report.chain_valid
    record = record_phase(state_dir, config, incident, Phase.VERIFY, ok=ok, artifacts=artifacts, actor=actor)
    steps = bundle_report.to_dict()["steps"] if bundle_report is not None else []
    return PhaseOutcome(record, {**artifacts, "bundle": {"steps": steps}})


def analyze(state_dir: Path, config: SecurityConfig, incident: Incident, *, actor: str,
            progress: ProgressCallback | None = None) -> PhaseOutcome:
    """ANALYZE: forensic replay of the bundle under the configuration versions it carries (``replay.json``).

    Recorded as done; the findings (decisions the rules of their time do not explain, configuration changes,
    where the chain breaks) are the root-cause material the postmortem lists.
    """
    require_phase(incident, Phase.ANALYZE)
    bundle = _collected_bundle(state_dir, incident)
    replay = replay_bundle(bundle, progress=progress).to_dict()
    files = incident_files(state_dir, incident)
    _write_private(files.replay, canonical_json(replay))
    artifacts = {"replay_file": files.replay.name, "replayed": replay["replayed"],
                 "difference_count": replay["difference_count"], "chain_break_seq": replay["chain_break_seq"],
                 "untrusted": replay["untrusted"], "config_changes": len(replay["config_changes"]),
                 "counts": replay["counts"]}
    record = record_phase(state_dir, config, incident, Phase.ANALYZE, ok=True, artifacts=artifacts, actor=actor)
    return PhaseOutcome(record, {**artifacts, "replay_path": str(files.replay), "replay": replay})


def replay_line(incident: Incident) -> list[VerificationLine]:
    """The report row of the ANALYZE phase's replay (none before it ran)."""
    done = incident.done(Phase.ANALYZE)
    if done is None:
        return []
    d = done.detail
    clean = not d.get("difference_count") and d.get("chain_break_seq") is None
    detail = (f"{d.get('replayed')} entries replayed, {d.get('difference_count')} differ from the record, "
              f"{d.get('config_changes')} config change(s)"
              + (f"; chain breaks at seq {d['chain_break_seq']} ({d.get('untrusted')} untrusted)"
                 if d.get("chain_break_seq") is not None else ""))
    return [VerificationLine("forensic replay (analyze)", clean, detail)]


def recorded_verification(state_dir: Path, config: SecurityConfig, incident: Incident) -> list[VerificationLine]:
    """Verification rows for a report: the bundle verified now, the ledger result the VERIFY phase recorded."""
    from pi_sandbox.audit.signing import trusted_public_key

    bundle_path = _bundle_of(state_dir, incident)
    public_key, _ = trusted_public_key(state_dir)
    bundle_report = verify_bundle(bundle_path, public_key=public_key, secret_scanner=_secret_scanner(config))
    done = incident.done(Phase.VERIFY)
    return verification_lines(bundle_report, done.detail if done is not None else None) + replay_line(incident)


def incident_report_data(state_dir: Path, config: SecurityConfig, incident: Incident, now: int) -> ReportData:
    """The report of an incident: its bundle, its phases against the SLAs, its verification."""
    bundle = _collected_bundle(state_dir, incident)
    guide = GUIDES[incident.kind]
    facts = (("incident", incident.incident_id), ("kind", f"{incident.kind.value} {guide.title}"),
             ("severity", incident.severity), ("extension", incident.extension_id or "(none named)"))
    return bundle_report_data(bundle, title=f"Incident {incident.incident_id}: {guide.title}", generated_ms=now,
                              verification=recorded_verification(state_dir, config, incident),
                              phases=phase_statuses(incident, now), facts=facts)


def write_report(path: Path, data: ReportData) -> int:
    """Write the HTML report to ``path``; returns its size in bytes."""
    html = render_html(data).encode("utf-8")
    # Whole or not at all: a report cut off by a full disk or a file size limit would open as a shorter report.
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_bytes(html)
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise OutputWriteError.of(f"the report to {path}", exc) from None
    return len(html)


def close(state_dir: Path, config: SecurityConfig, incident: Incident, *, actor: str,
          note: str = "") -> PhaseOutcome:
    """POSTMORTEM: write the Markdown draft from the bundle and close the incident (its clock stops)."""
    require_phase(incident, Phase.POSTMORTEM)
    files = incident_files(state_dir, incident)
    bundle = _collected_bundle(state_dir, incident)
    now = now_ms()
    replay = json.loads(files.replay.read_text(encoding="utf-8")) if files.replay.is_file() else None
    text = render_postmortem(incident, bundle, phase_statuses(incident, now),
                             recorded_verification(state_dir, config, incident),
                             bundle_file=str(files.bundle), now_ms=now, replay=replay)
    data = text.encode("utf-8")
    _write_private(files.postmortem, data)
    artifacts = {"postmortem_file": files.postmortem.name, "postmortem_sha256": sha256_hex(data),
                 "bundle_hash": bundle.get("bundle_hash")}
    record = record_phase(state_dir, config, incident, Phase.POSTMORTEM, ok=True, artifacts=artifacts, actor=actor,
                          note=note)
    return PhaseOutcome(record, {**artifacts, "postmortem_path": str(files.postmortem)})



def bundle_file_report_data(path: Path, *, public_key: str | None, now: int) -> ReportData:
    """The report of any bundle file: verified now; an incident recorded in it adds its phases as of export."""
    from pi_sandbox.incident.record import incidents_from_entries

    bundle = load_bundle(path)
    report = verify_bundle(bundle, public_key=public_key)
    incidents = incidents_from_entries(bundle["risk_ledger"]["entries"])
    phases = phase_statuses(incidents[-1], int(bundle["generated_at_ms"])) if len(incidents) == 1 else []
    facts = [("file", str(path))]
    if len(incidents) == 1:
        facts.append(("incident", f"{incidents[0].incident_id} ({incidents[0].kind.value})"))
    return bundle_report_data(bundle, title=f"Evidence bundle {path.name}", generated_ms=now,
                              verification=verification_lines(report, None), phases=phases, facts=facts)
