"""The installed-extensions lockfile (``<state dir>/extensions.lock.json``) and pin checks.

Each installed extension is pinned by the scanner's content hash of what was installed, the
capability set its findings imply, the verdict and the findings' hashes; a loader can ask
:func:`pinned_content_status` whether the installed copy is still that pinned content.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from pi_sandbox.errors import InstallError
from pi_sandbox.scanner.walker import SkipRule, content_hash, file_digest, iter_extension_files
from pi_sandbox.schemas import EXTENSION_LOCKFILE

if TYPE_CHECKING:
    from pi_sandbox.config import SecurityConfig

LOCKFILE_NAME: Final = "extensions.lock.json"


@dataclass(frozen=True)
class LockEntry:
    """What the lockfile pins about one installed extension."""

    extension_id: str
    content_hash: str
    capabilities: tuple[str, ...]
    verdict: str
    finding_hashes: tuple[str, ...]
    counts: Mapping[str, int]
    installed_at: str
    source_path_hash: str
    install_path: str
    forced: bool = False
    force_reason: str | None = None
    #: Single-file installs: the source file name the content hash was computed under (the installed
    #: copy is renamed to ``<id><suffix>``).
    hashed_name: str | None = None
    #: SHA-256 of every file of the dependency packages the extension may import, keyed by the path
    #: relative to its install root (None: pinned before dependencies were pinned).
    dependency_files: Mapping[str, str] | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON form (the lockfile's per-extension object)."""
        return {
            "id": self.extension_id,
            "content_hash": self.content_hash,
            "capabilities": list(self.capabilities),
            "verdict": self.verdict,
            "finding_hashes": list(self.finding_hashes),
            "counts": dict(self.counts),
            "installed_at": self.installed_at,
            "source_path_hash": self.source_path_hash,
            "install_path": self.install_path,
            "forced": self.forced,
            "force_reason": self.force_reason,
            "hashed_name": self.hashed_name,
            "dependency_files": None if self.dependency_files is None else dict(self.dependency_files),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LockEntry:
        """Parse one lockfile entry (raises KeyError/TypeError on a malformed entry)."""
        return cls(
            extension_id=str(data["id"]),
            content_hash=str(data["content_hash"]),
            capabilities=tuple(str(c) for c in data.get("capabilities", [])),
            verdict=str(data.get("verdict", "")),
            finding_hashes=tuple(str(h) for h in data.get("finding_hashes", [])),
            counts={str(k): int(v) for k, v in dict(data.get("counts", {})).items()},
            installed_at=str(data.get("installed_at", "")),
            source_path_hash=str(data.get("source_path_hash", "")),
            install_path=str(data.get("install_path", "")),
            forced=bool(data.get("forced", False)),
            force_reason=data.get("force_reason"),
            hashed_name=data.get("hashed_name"),
            dependency_files=None if data.get("dependency_files") is None else {
                str(k): str(v) for k, v in dict(data["dependency_files"]).items()},
        )


def lockfile_path(state_dir: Path) -> Path:
    """Where the extensions lockfile lives."""
    return state_dir / LOCKFILE_NAME


def load_lockfile(state_dir: Path) -> dict[str, LockEntry]:
    """The pinned extensions by id (empty when there is no lockfile yet)."""
    path = lockfile_path(state_dir)
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(data, dict) or data.get("schema") != EXTENSION_LOCKFILE:
            raise ValueError(f"schema is not {EXTENSION_LOCKFILE}")
        return {str(k): LockEntry.from_dict(v) for k, v in dict(data.get("extensions", {})).items()}
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError, RecursionError) as exc:
        raise InstallError(
            f"{path}: extension lockfile is unreadable ({exc}); restore it from backup or move it aside"
        ) from None


def write_lockfile(state_dir: Path, entries: Mapping[str, LockEntry]) -> None:
    """Atomically replace the lockfile with ``entries`` (fsynced temp file, then rename)."""
    state_dir.mkdir(parents=True, exist_ok=True)
    doc = {"schema": EXTENSION_LOCKFILE, "extensions": {k: entries[k].to_dict() for k in sorted(entries)}}
    fd, tmp = tempfile.mkstemp(prefix=".extensions.lock.", dir=state_dir)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(doc, handle, indent=2, sort_keys=True)
            handle.write("\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, lockfile_path(state_dir))
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise InstallError(f"cannot write the extension lockfile in {state_dir}: {exc.strerror}") from None


def tree_hash(path: Path, single_file_name: str | None = None, skip: SkipRule | None = None) -> str:
    """The scanner's content hash of an extension folder (or of one file reported as ``single_file_name``),
    leaving out the files ``skip`` names, as the scan did."""
    if single_file_name is not None:
        return content_hash([(single_file_name, file_digest(path))])
    files, _skipped = iter_extension_files(path)
    return content_hash([(rel, file_digest(full)) for full, rel in files if skip is None or skip(rel) is None])


def pinned_content_status(config: SecurityConfig, extension_id: str) -> str:
    """Whether an installed extension still matches its lockfile pin.

    Returns ``unpinned`` (no lockfile entry), ``missing`` (the installed copy is gone), ``match`` or
    ``mismatch`` (the files changed since install: re-run ``pi-sandbox ext install``). For loaders that want to
    refuse tampered installs.
    """
    entry = load_lockfile(config.state_dir).get(extension_id)
    if entry is None:
        return "unpinned"
    installed = Path(entry.install_path)
    if not installed.exists():
        return "missing"
    digest = tree_hash(installed, None if installed.is_dir() else entry.hashed_name or installed.name)
    return "match" if digest == entry.content_hash else "mismatch"
