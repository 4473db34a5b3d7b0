"""Building an evidence bundle from the audit store (the runbook's COLLECT step).

The export first seals the ledger head with a signed checkpoint (so every exported entry is covered by
a signed Merkle root), then selects entries and records by the filter, proves the selected entries
(:mod:`.proofs`), blanks what the redaction policy names, and adds the configuration versions the
entries were decided under, the replayed decision timeline and the summary.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from pi_sandbox import schemas
from pi_sandbox.audit import AuditStore
from pi_sandbox.audit.chain import GENESIS
from pi_sandbox.audit.forensics import DIGEST_KEY
from pi_sandbox.errors import EvidenceError
from pi_sandbox.evidence.bundle import (
    COUNTED_SECTIONS,
    FORENSIC_REDACTION,
    REDACTION_TARGETS,
    write_chunks,
)
from pi_sandbox.evidence.canon import Canon, gc_paused, parse
from pi_sandbox.evidence.model import REDACTED, BundleFilter, RedactionPolicy
from pi_sandbox.evidence.proofs import covering_checkpoint, prove_selection
from pi_sandbox.evidence.replay import config_lookup, parsed_row, replay_entries
from pi_sandbox.hashing import canonical_json
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
    with gc_paused():
        chunks, summary, bundle_hash = assemble(store, bundle_filter=bundle_filter, redaction=redaction,
                                                config_snapshot=config_snapshot, progress=progress)
    size = write_chunks(chunks, out)
    return ExportResult(Path(out), bundle_hash, size, summary)


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
    with gc_paused():
        chunks, _summary, _hash = assemble(store, bundle_filter=bundle_filter, redaction=redaction,
                                           config_snapshot=config_snapshot, progress=progress)
        return dict(json.loads("".join(chunks)))


def assemble(
    store: AuditStore,
    *,
    bundle_filter: BundleFilter | None = None,
    redaction: RedactionPolicy | None = None,
    config_snapshot: Mapping[str, Any] | None = None,
    progress: ProgressCallback | None = None,
) -> tuple[list[str], dict[str, Any], str]:
    """The bundle file as canonical text chunks, its summary and its ``bundle_hash``.

    Entries and forensic records are stored as canonical JSON already; they are spliced into the bundle
    as stored (parsed and re-serialized only where redaction changes them), so a 100k entry bundle costs
    string joins rather than a Python walk over every value (docs/evidence.md). Side records are
    re-serialized (see :func:`_record_items`).
    """
    chosen = bundle_filter or BundleFilter()
    policy = redaction or RedactionPolicy.none()
    withheld = set(policy.redacted_fields())
    seal_head(store, chosen.until_seq)
    checkpoints = store.query_checkpoints()
    cover = covering_checkpoint(checkpoints, chosen.until_seq)
    if cover is None:
        raise EvidenceError("the ledger has no checkpoint with a Merkle root to prove entries against; "
                            "open it writable (the export seals the head) and retry")
    bound = cover["seq"] if chosen.until_seq is None else min(chosen.until_seq, cover["seq"])
    rows = [r for r in store.raw_ledger(bound) if chosen.in_time(r[1]) and chosen.for_extension(r[3])]
    total = max(1, len(rows))
    report(progress, 0, total, "entries read")
    entries = [parsed_row(r) for r in rows]
    complete = chosen.selects_everything
    ledger = prove_selection(store, [r[0] for r in rows], checkpoints, cover, complete=complete)
    forensics = _forensics(store, entries, withheld)
    report(progress, total // 4, total, "entries proven")
    alerts = [_redact(a.to_dict(), REDACTION_TARGETS["alerts"], withheld) for a in store.query_alerts()
              if chosen.in_time(a.ts_ms) and chosen.for_extension(a.extension_id)
              and chosen.selects_alert(a.category, a.severity)]
    records = {section: _record_items(store, kind, chosen, withheld) for kind, section in RECORD_SECTIONS.items()}
    views = {section: [_ledger_view(e) for e in entries if e["kind"] == kind]
             for section, kind in (("trust_transitions", TRUST_KIND), ("kill_switch_events", KILL_SWITCH_KIND))}
    config = _config_section(store, entries, config_snapshot)
    report(progress, total // 2, total, "replaying")
    entry_texts, break_seq, break_findings = _entry_texts(rows, complete)
    replay = replay_entries(
        entries, config_for=config_lookup(config["versions"].get),
        params_for=lambda seq: _disclosed_params(forensics.get(seq)),
        chain_break_seq=break_seq, chain_findings=break_findings, source="bundle").to_dict()
    counts = {"alerts": len(alerts), **{name: len(items) for name, items in records.items()},
              **{name: len(items) for name, items in views.items()},
              "risk_ledger": len(entries), "checkpoints": len(ledger["checkpoints"]), "proofs": len(ledger["proofs"]),
              "forensic_records": len(forensics), "config_versions": len(config["versions"])}
    extensions = {e["extension_id"] for e in entries} | {a["extension_id"] for a in alerts}
    summary = {"counts": counts, "distinct_extensions": sorted(x for x in extensions if x is not None),
               "deny_count": sum(1 for e in entries if e["decision"] in DENYING)}
    report(progress, 3 * total // 4, total, "hashing")
    ledger_members: dict[str, str | list[str]] = {
        "checkpoints": _exact(ledger["checkpoints"]), "complete": _exact(complete),
        "entries": ["[", ",".join(entry_texts), "]"],
        "forensics": ["{", ",".join(f'"{seq}":{forensics[seq][0]}' for seq in sorted(forensics, key=str)), "}"],
        "proofs": _exact(ledger["proofs"]), "schema": _exact(schemas.LEDGER_SCHEMA),
    }
    members: dict[str, str | list[str]] = {
        "schema": _exact(schemas.INCIDENT_EVIDENCE_BUNDLE),
        "generated_at_ms": _exact(cover["ts_ms"]),
        "source": _exact({"ledger_id": store.ledger_id or store.meta("ledger_id") or "", "head_seq": cover["seq"],
                          "head_hash": cover["head_hash"], "public_key": cover["public_key"]}),
        "filter": _exact(chosen.to_dict()), "redaction": _exact(policy.to_dict()),
        "risk_ledger": object_chunks(ledger_members), "alerts": _exact(alerts),
        **{name: ["[", ",".join(items), "]"] for name, items in records.items()},
        **{name: _exact(items) for name, items in views.items()},
        "config": _exact(config), "risk_replay": _exact(replay), "summary": _exact(summary),
    }
    body = object_chunks(members)
    digest = hashlib.sha256()
    for chunk in body:
        digest.update(chunk.encode("utf-8"))
    bundle_hash = digest.hexdigest()
    members["bundle_hash"] = _exact(bundle_hash)
    report(progress, total, total, "done")
    return object_chunks(members), summary, bundle_hash


def _exact(value: Any) -> str:
    return canonical_json(value).decode("utf-8")


_str = json.encoder.encode_basestring  # the C string encoder: exactly RFC 8785's escaping


def _entry_texts(rows: Sequence[Sequence[Any]], complete: bool) -> tuple[list[str], int | None, list[str]]:
    """The canonical text of each stored entry, and where the entries stop hashing or linking (what
    ``replay.chain_break`` finds, computed here from the same pieces: the stored detail is canonical)."""
    texts: list[str] = []
    found: tuple[int | None, list[str]] = (None, [])
    previous_seq, previous_hash = None, None
    sha256 = hashlib.sha256
    for (seq, ts_ms, kind, extension_id, call_id, capability, method, params_hash, decision, layer, reason, detail,
         prev_hash, stored_hash) in rows:
        head = _HEAD % ("null" if call_id is None else _str(call_id),
                        "null" if capability is None else _str(capability), _str(decision), detail)
        tail = _TAIL % ("null" if extension_id is None else _str(extension_id), _str(kind),
                        "null" if layer is None else int(layer), "null" if method is None else _str(method),
                        "null" if params_hash is None else _str(params_hash), _str(prev_hash), _str(reason),
                        seq, ts_ms)
        if found[0] is None:
            if sha256((head + tail).encode("utf-8")).hexdigest() != stored_hash:
                found = seq, [f"entry {seq} does not hash to its entry_hash"]
            elif previous_seq is not None and seq == previous_seq + 1 and prev_hash != previous_hash:
                found = seq, [f"entry {seq} does not link to entry {previous_seq}"]
            elif previous_seq is None and complete and prev_hash != GENESIS:
                found = seq, [f"entry {seq} does not start from GENESIS"]
        texts.append(head + ',"entry_hash":' + _str(stored_hash) + tail)
        previous_seq, previous_hash = seq, stored_hash
    return texts, found[0], found[1]


#: An entry's canonical text around ``entry_hash`` (keys in sorted order; see ``audit/chain.py``).
_HEAD: Final = '{"call_id":%s,"capability":%s,"decision":%s,"detail":%s'
_TAIL: Final = (',"extension_id":%s,"kind":%s,"layer":%s,"method":%s,"params_hash":%s,"prev_hash":%s,"reason":%s,'
                '"seq":%d,"ts_ms":%d}')


def object_chunks(members: Mapping[str, str | list[str]]) -> list[str]:
    """A canonical object as text chunks, given each member's text or chunks (keys sorted by UTF-16 units).

    Chunks, not one string: a 100k-entry bundle is ~170 MB of text, and every concatenation copies it."""
    out = ["{"]
    for index, key in enumerate(sorted(members, key=lambda k: k.encode("utf-16-be"))):
        out.append(("," if index else "") + _str(key) + ":")
        value = members[key]
        out.extend([value] if isinstance(value, str) else value)
    out.append("}")
    return out


def seal_head(store: AuditStore, until_seq: int | None) -> None:
    """Make sure a signed checkpoint with a Merkle root covers the head (or ``until_seq``)."""
    head_seq, _ = store.head()
    target = head_seq if until_seq is None else min(until_seq, head_seq)
    if not any(cp["merkle_root"] is not None and cp["seq"] >= target for cp in store.query_checkpoints()):
        store.checkpoint("bundle_export")


def _forensics(store: AuditStore, entries: Sequence[Mapping[str, Any]],
               withheld: set[str]) -> dict[int, tuple[str, Mapping[str, Any] | None]]:
    """Each selected entry's forensic record as ``(canonical text, parsed or None)``: the disclosed fields
    (minus those the policy withholds) and the commitments of the withheld ones only (a verifier recomputes
    the others from salt and value; listing them too would make the bundle a quarter larger)."""
    if not entries:
        return {}
    raw = store.raw_forensic_records(entries[0]["seq"], entries[-1]["seq"])
    hidden = {name for name, flag in FORENSIC_REDACTION.items() if flag in withheld}
    out: dict[int, tuple[str, Mapping[str, Any] | None]] = {}
    for entry in entries:
        text = raw.get(entry["seq"])
        if text is None or DIGEST_KEY not in entry["detail"]:
            continue
        cut = text.find(_DISCLOSED)
        if cut > 0 and text.startswith(_COMMITMENTS) and \
                not (hidden and any(f'"{name}":{{"salt"' in text for name in hidden)):
            # A stored record discloses every field it commits to: splice its disclosed part as stored.
            out[entry["seq"]] = ('{"commitments":{}' + text[cut:], None)
            continue
        record, plain = parse(text)
        disclosed = {k: v for k, v in dict(record.get("disclosed", {})).items() if k not in hidden}
        kept = {"commitments": {k: v for k, v in dict(record.get("commitments", {})).items() if k not in disclosed},
                "disclosed": disclosed}
        out[entry["seq"]] = (Canon(plain).text(kept), kept)
    return out


_COMMITMENTS: Final = '{"commitments":{'
_DISCLOSED: Final = ',"disclosed":'


def _disclosed_params(item: tuple[str, Mapping[str, Any] | None] | None) -> Mapping[str, Any] | None:
    """The redacted parameters a bundle's forensic record discloses (for replaying exec decisions)."""
    if item is None:
        return None
    record = item[1] if item[1] is not None else json.loads(item[0])
    params = dict(record.get("disclosed", {})).get("params")
    return params.get("value") if isinstance(params, Mapping) else None


