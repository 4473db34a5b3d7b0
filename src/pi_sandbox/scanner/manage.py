"""After install: verify, update and uninstall an installed extension (``pi-sandbox ext verify|update|uninstall``).

- **verify** re-hashes the installed copy against its lockfile pin and re-scans it with today's rules: a
  changed file, a missing copy, a new forbidden finding or a capability the pin does not list all fail;
- **update** is an install over a pinned extension that shows what changes: capabilities that would be
  granted need the operator's confirmation (a callback: the CLI asks, or ``--yes``), forbidden findings still
  refuse unless forced with a reason — and every outcome is ledgered like an install;
- **uninstall** removes the installed copy (only from the folder ``install`` writes to) and its pin, and
  records it in the ledger.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from pi_sandbox.audit import LedgerEntryDraft
from pi_sandbox.errors import InstallError
from pi_sandbox.progress import ProgressCallback
from pi_sandbox.scanner import install as installer
from pi_sandbox.scanner.lockfile import LockEntry, load_lockfile, tree_hash, write_lockfile
from pi_sandbox.scanner.model import FAIL, ScanReport
from pi_sandbox.scanner.walker import scan_path

if TYPE_CHECKING:
    from pi_sandbox.audit import AuditStore
    from pi_sandbox.config import SecurityConfig


@dataclass(frozen=True)
class Verification:
    """``ext verify``: does the installed copy still match its pin and pass today's scan?"""

    extension_id: str
    status: str  # match | mismatch | missing
    pinned: LockEntry
    report: ScanReport | None
    added_capabilities: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return self.status == "match" and self.report is not None and self.report.verdict != FAIL \
            and not self.added_capabilities

    def to_dict(self) -> dict[str, object]:
        return {
            "extension_id": self.extension_id,
            "ok": self.ok,
            "status": self.status,
            "install_path": self.pinned.install_path,
            "pinned_content_hash": self.pinned.content_hash,
            "content_hash": None if self.report is None else self.report.content_hash,
            "verdict": None if self.report is None else self.report.verdict,
            "pinned_capabilities": list(self.pinned.capabilities),
            "added_capabilities": list(self.added_capabilities),
        }


def _pin(config: SecurityConfig, extension_id: str) -> LockEntry:
    entry = load_lockfile(config.state_dir).get(extension_id)
    if entry is None:
        known = ", ".join(sorted(load_lockfile(config.state_dir))) or "none"
        raise InstallError(f"extension '{extension_id}' is not installed by pi-sandbox (installed: {known})")
    return entry


def verify_installed(config: SecurityConfig, extension_id: str) -> Verification:
    """Re-hash and re-scan one installed extension (changes nothing)."""
    pinned = _pin(config, extension_id)
    installed = Path(pinned.install_path)
    if not installed.exists():
        return Verification(extension_id, "missing", pinned, None, ())
    report = scan_path(installed)
    digest = tree_hash(installed, None if installed.is_dir() else pinned.hashed_name or installed.name)
    added = tuple(sorted(set(report.capabilities) - set(pinned.capabilities)))
    return Verification(extension_id, "match" if digest == pinned.content_hash else "mismatch", pinned, report,
                        added)


def installed_ids(config: SecurityConfig) -> list[str]:
    """Every extension id the lockfile pins."""
    return sorted(load_lockfile(config.state_dir))


def update(path: Path, config: SecurityConfig, store: AuditStore, extension_id: str, *,
           confirm: Callable[[installer.Preflight], bool], force: bool = False,
           reason: str | None = None, progress: ProgressCallback | None = None) -> installer.InstallOutcome:
    """Install ``path`` over the pinned ``extension_id``; grown capabilities are granted only if ``confirm``
    says so (the callback sees the preflight: ``previous.capabilities`` and ``added_capabilities``).
    ``progress`` hears the scans' file counts."""
    _pin(config, extension_id)
    check = installer.preflight(path, config, progress=progress)
    if check.extension_id != extension_id:
        raise InstallError(f"{path} is extension '{check.extension_id}', not '{extension_id}'; "
                           f"install it with `pi-sandbox ext install` instead")
    if not force and check.decision == installer.NEEDS_CONFIRMATION and confirm(check):
        grown = ", ".join(check.added_capabilities)
        return installer.install(path, config, store, force=True,
                                 reason=f"update confirmed by the operator: capabilities +{grown}", progress=progress)
    return installer.install(path, config, store, force=force, reason=reason, progress=progress)


def uninstall(config: SecurityConfig, store: AuditStore, extension_id: str) -> LockEntry:
    """Remove the installed copy and its pin; returns the pin that was removed."""
    entries = load_lockfile(config.state_dir)
    pinned = _pin(config, extension_id)
    installed = Path(pinned.install_path)
    folder = installer.extensions_folder(config).resolve()
    if installed.parent.resolve() != folder:
        raise InstallError(f"{installed} is not inside {folder}; refusing to delete it (remove it by hand, then "
                           "uninstall again to drop the pin)")
    if installed.is_dir() and not installed.is_symlink():
        shutil.rmtree(installed)
    elif installed.exists() or installed.is_symlink():
        installed.unlink()
    del entries[extension_id]
    write_lockfile(config.state_dir, entries)
    store.append(LedgerEntryDraft(kind="install", extension_id=extension_id, decision="allow", reason="uninstall",
                                  detail={"content_hash": pinned.content_hash,
                                          "capabilities": list(pinned.capabilities)}))
    return pinned
