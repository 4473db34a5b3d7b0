"""Set a damaged or rolled-back ledger aside and start a new one without lifting any containment.

When ``security.db`` is damaged (not readable as SQLite) or disagrees with its signed anchor (rows
deleted, file replaced), the store refuses to write, so nothing runs and no incident can be recorded.
Starting a new ledger by moving the files by hand has a trap: kill switches and quarantines *are* ledger
entries, so a new, empty ledger lifts every one of them — in the middle of an incident.

:func:`set_aside_ledger` does it safely:

1. it refuses when the ledger verifies (nothing to set aside) or a writer holds it (a running session);
2. it moves the ledger files (database, WAL, anchor, head hint, the settings' anchor copy) byte for byte
   into ``<state dir>/ledger-set-aside/<UTC time>/`` with a ``manifest.json`` of their sizes and SHA-256;
3. it starts a new ledger whose first entries are the **global kill switch** (the old record cannot be
   trusted, so every extension stops until an operator has reviewed it) and, read from the old ledger
   where it is still readable, every quarantine and per-extension kill switch, so that lifting the
   global switch later does not release what was contained before.

The moved files are never modified; ``pi-sandbox security ledger verify --ledger DIR`` verifies them in
place against the state dir's key.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from pi_sandbox.audit import AuditStore
from pi_sandbox.audit.anchor import HEAD_FILE, SEAL_FILE
from pi_sandbox.audit.db import DB_FILE
from pi_sandbox.audit.recovery import WRITERS_LOCK
from pi_sandbox.audit.verify import verify_ledger
from pi_sandbox.config.model import TrustSettings
from pi_sandbox.errors import AuditStoreError, LedgerCorruptError, LedgerSetAsideError
from pi_sandbox.trust import control
from pi_sandbox.trust.killswitch import GLOBAL, KillSwitchBoard
from pi_sandbox.trust.registry import TrustRegistry, operator_name
from pi_sandbox.trust.states import Actor, TransitionReason, TrustState

#: Folder under the state dir that holds one sub-folder per set-aside ledger.
SET_ASIDE_DIR: Final = "ledger-set-aside"
MANIFEST: Final = "manifest.json"
MANIFEST_SCHEMA: Final = "pi.security.ledger_set_aside.v1"
#: The files of one ledger, in the state dir (the settings' anchor copy is added when configured).
LEDGER_FILES: Final = (DB_FILE, f"{DB_FILE}-wal", f"{DB_FILE}-shm", SEAL_FILE, HEAD_FILE)
ANCHOR_COPY_NAME: Final = "anchor-copy"


@dataclass(frozen=True, slots=True)
class MovedFile:
    """One file moved into the set-aside folder."""

    name: str
    origin: str
    size: int
    sha256: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"name": self.name, "origin": self.origin, "size": self.size, "sha256": self.sha256}


@dataclass(frozen=True, slots=True)
class SetAsideResult:
    """What :func:`set_aside_ledger` did."""

    folder: Path
    problem: str
    files: tuple[MovedFile, ...]
    #: False when the old ledger could not be read at all (then only the global switch stands).
    containment_read: bool
    quarantined: tuple[str, ...]
    kill_switches: tuple[str, ...]
    #: Ledger seq of the global kill switch in the new ledger.
    kill_switch_seq: int
    manifest_sha256: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"folder": str(self.folder), "problem": self.problem, "files": [f.to_dict() for f in self.files],
                "containment_read": self.containment_read, "quarantined": list(self.quarantined),
                "kill_switches": list(self.kill_switches), "kill_switch_seq": self.kill_switch_seq,
                "manifest_sha256": self.manifest_sha256}


def ledger_problem(state_dir: Path, anchor_copy: Path | None) -> str | None:
    """Why the ledger of ``state_dir`` cannot be trusted (damaged, rolled back, tampered), or None when it
    verifies (or none was ever created)."""
    try:
        report = verify_ledger(state_dir, anchor_copy=anchor_copy)
    except LedgerCorruptError as exc:
        return str(exc).split(";", 1)[0]
    if report.chain_valid:
        return None
    return "; ".join(f"seq {i.seq}: {i.message}" for i in report.verification_errors[:3])


def _containment(state_dir: Path, settings: TrustSettings) -> tuple[bool, list[str], list[str]]:
    """(readable, quarantined ids, ids with a kill switch on) of the old ledger, read-only and best effort:
    a damaged database gives (False, [], []). The global switch is not listed: the new ledger sets it anyway."""
    if not (state_dir / DB_FILE).is_file():
        return False, [], []
    try:
        with AuditStore.open_read_only(state_dir) as store:
            switches = [e.scope for e in KillSwitchBoard(store).active() if e.scope != GLOBAL]
            known = TrustRegistry(store, settings).known()
    except (AuditStoreError, sqlite3.DatabaseError):
        return False, [], []
    return True, sorted(ext for ext, state in known.items() if state is TrustState.QUARANTINED), sorted(switches)


def _sha256(path: Path) -> tuple[int, str]:
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
            size += len(block)
    return size, digest.hexdigest()


def _new_folder(state_dir: Path) -> Path:
    base = state_dir / SET_ASIDE_DIR
    base.mkdir(mode=0o700, exist_ok=True)
    stamp = time.strftime("%Y%m%dt%H%M%Sz", time.gmtime())
    folder, n = base / stamp, 2
    while folder.exists():  # two set-asides within one second
        folder, n = base / f"{stamp}-{n}", n + 1
    folder.mkdir(mode=0o700)
    return folder


@contextlib.contextmanager
def _no_writer(state_dir: Path) -> Any:
    """Hold the writers' lock exclusively: every open store holds it shared, so this fails while any
    session (rpc, mcp, the bridge) still has the ledger open."""
    path = state_dir / WRITERS_LOCK
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise LedgerSetAsideError(
                "a running pi-sandbox session has the ledger open (pi-sandbox rpc, mcp or the pi bridge); stop "
                "it first (the ledger refuses its writes anyway, so its extensions are already stopped)"
            ) from None
        yield
    finally:
        os.close(fd)


def _move(state_dir: Path, folder: Path, anchor_copy: Path | None) -> list[MovedFile]:
    moves = [(state_dir / name, name) for name in LEDGER_FILES]
    if anchor_copy is not None:
        moves.append((anchor_copy, ANCHOR_COPY_NAME))
    moved: list[MovedFile] = []
    for origin, name in moves:
        if not origin.is_file():
            continue
        size, digest = _sha256(origin)
        shutil.move(str(origin), str(folder / name))  # a rename on one file system: the bytes are untouched
        moved.append(MovedFile(name, str(origin), size, digest))
    return moved


def set_aside_ledger(state_dir: Path, settings: TrustSettings, reason: str, *,
                     anchor_copy: Path | None = None) -> SetAsideResult:
    """Move the untrustworthy ledger of ``state_dir`` aside and start a new one with every extension
    stopped and the old containment carried over (see the module docstring).

    Raises :class:`LedgerSetAsideError` when there is no reason, the ledger verifies, or a session holds it.
    """
    if not reason.strip():
        raise LedgerSetAsideError("setting the ledger aside needs a reason (--reason TEXT): it is the incident's "
                                  "record")
    problem = ledger_problem(state_dir, anchor_copy)
    if problem is None:
        raise LedgerSetAsideError(
            f"the ledger in {state_dir} verifies (`pi-sandbox security ledger verify`): there is nothing to set "
            "aside", remediation="keep using it; set-aside is for a ledger that is damaged or fails verification")
    with _no_writer(state_dir):
        readable, quarantined, switches = _containment(state_dir, settings)
        folder = _new_folder(state_dir)
        files = _move(state_dir, folder, anchor_copy)
        manifest = {"schema": MANIFEST_SCHEMA, "set_aside_at_ms": int(time.time() * 1000),
                    "actor": operator_name(), "reason": reason, "problem": problem,
                    "files": [f.to_dict() for f in files], "containment_read": readable,
                    "quarantined": quarantined, "kill_switches": switches}
        text = json.dumps(manifest, indent=2, sort_keys=True) + "\n"
        fd = os.open(folder / MANIFEST, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
    # The manifest's hash goes into the new chain: the hand-over of the old files is itself evidence.
    digest = hashlib.sha256(text.encode()).hexdigest()
    note = (f"ledger set aside to {SET_ASIDE_DIR}/{folder.name} (manifest sha256 {digest}; {reason[:150]}): the "
            "old record cannot be trusted, so every extension stays stopped until an operator has reviewed it")
    with AuditStore.open(state_dir, anchor_copy=anchor_copy) as store:
        actor = operator_name()
        board = KillSwitchBoard(store)
        kill_seq = board.set(True, None, actor=actor, note=note).seq
        carried = f"carried over from the set-aside ledger {folder.name}"
        for ext in switches:
            board.set(True, ext, actor=actor, note=carried)
        registry = TrustRegistry(store, settings)
        for ext in quarantined:
            registry.transition(ext, TrustState.QUARANTINED, actor=Actor.OPERATOR,
                                reason=TransitionReason.OPERATOR_QUARANTINE, note=carried)
    control.bump(state_dir)
    return SetAsideResult(folder, problem, tuple(files), readable, tuple(quarantined), tuple(switches), kill_seq,
                          digest)