def _redact(item: dict[str, Any], targets: Mapping[str, str], withheld: set[str]) -> dict[str, Any]:
    for field, flag in targets.items():
        if flag in withheld and item.get(field) is not None:
            item[field] = [REDACTED] * len(item[field]) if isinstance(item[field], list) else REDACTED
    return item


_RECORD: Final = '{"extension_id":%s,"payload":%s,"record_id":%d,"ts_ms":%d}'


def _record_items(store: AuditStore, kind: str, chosen: BundleFilter, withheld: set[str]) -> list[str]:
    """The canonical text of each side record of ``kind`` the filter selects, blanked where the policy says.

    Payloads are parsed and re-serialized rather than spliced: the store keeps some kinds as plain JSON
    (``audit/telemetry.py``: nothing hashes them there), and the bundle must not depend on which."""
    targets = {f: flag for f, flag in REDACTION_TARGETS.get(RECORD_SECTIONS[kind], {}).items() if flag in withheld}
    items = []
    for record_id, ts_ms, extension_id, payload in store.raw_records(kind):
        if not (chosen.in_time(ts_ms) and chosen.for_extension(extension_id)):
            continue
        value, plain = parse(payload)  # canonical again: the store may keep a kind as plain JSON (telemetry)
        payload = Canon(plain).text(_redact(dict(value), targets, withheld) if targets else value)
        items.append(_RECORD % ("null" if extension_id is None else _str(extension_id), payload, record_id, ts_ms))
    return items


def _ledger_view(entry: Mapping[str, Any]) -> dict[str, Any]:
    """A section item that repeats a ledger entry's fields (verification checks it matches the entry)."""
    return {key: entry[key] for key in ("seq", "ts_ms", "extension_id", "decision", "reason", "detail")}


def _config_section(store: AuditStore, selected: Iterable[Mapping[str, Any]],
                    snapshot: Mapping[str, Any] | None) -> dict[str, Any]:
    from pi_sandbox.config.snapshot import snapshot_digest

    digests = sorted({str(e["detail"][CONFIG_DIGEST_KEY]) for e in selected if CONFIG_DIGEST_KEY in e["detail"]})
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
