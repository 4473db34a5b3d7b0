"""Forensic records: what an investigator needs about a call, committed to by its chained ledger entry.

A hostcall entry names *which* path, host or command only through its forensic record: the redacted
parameters (secret values already replaced by the broker's placeholder, long strings by their size and
hash), the command / variable-name / argument-shape / context hashes and the remediation text. The
record lives beside the chain: in the entry's own row (column ``ledger.forensic``, not one of the hashed
fields; before schema 2 in the table ``ledger_forensics``); the entry's ``detail.forensic_digest``
commits to it field by field:

    commitment(name) = SHA-256(canonical {"name": name, "salt": salt, "value": value})
    forensic_digest  = SHA-256(canonical {name: commitment(name), ...})

with a fresh random 128-bit salt per field. An evidence bundle can therefore withhold any field (its
commitment stays, so the chain and digest still verify) and a recipient cannot test guesses of the
withheld value against its commitment, which an unsalted hash would allow.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable, Mapping
from typing import Any, Final

import orjson

from pi_sandbox.hashing import canonical_json, sha256_hex

#: The ``detail`` key of a ledger entry that commits to its forensic record.
DIGEST_KEY: Final = "forensic_digest"


def commitment(name: str, salt: str, value: Any) -> str:
    """The salted commitment to one field's value."""
    return sha256_hex(canonical_json({"name": name, "salt": salt, "value": value}))


def digest_of(commitments: Mapping[str, str]) -> str:
    """The ``forensic_digest`` over every field's commitment."""
    return sha256_hex(canonical_json(dict(commitments)))


def seal(fields: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    """``(forensic_digest, stored record)`` for ``fields`` (JSON values, already redacted)."""
    disclosed = {name: {"salt": secrets.token_hex(16), "value": value} for name, value in fields.items()}
    commitments = {name: commitment(name, d["salt"], d["value"]) for name, d in disclosed.items()}
    return digest_of(commitments), {"commitments": commitments, "disclosed": disclosed}


def seal_canonical(fields: Mapping[str, Any]) -> tuple[str, str]:
    """``(forensic_digest, canonical JSON text of the stored record)`` for ``fields``: what :func:`seal`
    and ``canonical_json`` of its record give, byte for byte, assembled from each value's canonical JSON
    serialised once (this runs on every hostcall; a test compares it with the general path).

    Raises what ``canonical_json`` raises for a value that is not JSON."""
    names = list(fields)
    if not all(type(name) is str and name.isascii() for name in names):
        # Key order of non-ASCII names (UTF-16 code units) is the general encoder's business.
        digest, record = seal(fields)
        return digest, canonical_json(record).decode("utf-8")
    names.sort()  # ASCII: code point order is RFC 8785's UTF-16 order
    salts = secrets.token_bytes(16 * len(names)).hex().encode("ascii")  # one fresh 128-bit salt per field
    commitments: list[bytes] = []
    disclosed: list[bytes] = []
    sha256 = hashlib.sha256
    dumps = orjson.dumps
    for index, name in enumerate(names):
        key = dumps(name)  # an ASCII str: what canonical_json gives, without its checks
        salt = salts[32 * index:32 * index + 32]
        raw = fields[name]
        # An ASCII string (hashes, most fields) is its own canonical JSON through orjson: no type walk.
        value = dumps(raw) if type(raw) is str and raw.isascii() else canonical_json(raw)
        # canonical {"name": name, "salt": salt, "value": value}: keys already in sorted order (one bytes
        # formatting operation each instead of a chain of concatenations)
        field = sha256(b'{"name":%s,"salt":"%s","value":%s}' % (key, salt, value)).hexdigest()
        commitments.append(b'%s:"%s"' % (key, field.encode("ascii")))
        disclosed.append(b'%s:{"salt":"%s","value":%s}' % (key, salt, value))
    commitments_json = b"{%s}" % b",".join(commitments)
    record_json = b'{"commitments":%s,"disclosed":{%s}}' % (commitments_json, b",".join(disclosed))
    return sha256(commitments_json).hexdigest(), record_json.decode("utf-8")


def check(record: Mapping[str, Any], expected_digest: str | None, *,
          commit: Callable[[str, str, Any], str] = commitment,
          digest_of: Callable[[Mapping[str, str]], str] = digest_of) -> str | None:
    """Why ``record`` does not match ``expected_digest`` (None when it does).

    ``record["commitments"]`` must name the commitment of every field ``disclosed`` does not carry; the
    commitments of disclosed fields are recomputed from their salt and value (a stored record lists them
    all, a bundle only the withheld ones: the others are redundant). A listed commitment of a disclosed
    field must equal the recomputed one. ``commit`` / ``digest_of`` compute :func:`commitment` /
    :func:`digest_of` (a bulk verifier passes faster equivalents).
    """
    commitments = record.get("commitments")
    disclosed = record.get("disclosed")
    if not isinstance(commitments, Mapping) or not isinstance(disclosed, Mapping):
        return "forensic record is malformed"
    every = dict(commitments)
    for name, item in disclosed.items():
        if not isinstance(item, Mapping) or not isinstance(item.get("salt"), str):
            return f"forensic field '{name}' is malformed"
        computed = commit(str(name), item["salt"], item.get("value"))
        if every.setdefault(str(name), computed) != computed:
            return f"forensic field '{name}' does not match its commitment"
    if expected_digest is None:
        return "the entry carries no forensic_digest"
    if digest_of(every) != expected_digest:
        return "forensic record does not match the entry's forensic_digest"
    return None
