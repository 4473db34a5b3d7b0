"""The evidence bundle file: its sections, its hash, reading and writing.

A bundle is one JSON object (schema ``pi.security.incident_evidence_bundle.v1``) written as RFC 8785
canonical bytes. ``bundle_hash`` is the SHA-256 of the canonical bytes of the object *without* the
``bundle_hash`` member, so it covers the schema and every section. docs/evidence.md specifies every
member precisely enough to verify a bundle without pi-sandbox (``docs/verify_bundle.py`` does).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Final

from pi_sandbox import schemas
from pi_sandbox.errors import EvidenceError, OutputWriteError
from pi_sandbox.evidence.canon import checked_text, gc_paused, object_text
from pi_sandbox.hashing import canonical_json, sha256_hex

#: Accepted schema ids: ours, and the upstream spelling as an alias.
ACCEPTED_SCHEMAS: Final = (schemas.INCIDENT_EVIDENCE_BUNDLE, "pi.ext.incident_evidence_bundle.v1")

#: Sections whose length the summary counts (``summary.counts``); the ledger's count is its entries.
COUNTED_SECTIONS: Final = (
    "alerts", "telemetry", "exec_mediation", "secret_broker", "quota_breaches", "trust_transitions",
    "kill_switch_events",
)

#: Where each redaction field occurs outside the signed chain: section → (field in the item or its
#: payload → redaction field name). Ledger entries' forensic records are listed in ``audit.forensics``.
REDACTION_TARGETS: Final[Mapping[str, Mapping[str, str]]] = {
    "alerts": {"context_hash": "context_hash", "remediation": "remediation"},
    "exec_mediation": {"command_hash": "command_hash"},
    "secret_broker": {"name_hash": "name_hash", "name_hashes": "name_hash"},
}

#: Forensic-record field → the redaction field that withholds it.
FORENSIC_REDACTION: Final[Mapping[str, str]] = {
    "params": "params_hash", "args_shape_hash": "args_shape_hash",
    "command_hash": "command_hash", "name_hash": "name_hash", "context_hash": "context_hash",
    "remediation": "remediation",
}


def compute_bundle_hash(bundle: Mapping[str, Any]) -> str:
    """SHA-256 hex of the canonical bytes of ``bundle`` without its ``bundle_hash`` member."""
    members = {key: checked_text(value) for key, value in bundle.items() if key != "bundle_hash"}
    return sha256_hex(object_text(members))


def bundle_bytes(bundle: Mapping[str, Any]) -> bytes:
    """The file form of a bundle: canonical JSON (the same bundle always gives the same bytes)."""
    return canonical_json(dict(bundle))


def write_bundle(bundle: Mapping[str, Any], out: Path | str) -> int:
    """Write ``bundle`` to ``out`` atomically (temp file + rename, mode 0600); returns the size in bytes."""
    return write_chunks([bundle_bytes(bundle).decode("utf-8")], out)


def write_chunks(chunks: Iterable[str], out: Path | str) -> int:
    """Write a bundle's canonical text ``chunks`` to ``out`` atomically (temp file + rename, mode 0600)."""
    path = Path(out)
    size = 0
    if path.is_dir():
        raise EvidenceError(f"{path} is a directory; name a file for the bundle (--out FILE)")
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as fh:
            for chunk in chunks:
                data = chunk.encode("utf-8")
                size += len(data)
                fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError as exc:  # disk full, file size limit, no permission: the machine, not the command line
        tmp.unlink(missing_ok=True)
        raise OutputWriteError.of(f"the bundle to {path}", exc) from None
    return size


def load_bundle(path: Path | str) -> dict[str, Any]:
    """Read a bundle file; ``EvidenceError`` when it is missing, unreadable or not a JSON object."""
    source = Path(path)
    try:
        text = source.read_bytes()
    except OSError as exc:
        raise EvidenceError(f"cannot read bundle {source}: {exc.strerror or exc}") from None
    try:
        with gc_paused():
            data = json.loads(text)
    except (ValueError, UnicodeDecodeError) as exc:
        raise EvidenceError(f"{source} is not a JSON evidence bundle ({exc})") from None
    if not isinstance(data, dict):
        raise EvidenceError(f"{source} is not a JSON evidence bundle (top level is not an object)")
    return data
