"""The ledger's head anchor: what the ledger looked like, kept outside ``security.db``.

Signed checkpoints live inside the database, so whoever deletes the newest rows *and* the
checkpoints after them, swaps in an older copy of the file, an empty database, or deletes it
outright, leaves a ledger that verifies. The anchor is the witness outside the database:

- ``ledger-anchor.json`` (the *seal*): ledger id, seq, head hash, time and reason, signed with the
  ledger key (Ed25519). Rewritten atomically (temp file, fsync, rename) whenever the store seals
  its head: at open, at every checkpoint, after crash recovery and at close.
- ``ledger-anchor.head`` (the *head hint*): the same fields without a signature, overwritten in
  place after every commit (one ``pwrite``, ~1 µs, no fsync). It lets verification see tail rows
  deleted while a host runs or after a crash; it is advisory (unsigned: whoever can rewrite it can
  also lower it), the seal and the copy are the authenticated witnesses.
- an optional **copy** (``extensionPolicy.ledger.anchorCopy``): every seal is also appended as
  one JSON line to a file the settings name, e.g. on another mount or an append-only
  (``chattr +a``) file; someone who rolls back the whole state dir cannot roll that back.

The database records its random ``ledger_id`` (``meta``), so a database replaced by a fresh one
shows as a different ledger. :func:`compare` turns witnesses and the database's head into
findings: ``rollback`` (the ledger ends before, or differs from, what was witnessed), ``missing``
(the database or the anchor is gone although the other shows prior use), ``bad_signature``.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from pi_sandbox import schemas
from pi_sandbox.audit import signing
from pi_sandbox.audit.records import now_ms
from pi_sandbox.hashing import canonical_json

SEAL_FILE: Final = "ledger-anchor.json"
HEAD_FILE: Final = "ledger-anchor.head"
#: Fixed size of the head hint record: overwritten in place, never grows.
_HEAD_SIZE: Final = 256
#: How much of the end of an anchor copy is read to find its newest line.
_COPY_TAIL_BYTES: Final = 64 * 1024


@dataclass(frozen=True, slots=True)
class Witness:
    """One record of the ledger's head seen outside the database."""

    source: str  # "seal" | "head" | "copy"
    ledger_id: str
    seq: int
    head_hash: str
    ts_ms: int
    reason: str = ""
    public_key: str = ""
    signature: str = ""

    def payload(self) -> bytes:
        """The bytes a seal's signature covers."""
        return canonical_json({"schema": schemas.LEDGER_ANCHOR, "ledger_id": self.ledger_id, "seq": self.seq,
                               "head_hash": self.head_hash, "ts_ms": self.ts_ms, "reason": self.reason})

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (the report's ``anchor`` field and the seal file's content)."""
        return {"schema": schemas.LEDGER_ANCHOR, "source": self.source, "ledger_id": self.ledger_id,
                "seq": self.seq, "head_hash": self.head_hash, "ts_ms": self.ts_ms, "reason": self.reason,
                "public_key": self.public_key, "signature": self.signature}


@dataclass(frozen=True, slots=True)
class Finding:
    """A disagreement between the database and a witness (``kind`` as in verification reports)."""

    seq: int
    kind: str
    message: str


def _parse(source: str, text: str) -> Witness | None:
    """A witness from one JSON record, or None when it is not one (damaged, foreign, truncated)."""
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        return None
    if not isinstance(data, dict) or data.get("schema") != schemas.LEDGER_ANCHOR:
        return None
    seq, ts = data.get("seq"), data.get("ts_ms", 0)
    strings = [data.get(k, "") for k in ("ledger_id", "head_hash", "reason", "public_key", "signature")]
    if isinstance(seq, bool) or not isinstance(seq, int) or seq < 0 or not isinstance(ts, int) or not all(
            isinstance(s, str) for s in strings):
        return None
    ledger_id, head_hash, reason, public_key, signature = (str(s) for s in strings)
    return Witness(source, ledger_id, seq, head_hash, ts, reason, public_key, signature)


def _read_text(path: Path, limit: int) -> str | None:
    """Up to ``limit`` bytes from the end of a regular file; None when absent or not a regular file."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError:
        return None
    try:
        info = os.fstat(fd)
        if not (info.st_mode & 0o170000 == 0o100000):  # a FIFO or device would block or never end
            return None
        start = max(0, info.st_size - limit)
        return os.pread(fd, limit, start).decode("utf-8", "replace")
    finally:
        os.close(fd)


def read_witnesses(state_dir: Path, copy: Path | None = None) -> tuple[list[Witness], list[Finding]]:
    """Every witness found (seal, head hint, newest line of the copy), plus findings about the files.

    A seal or copy file that exists but holds no valid record is itself a finding (``missing``):
    an anchor that cannot be read witnesses nothing, which is what an attacker would want.
    """
    witnesses: list[Witness] = []
    findings: list[Finding] = []
    for source, path in (("seal", state_dir / SEAL_FILE), ("head", state_dir / HEAD_FILE)):
        text = _read_text(path, 16 * 1024)
        if text is None:
            continue
        found = _parse(source, text.strip("\x00 \n"))
        if found is None:
            findings.append(Finding(0, "missing", f"{path} is damaged: it holds no readable anchor record"))
        else:
            witnesses.append(found)
    if copy is not None:
        text = _read_text(copy, _COPY_TAIL_BYTES)
        newest = next((w for w in (_parse("copy", line) for line in reversed((text or "").splitlines()))
                       if w is not None), None)
        if newest is None:
            findings.append(Finding(0, "missing", f"the anchor copy {copy} named in the settings holds no "
                                                  "anchor record (deleted, emptied or never written)"))
        else:
            witnesses.append(newest)
    return witnesses, findings


