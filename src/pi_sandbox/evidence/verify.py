"""Verifying an evidence bundle: the runbook's five steps, each reported on its own.

1. ``bundle_hash``  the recorded hash equals SHA-256 of the canonical bytes of everything else;
2. ``chain``        every entry hashes to its ``entry_hash``, consecutive entries link, every run of
                    entries is proven against a checkpoint signed by the trusted key (head or Merkle
                    inclusion proof), forensic records match their entries' digests, and the trust and
                    kill-switch sections repeat their ledger entries faithfully;
3. ``summary``      the summary equals what the sections contain;
4. ``schema``       the bundle's schema id and the shape of its members are the expected ones;
5. ``redaction``    no field the recorded redaction policy names holds a value, and (when the caller
                    supplies a scanner, e.g. the local secret broker) no withheld secret appears at all.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from pi_sandbox import schemas
from pi_sandbox.audit import forensics
from pi_sandbox.audit.chain import GENESIS
from pi_sandbox.audit.merkle import MerkleTree
from pi_sandbox.errors import EvidenceError
from pi_sandbox.evidence.bundle import ACCEPTED_SCHEMAS, COUNTED_SECTIONS, FORENSIC_REDACTION, REDACTION_TARGETS
from pi_sandbox.evidence.canon import Canon, dumps, entry_hash_of, gc_paused, object_text, parse
from pi_sandbox.evidence.export import KILL_SWITCH_KIND, TRUST_KIND, summarize
from pi_sandbox.evidence.model import REDACTED, RedactionPolicy
from pi_sandbox.evidence.proofs import check_proof, checkpoint_signed, runs
from pi_sandbox.progress import ProgressCallback, report

STEPS: Final = ("bundle_hash", "chain", "summary", "schema", "redaction")
#: Findings kept per step (a wholesale-damaged bundle would otherwise list every entry).
MAX_ERRORS_PER_STEP: Final = 50
_TOP_LEVEL: Final = {
    "schema": str, "bundle_hash": str, "generated_at_ms": int, "source": dict, "filter": dict, "redaction": dict,
    "risk_ledger": dict, "config": dict, "summary": dict, **{name: list for name in COUNTED_SECTIONS},
}
_ENTRY_FIELDS: Final = ("seq", "ts_ms", "kind", "extension_id", "call_id", "capability", "method", "params_hash",
                        "decision", "layer", "reason", "detail", "prev_hash", "entry_hash")
_FIELD_SET: Final = frozenset(_ENTRY_FIELDS)

#: ``scan(text) -> description of the secret found, or None``.
SecretScanner = Callable[[str], "str | None"]


@dataclass(frozen=True, slots=True)
class StepResult:
    """One verification step: its number (1-5), name, outcome and findings."""

    step: int
    name: str
    ok: bool
    errors: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"step": self.step, "name": self.name, "ok": self.ok, "errors": list(self.errors)}


@dataclass(frozen=True, slots=True)
class BundleVerificationReport:
    """Outcome of :func:`verify_bundle`: valid only when all five steps pass."""

    valid: bool
    schema: str | None
    bundle_hash: str | None
    recomputed_hash: str | None
    #: Where the checkpoint key came from: ``explicit`` (the caller's) or ``bundle`` (self-asserted).
    trust_anchor: str
    steps: tuple[StepResult, ...]

    @property
    def failed_steps(self) -> list[str]:
        """Names of the steps that failed."""
        return [s.name for s in self.steps if not s.ok]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"valid": self.valid, "schema": self.schema, "bundle_hash": self.bundle_hash,
                "recomputed_hash": self.recomputed_hash, "trust_anchor": self.trust_anchor,
                "failed_steps": self.failed_steps, "steps": [s.to_dict() for s in self.steps]}


class _Errors(list[str]):
    def add(self, message: str) -> None:
        if len(self) < MAX_ERRORS_PER_STEP:
            self.append(message)
        elif len(self) == MAX_ERRORS_PER_STEP:
            self.append("(further findings not shown)")


def verify_bundle(
    bundle: Mapping[str, Any] | Path | str,
    *,
    public_key: str | None = None,
    secret_scanner: SecretScanner | None = None,
    progress: ProgressCallback | None = None,
) -> BundleVerificationReport:
    """Run the five steps on a bundle (a dict, or a path to read; ``EvidenceError`` if unreadable).

    ``public_key`` is the ledger's Ed25519 key (hex) that checkpoints must be signed with; without it
    the key recorded in the bundle is used and the report's ``trust_anchor`` says ``bundle``.
    """
    with gc_paused():
        return _verify(bundle, public_key, secret_scanner, progress)


def _verify(bundle: Mapping[str, Any] | Path | str, public_key: str | None, secret_scanner: SecretScanner | None,
            progress: ProgressCallback | None) -> BundleVerificationReport:
    data, plain = _read(bundle)
    canon = Canon(plain)
    source = data.get("source")
    recorded_key = source.get("public_key") if isinstance(source, Mapping) else None
    key = public_key or (recorded_key if isinstance(recorded_key, str) else "")
    recomputed: str | None = None

    texts: dict[str, str] = {}
    entry_texts: list[str] = []

    def step_hash() -> _Errors:
        nonlocal recomputed
        errors = _Errors()
        ledger = data.get("risk_ledger")
        if isinstance(ledger, Mapping) and isinstance(ledger.get("entries"), list):
            # Each entry's canonical text once: it is part of the bundle's text and, less its entry_hash
            # member, the pre-image the chain step hashes.
            entry_texts.extend(canon.text(entry) for entry in ledger["entries"])
            members = {key: canon.text(value) for key, value in ledger.items() if key != "entries"}
            members["entries"] = "[" + ",".join(entry_texts) + "]"
            texts["risk_ledger"] = object_text(members)
        texts.update({key: canon.text(value) for key, value in data.items() if key not in ("bundle_hash", *texts)})
        recomputed = hashlib.sha256(object_text(texts).encode("utf-8")).hexdigest()
        if data.get("bundle_hash") != recomputed:
            errors.add(f"bundle_hash {data.get('bundle_hash')!r} does not match the recomputed {recomputed}")
        return errors

    checks: list[tuple[str, Callable[[], _Errors]]] = [
        ("bundle_hash", step_hash),
        ("chain", lambda: _check_chain(data, key, canon, entry_texts, progress)),
        ("summary", lambda: _check_summary(data, canon)),
        ("schema", lambda: _check_schema(data)),
        ("redaction", lambda: _check_redaction(data, secret_scanner, texts, canon)),
    ]
    results = []
    for number, (name, run) in enumerate(checks, 1):
        try:
            errors = run()
        except (KeyError, TypeError, ValueError, AttributeError, IndexError, EvidenceError) as exc:
            errors = _Errors([f"bundle is malformed for this step: {type(exc).__name__}: {exc}"])
        results.append(StepResult(number, name, not errors, tuple(errors)))
        report(progress, number * 100 // len(checks), 100, name)  # percent: the chain step reports within its 20
    schema = data.get("schema")
    return BundleVerificationReport(
        valid=all(r.ok for r in results), schema=schema if isinstance(schema, str) else None,
        bundle_hash=data.get("bundle_hash") if isinstance(data.get("bundle_hash"), str) else None,
        recomputed_hash=recomputed, trust_anchor="explicit" if public_key else "bundle", steps=tuple(results))


def _read(bundle: Mapping[str, Any] | Path | str) -> tuple[Mapping[str, Any], bool]:
    """The bundle and whether the fast canonical serializer is exact for it (:mod:`.canon`)."""
    if isinstance(bundle, (str, Path)):
        path = Path(bundle)
        try:
            raw = path.read_bytes()
        except OSError as exc:
            raise EvidenceError(f"cannot read bundle {path}: {exc.strerror or exc}") from None
        try:
            data, plain = parse(raw)
        except (ValueError, UnicodeDecodeError, EvidenceError) as exc:
            raise EvidenceError(f"{path} is not a JSON evidence bundle ({exc})") from None
    else:
        data = bundle
        try:  # an in-memory bundle (perhaps edited): learn its floats the same way a file's are learnt
            data, plain = parse(dumps(bundle))
        except (ValueError, TypeError, EvidenceError):
            plain = False
    if not isinstance(data, Mapping):
        raise EvidenceError("an evidence bundle is a JSON object")
    return data, plain


def _hash_of_text(text: str, entry: Mapping[str, Any]) -> str | None:
    """``entry_hash`` recomputed from the entry's canonical ``text`` less its ``entry_hash`` member (None
    when the entry is too odd for that; the caller then hashes field by field).

    The member is the last ``,"entry_hash":`` in the text: every member after it in key order
    (extension_id ... ts_ms) is a scalar, and a quote inside a string value is escaped."""
    value = entry.get("entry_hash")
    cut = text.rfind(_ENTRY_HASH_MEMBER)
    if type(value) is not str or cut < 0:
        return None
    end = cut + len(_ENTRY_HASH_MEMBER) + len(dumps(value))
    return hashlib.sha256((text[:cut] + text[end:]).encode("utf-8")).hexdigest()


_ENTRY_HASH_MEMBER: Final = ',"entry_hash":'


def _check_chain(data: Mapping[str, Any], key: str, canon: Canon, entry_texts: Sequence[str],
                 progress: ProgressCallback | None) -> _Errors:
    errors = _Errors()
    ledger = data["risk_ledger"]
    entries: Sequence[Mapping[str, Any]] = ledger["entries"]
    if not key:
        errors.add("no public key: pass the ledger's key (--public-key) or a bundle that records one")
    by_seq: dict[int, Mapping[str, Any]] = {}
    for cp in ledger["checkpoints"]:
        if not checkpoint_signed(cp, key):
            errors.add(f"checkpoint at seq {cp.get('seq')} is not signed by the trusted key")
        elif cp.get("merkle_root") is not None or cp["seq"] not in by_seq:
            by_seq[cp["seq"]] = cp
    previous: Mapping[str, Any] | None = None
    recomputed: dict[int, str] = {}
    by_text = len(entry_texts) == len(entries)
    for index, entry in enumerate(entries):
        seq = entry["seq"]
        digest = (_hash_of_text(entry_texts[index], entry) if by_text else None) or entry_hash_of(entry, canon.text)
        recomputed[seq] = digest
        if digest != entry["entry_hash"]:
            errors.add(f"entry {seq} does not hash to its entry_hash (edited)")
        if previous is not None:
            if seq <= previous["seq"]:
                errors.add(f"entry {seq} follows entry {previous['seq']} (duplicated or reordered)")
            elif seq == previous["seq"] + 1 and entry["prev_hash"] != recomputed[previous["seq"]]:
                errors.add(f"entry {seq} does not link to entry {previous['seq']}")
        cp = by_seq.get(seq)
        if cp is not None and cp["head_hash"] != digest:
            errors.add(f"entry {seq} differs from the head the checkpoint at seq {seq} signed")
        previous = entry
        if index % 20000 == 0:
            report(progress, 20 + index * 20 // len(entries), 100, "chain")
    proofs = {p.get("seq"): p for p in ledger["proofs"]}
    for _first, last in runs([e["seq"] for e in entries]):
        proof = proofs.get(last)
        problem = f"entry {last} (end of a run) has no proof" if proof is None else \
            check_proof(proof, recomputed[last], by_seq)
        if problem:
            errors.add(problem)
    if ledger.get("complete"):
        _check_complete(data, entries, recomputed, by_seq, errors)
    _check_forensics(ledger, entries, canon, errors)
    _check_ledger_views(data, entries, canon, errors)
    return errors


def _check_complete(data: Mapping[str, Any], entries: Sequence[Mapping[str, Any]], recomputed: Mapping[int, str],
                    by_seq: Mapping[int, Mapping[str, Any]], errors: _Errors) -> None:
    """An unfiltered bundle must hold the whole chain from GENESIS to the covering checkpoint."""
    head_seq = data["source"]["head_seq"]
    seqs = [e["seq"] for e in entries]
    if seqs != list(range(1, head_seq + 1)):
        errors.add(f"bundle claims the whole ledger but does not hold entries 1..{head_seq} in order")
    if entries and entries[0]["prev_hash"] != GENESIS:
        errors.add("the first entry does not start from GENESIS")
    cover = by_seq.get(head_seq)
    if cover is None or cover.get("merkle_root") is None:
        errors.add(f"no signed checkpoint with a Merkle root at the head (seq {head_seq})")
    elif MerkleTree([recomputed[s] for s in seqs]).root() != cover["merkle_root"]:
        errors.add(f"the Merkle root signed at seq {head_seq} does not match the entries")


def _check_forensics(ledger: Mapping[str, Any], entries: Sequence[Mapping[str, Any]], canon: Canon,
                     errors: _Errors) -> None:
    records: Mapping[str, Any] = ledger.get("forensics", {})
    seqs = set()
    for entry in entries:
        seqs.add(str(entry["seq"]))
        digest = entry["detail"].get(forensics.DIGEST_KEY)
        record = records.get(str(entry["seq"]))
        if digest is not None and record is None:
            errors.add(f"entry {entry['seq']} commits to a forensic record the bundle does not carry")
        elif record is not None:
            problem = _record_problem(record, digest, canon.text)
            if problem:
                errors.add(f"entry {entry['seq']}: {problem}")
    for extra in sorted(set(records) - seqs):
        errors.add(f"forensic record for entry {extra}, which the bundle does not carry")


def _record_problem(record: Any, expected: Any, text: Callable[[Any], str]) -> str | None:
    """``audit.forensics.check`` for the common shape, inlined (100k records per bundle); anything else
    goes to ``forensics.check`` itself."""
    commitments = record.get("commitments") if type(record) is dict else None
    disclosed = record.get("disclosed") if type(record) is dict else None
    if type(commitments) is not dict or type(disclosed) is not dict or type(expected) is not str:
        return forensics.check(record, expected, commit=_commitment(text), digest_of=lambda c: _sha(text(c)))
    every = dict(commitments)
    for name, item in disclosed.items():
        salt = item.get("salt") if type(item) is dict else None
        if type(salt) is not str:
            return f"forensic field '{name}' is malformed"
        value = item.get("value")
        computed = _sha(_COMMITMENT % (_str(name), _str(salt), _str(value) if type(value) is str else text(value)))
        if every.setdefault(name, computed) != computed:
            return f"forensic field '{name}' does not match its commitment"
    if _sha(text(every)) != expected:
        return "forensic record does not match the entry's forensic_digest"
    return None


def _commitment(text: Callable[[Any], str]) -> Callable[[str, str, Any], str]:
    return lambda name, salt, value: _sha(_COMMITMENT % (_str(name), _str(salt), text(value)))


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


#: ``audit.forensics.commitment``'s canonical pre-image: {"name", "salt", "value"} in key order.
_COMMITMENT: Final = '{"name":%s,"salt":%s,"value":%s}'
_str = json.encoder.encode_basestring


def _check_ledger_views(data: Mapping[str, Any], entries: Sequence[Mapping[str, Any]], canon: Canon,
                        errors: _Errors) -> None:
    """The trust and kill-switch sections must repeat exactly the ledger entries of their kind."""
    for section, kind in (("trust_transitions", TRUST_KIND), ("kill_switch_events", KILL_SWITCH_KIND)):
        expected = [{"seq": e["seq"], "ts_ms": e["ts_ms"], "extension_id": e["extension_id"],
                     "decision": e["decision"], "reason": e["reason"], "detail": e["detail"]}
                    for e in entries if e["kind"] == kind]
        if canon.text(list(data[section])) != canon.text(expected):
            errors.add(f"section {section} does not repeat the ledger's {kind} entries")


def _check_summary(data: Mapping[str, Any], canon: Canon) -> _Errors:
    errors = _Errors()
    recorded = data["summary"]
    expected = summarize(data)
    for name in sorted(set(expected) | set(recorded)):
        if name not in recorded or name not in expected or \
                canon.text(recorded[name]) != canon.text(expected[name]):
            errors.add(f"summary.{name} is {recorded.get(name)!r} but the sections give {expected.get(name)!r}")
    return errors


def _check_schema(data: Mapping[str, Any]) -> _Errors:
    errors = _Errors()
    if data.get("schema") not in ACCEPTED_SCHEMAS:
        errors.add(f"schema {data.get('schema')!r} is not {schemas.INCIDENT_EVIDENCE_BUNDLE}")
    for name, kind in _TOP_LEVEL.items():
        if not isinstance(data.get(name), kind):
            errors.add(f"member '{name}' is missing or not a JSON {kind.__name__}")
    ledger = data.get("risk_ledger")
    if isinstance(ledger, Mapping):
        if ledger.get("schema") != schemas.LEDGER_SCHEMA:
            errors.add(f"risk_ledger.schema is {ledger.get('schema')!r}, not {schemas.LEDGER_SCHEMA}")
        for member in ("entries", "checkpoints", "proofs"):
            if not isinstance(ledger.get(member), list):
                errors.add(f"risk_ledger.{member} is missing or not a list")
        for entry in ledger.get("entries") or []:
            if not isinstance(entry, Mapping) or entry.keys() != _FIELD_SET:
                errors.add("a ledger entry does not have exactly the ledger's fields")
                break
    return errors


def _check_redaction(data: Mapping[str, Any], scanner: SecretScanner | None, texts: Mapping[str, str],
                     canon: Canon) -> _Errors:
    errors = _Errors()
    withheld = set(RedactionPolicy.from_dict(data["redaction"]).redacted_fields())
    for section, targets in REDACTION_TARGETS.items():
        for index, item in enumerate(data[section]):
            holder = item.get("payload", item) if section != "alerts" else item
            for field, flag in targets.items():
                value = holder.get(field)
                if flag in withheld and value is not None and value != REDACTED and \
                        not (isinstance(value, list) and all(v == REDACTED for v in value)):
                    errors.add(f"{section}[{index}].{field} holds a value although {flag} is redacted")
    for seq, record in data["risk_ledger"].get("forensics", {}).items():
        for name in record.get("disclosed", {}):
            if FORENSIC_REDACTION.get(name) in withheld:
                errors.add(f"forensic record of entry {seq} discloses '{name}' although it is redacted")
    if scanner is not None:
        # The configuration section is settings and paths, not runtime data: a variable the broker withholds
        # by name whose value is a path the settings name (PI_SECURITY_DIR) would show there by design.
        for name, value in data.items():
            found = scanner(texts.get(name) or canon.text(value)) if name != "config" else None
            if found:
                errors.add(f"section {name} contains a withheld secret value (fingerprint {found})")
    return errors