def compare(
    witnesses: list[Witness],
    *,
    ledger_id: str | None,
    max_seq: int,
    hash_at: Callable[[int], str | None],
    trusted_key: str | None,
) -> list[Finding]:
    """Findings where the database disagrees with a witness.

    ``ledger_id`` is the database's id (None: the database is absent); ``hash_at(seq)`` gives the
    hash the database holds at ``seq`` (None: no such row, already reported as ``missing``).
    """
    findings: list[Finding] = []
    # The seal first: when it and the hint witness the same loss, the signed witness is the one named.
    for w in sorted(witnesses, key=lambda w: w.source == "head"):
        label = {"seal": "the signed anchor", "head": "the head anchor", "copy": "the anchor copy"}[w.source]
        if w.source != "head" and not _signature_ok(w, trusted_key):
            findings.append(Finding(w.seq, "bad_signature", f"{label} is not signed by the ledger key"))
            continue
        if ledger_id is None:
            findings.append(Finding(0, "missing", f"the audit database is gone although {label} witnessed "
                                                  f"{w.seq} entries"))
        elif w.ledger_id != ledger_id:
            findings.append(Finding(w.seq, "rollback", f"the database is not the ledger {label} witnessed (ledger "
                                                       f"id {ledger_id[:12]}… instead of {w.ledger_id[:12]}…): "
                                                       "it was replaced"))
        elif w.seq > max_seq:
            findings.append(Finding(w.seq, "rollback", f"the ledger ends at seq {max_seq} but {label} witnessed "
                                                       f"seq {w.seq}: entries were deleted or the database was "
                                                       "replaced by an older copy"))
        elif w.seq > 0:
            held = hash_at(w.seq)
            if held is not None and held != w.head_hash:
                findings.append(Finding(w.seq, "rollback", f"entry {w.seq} is not the one {label} witnessed: the "
                                                           "ledger was replaced or rewritten from there on"))
    unique: dict[tuple[int, str], Finding] = {}
    for f in findings:
        unique.setdefault((f.seq, f.kind), f)
    return list(unique.values())


def _signature_ok(w: Witness, trusted_key: str | None) -> bool:
    if trusted_key is not None and w.public_key != trusted_key:
        return False
    return signing.signature_valid(w.public_key, w.signature, w.payload())


class AnchorKeeper:
    """Writes the anchor for one open store: the head hint after commits, the seal when sealed.

    Thread-safe; hints never move backwards within a process. Failures to write the hint are
    ignored (it is advisory); failures to write the seal or the copy raise ``OSError``.
    """

    def __init__(self, state_dir: Path, key: Ed25519PrivateKey, ledger_id: str, copy: Path | None = None) -> None:
        self.state_dir = state_dir
        self.copy = copy
        self._key = key
        self._public_key = signing.public_key_hex(key)
        self._ledger_id = ledger_id
        self._lock = threading.Lock()
        self._hint_seq = -1
        self._head_fd: int | None = None

    def head_moved(self, seq: int, head_hash: str) -> None:
        """Record the committed head in the hint (called after every commit)."""
        record = json.dumps({"schema": schemas.LEDGER_ANCHOR, "ledger_id": self._ledger_id, "seq": seq,
                             "head_hash": head_hash}, separators=(",", ":"))
        data = record.encode("ascii").ljust(_HEAD_SIZE - 1) + b"\n"
        with self._lock:
            if seq <= self._hint_seq:
                return
            try:
                if self._head_fd is None:
                    self._head_fd = os.open(self.state_dir / HEAD_FILE, os.O_RDWR | os.O_CREAT, 0o600)
                os.pwrite(self._head_fd, data, 0)
                self._hint_seq = seq
            except OSError:
                pass

    def seal(self, seq: int, head_hash: str, reason: str) -> Witness:
        """Sign the head and write it durably to the seal file (and append it to the copy)."""
        unsigned = Witness("seal", self._ledger_id, seq, head_hash, now_ms(), reason, self._public_key)
        sealed = Witness("seal", unsigned.ledger_id, seq, head_hash, unsigned.ts_ms, reason, self._public_key,
                         signing.sign(self._key, unsigned.payload()))
        line = json.dumps({k: v for k, v in sealed.to_dict().items() if k != "source"}, sort_keys=True)
        with self._lock:
            _replace_durably(self.state_dir / SEAL_FILE, line + "\n")
            if self.copy is not None:
                _append_durably(self.copy, line + "\n")
        self.head_moved(seq, head_hash)
        return sealed

    def close(self) -> None:
        """Release the hint file."""
        with self._lock:
            if self._head_fd is not None:
                os.close(self._head_fd)
                self._head_fd = None


def _replace_durably(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, text.encode("ascii"))
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    _fsync_dir(path.parent)


def _append_durably(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NONBLOCK, 0o600)
    try:
        os.write(fd, text.encode("ascii"))
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def anchor_files(state_dir: Path) -> Iterator[Path]:
    """The anchor files of a state dir that exist (for messages telling what to move aside)."""
    for name in (SEAL_FILE, HEAD_FILE):
        if (state_dir / name).exists():
            yield state_dir / name
