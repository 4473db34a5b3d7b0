"""Preflight and install: scan, decide, copy, pin in the lockfile, record in the ledger.

``preflight`` runs every check and changes nothing. ``install`` then either refuses (a ``fail``
verdict, or implied capabilities that grew since the pinned version) or copies the extension into
``<agent dir>/extensions/<name>``, pins its content hash, capability set and every dependency file's
hash in ``<state dir>/extensions.lock.json`` and appends an ``install`` ledger entry.

An extension that declares npm ``dependencies`` gets them installed by npm (:mod:`.fetch`, never
running install scripts) into a staging folder first; they are scanned like the extension's own code
(except the packages the runtime serves itself, such as TypeBox) and land in the installed copy's
``node_modules``, replacing any the source folder had. ``--force --reason``
overrides a refusal; the override is recorded (ledger decision ``forced``, the reason's hash, the
findings' hashes) and the reason text is kept in the lockfile entry (see :mod:`.lockfile`).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from pi_sandbox.audit import AlertDraft, LedgerEntryDraft
from pi_sandbox.config.locations import pi_extension_folders, sandboxed_extension_folders
from pi_sandbox.errors import InstallError, OutputWriteError
from pi_sandbox.fscase import CASE_RULES, CaseRules
from pi_sandbox.hashing import sha256_hex
from pi_sandbox.progress import ProgressCallback
from pi_sandbox.scanner.fetch import fetch, install_dependencies, is_remote_spec, needs_dependencies
from pi_sandbox.scanner.integrity import dependency_files
from pi_sandbox.scanner.lockfile import LockEntry, load_lockfile, pinned_content_status, tree_hash, write_lockfile
from pi_sandbox.scanner.model import FAIL, ScanReport
from pi_sandbox.scanner.packages import plan_dependencies
from pi_sandbox.scanner.walker import METADATA_DIRS, SkipRule, scan_path

__all__ = ["BLOCKED", "NEEDS_CONFIRMATION", "READY", "InstallOutcome", "LockEntry", "Preflight", "install",
           "pinned_content_status", "preflight"]

if TYPE_CHECKING:
    from pi_sandbox.audit import AuditStore
    from pi_sandbox.config import SecurityConfig

READY: Final = "ready"
BLOCKED: Final = "blocked"
NEEDS_CONFIRMATION: Final = "needs_confirmation"
MAX_LEDGER_FINDING_HASHES: Final = 256


@dataclass(frozen=True)
class Preflight:
    """Everything install would decide, computed without changing anything."""

    extension_id: str
    source: Path
    destination: Path
    report: ScanReport
    previous: LockEntry | None
    added_capabilities: tuple[str, ...]
    #: The npm command that installed the dependencies into staging (None: the extension has none).
    npm_command: str | None = None
    #: Where npm installed them (inside a staging folder that ``install`` moves into place).
    modules: Path | None = None

    @property
    def reason_codes(self) -> tuple[str, ...]:
        """Why install needs an operator override (empty when it can proceed)."""
        codes: list[str] = []
        if self.report.verdict == FAIL:
            codes.append("scan_forbidden")
        if self.added_capabilities:
            codes.append("capability_expansion")
        return tuple(codes)

    @property
    def decision(self) -> str:
        """``ready``, ``blocked`` (forbidden findings) or ``needs_confirmation`` (capabilities grew)."""
        if self.report.verdict == FAIL:
            return BLOCKED
        return NEEDS_CONFIRMATION if self.added_capabilities else READY

    @property
    def unchanged(self) -> bool:
        """True when the pinned version has the same content hash."""
        return self.previous is not None and self.previous.content_hash == self.report.content_hash


@dataclass(frozen=True)
class InstallOutcome:
    """The result of ``install``: whether it happened and what was recorded."""

    preflight: Preflight
    installed: bool
    decision: str
    reason_codes: tuple[str, ...]
    ledger_seq: int | None
    lock_entry: LockEntry | None


# --- names and paths ----------------------------------------------------------------------------


def sanitise_name(raw: str) -> str:
    """A folder-safe extension id: ``@scope/pkg`` → ``scope-pkg``; other unsafe characters → ``-``."""
    name = raw.strip().lstrip("@").replace("/", "-")
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip(".-")[:100]
    if not name:
        raise InstallError(f"cannot derive an extension name from {raw!r}; rename the folder or package")
    return name


def extension_name(path: Path) -> str:
    """The extension id: ``package.json`` name, else the folder name or file stem (sanitised)."""
    if path.is_dir():
        manifest = path / "package.json"
        if manifest.is_file():
            try:
                data = json.loads(manifest.read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError, json.JSONDecodeError):
                data = None
            if isinstance(data, dict) and isinstance(data.get("name"), str) and data["name"].strip():
                return sanitise_name(data["name"])
        return sanitise_name(path.resolve().name)
    return sanitise_name(path.stem)


def refuse_pi_folder(path: Path, config: SecurityConfig, case: CaseRules = CASE_RULES) -> None:
    """Raise ``InstallError`` if ``path`` is, is inside or contains one of pi's own extension folders.

    pi loads everything there by itself, unsandboxed; compared after resolving symlinks, so a
    ``sandboxed-extensions`` link to ``extensions`` is refused too, and without letter case where the
    file system ignores it (``Extensions`` is ``extensions`` there).
    """
    target = str(path.resolve())
    for folder in pi_extension_folders(config.agent_dir, config.project_dir):
        pi_folder = str(folder.resolve())
        if case.refuses(target, pi_folder) or case.refuses(pi_folder, target):
            raise InstallError(
                f"{path} is (or overlaps) pi's own extensions folder {folder}: the pi agent loads every extension "
                "there itself, without the sandbox. pi-sandbox installs into its own folder "
                f"{sandboxed_extension_folders(config.agent_dir, config.project_dir)[0]} (run by the pi bridge, "
                "docs/bridge.md); if that folder is a link into pi's folder, remove the link")


def extensions_folder(config: SecurityConfig) -> Path:
    """The folder ``install`` copies extensions into (and the only one ``uninstall`` removes from):
    pi-sandbox's own, which pi never loads by itself."""
    folder = sandboxed_extension_folders(config.agent_dir, config.project_dir)[0]
    refuse_pi_folder(folder, config)
    return folder


def _destination(config: SecurityConfig, source: Path, extension_id: str) -> Path:
    destination = extensions_folder(config) / (extension_id if source.is_dir() else extension_id + source.suffix)
    refuse_pi_folder(destination, config)
    return destination


# --- preflight / install ------------------------------------------------------------------------


def _own_code(deps: bool) -> SkipRule | None:
    """What of the source folder is the extension's own code: all of it, but not its ``node_modules``
    when install replaces that with npm's."""
    if not deps:
        return None
    return lambda rel: "replaced_by_npm_install" if rel == "node_modules" or rel.startswith("node_modules/") else None


_IN_OWN_REPORT = "in_the_extension_report"


def _dependencies_only(rel: str) -> str | None:
    return None if rel.startswith("node_modules/") else _IN_OWN_REPORT


def _merge(own: ScanReport, deps: ScanReport) -> ScanReport:
    """One report: the extension's files plus its installed dependencies (under ``node_modules/``, where
    the scanner gives them their context: dependency, or served by the runtime and reported apart)."""
    skipped = own.skipped + tuple(k for k in deps.skipped if k.reason != _IN_OWN_REPORT)
    return replace(own, files=own.files + deps.files, skipped=skipped, duration_s=own.duration_s + deps.duration_s)


@contextmanager
def _resolved_source(spec: str | Path, env: dict[str, str]) -> Iterator[Path]:
    """A local path for ``spec`` (downloaded into a temp folder for npm:/git: specs)."""
    text = str(spec)
    if not is_remote_spec(text):
        yield Path(spec)
        return
    with tempfile.TemporaryDirectory(prefix="pi-fetch-") as tmp:
        yield fetch(text, Path(tmp), env)


def _preflight(path: Path, config: SecurityConfig, staging: Path | None,
               progress: ProgressCallback | None = None) -> Preflight:
    deps = path.is_dir() and needs_dependencies(path)
    report = scan_path(path, skip=_own_code(deps), progress=progress)
    npm_command = modules = None
    if deps and staging is not None:
        for name in ("package.json", "package-lock.json", "npm-shrinkwrap.json"):
            if (path / name).is_file():
                shutil.copy2(path / name, staging / name)
        npm_command = install_dependencies(staging, dict(config.environ))
        modules = staging / "node_modules"
        if modules.is_dir():
            report = _merge(report, scan_path(staging, skip=_dependencies_only, progress=progress))
    extension_id = extension_name(path)
    previous = load_lockfile(config.state_dir).get(extension_id)
    added: tuple[str, ...] = ()
    if previous is not None:
        added = tuple(sorted(set(report.capabilities) - set(previous.capabilities)))
    return Preflight(
        extension_id=extension_id,
        source=path,
        destination=_destination(config, path, extension_id),
        report=report,
        previous=previous,
        added_capabilities=added,
        npm_command=npm_command,
        modules=modules,
    )


def preflight(path: Path | str, config: SecurityConfig, *, progress: ProgressCallback | None = None) -> Preflight:
    """Scan ``path`` (a folder, a file, an ``npm:`` spec or a git URL) with its dependencies and
    compare with the pinned version; changes nothing. ``progress`` hears the scans' file counts."""
    with _resolved_source(path, dict(config.environ)) as source, \
            tempfile.TemporaryDirectory(prefix="pi-deps-") as staging:
        return _preflight(source, config, Path(staging), progress)


def install(
    path: Path | str,
    config: SecurityConfig,
    store: AuditStore,
    *,
    force: bool = False,
    reason: str | None = None,
    progress: ProgressCallback | None = None,
) -> InstallOutcome:
    """Preflight, then install unless refused; every outcome is recorded in the ledger.

    ``path`` is a folder, a file, an ``npm:<spec>`` or a git URL (``git:<url>``). ``progress`` hears the
    scans' file counts.
    """
    if force and not (reason and reason.strip()):
        raise InstallError("--force needs --reason TEXT: say why this extension is trusted despite the scan")
    with _resolved_source(path, dict(config.environ)) as source:
        config.agent_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix=".pi-deps-", dir=config.agent_dir) as staging:
            return _install(source, str(path), config, store, force, reason, Path(staging), progress)


def _install(
    path: Path, spec: str, config: SecurityConfig, store: AuditStore, force: bool, reason: str | None,
    staging: Path, progress: ProgressCallback | None = None,
) -> InstallOutcome:
    check = _preflight(path, config, staging, progress)
    codes = check.reason_codes
    refused = bool(codes) and not force
    decision = "deny" if refused else ("forced" if codes else "allow")
    _alerts(store, check, decision)
    lock_entry: LockEntry | None = None
    if not refused:
        _copy_into_place(path, check.destination, check.report.content_hash, check.modules)
        single = None if path.is_dir() else path.name
        lock_entry = LockEntry(
            extension_id=check.extension_id,
            content_hash=tree_hash(check.destination, single),
            capabilities=check.report.capabilities,
            verdict=check.report.verdict,
            finding_hashes=check.report.finding_hashes,
            counts={"forbidden": check.report.forbidden_count, "flagged": check.report.flagged_count},
            installed_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            source_path_hash=sha256_hex(spec if is_remote_spec(spec) else str(path.resolve())),
            install_path=str(check.destination),
            forced=decision == "forced",
            force_reason=reason.strip() if decision == "forced" and reason else None,
            hashed_name=single,
            dependency_files=dependency_files(plan_dependencies(check.destination)) if path.is_dir() else None,
        )
        entries = load_lockfile(config.state_dir)
        entries[check.extension_id] = lock_entry
        write_lockfile(config.state_dir, entries)
    entry = store.append(_ledger_draft(check, decision, codes, reason if decision == "forced" else None))
    store.record("install", {**_detail(check, codes, None), "decision": decision, "ledger_seq": entry.seq},
                 extension_id=check.extension_id)
    return InstallOutcome(check, not refused, decision, codes, entry.seq, lock_entry)


def _detail(check: Preflight, codes: tuple[str, ...], reason: str | None) -> dict[str, Any]:
    report = check.report
    hashes = report.finding_hashes
    detail: dict[str, Any] = {
        "verdict": report.verdict,
        "content_hash": report.content_hash,
        "previous_content_hash": check.previous.content_hash if check.previous else None,
        "forbidden": report.forbidden_count,
        "flagged": report.flagged_count,
        "files": len(report.files),
        "lines": report.total_lines,
        "capabilities": list(report.capabilities),
        "added_capabilities": list(check.added_capabilities),
        "finding_count": len(hashes),
        "finding_hashes": list(hashes[:MAX_LEDGER_FINDING_HASHES]),
        "source_path_hash": sha256_hex(str(check.source.resolve())),
        "reason_codes": list(codes),
    }
    if reason is not None:
        detail["operator_reason_hash"] = sha256_hex(reason.strip())
    return detail


def _ledger_draft(
    check: Preflight, decision: str, codes: tuple[str, ...], reason: str | None
) -> LedgerEntryDraft:
    if decision == "deny":
        code = codes[0]
    elif decision == "forced":
        code = "forced_" + codes[0]
    else:
        code = "scan_" + check.report.verdict
    return LedgerEntryDraft(
        kind="install",
        extension_id=check.extension_id,
        decision=decision,
        reason=code,
        detail=_detail(check, codes, reason),
    )


def _alerts(store: AuditStore, check: Preflight, decision: str) -> None:
    action = "deny" if decision == "deny" else "allow"
    context = check.report.content_hash
    if check.report.verdict == FAIL:
        store.record_alert(AlertDraft(
            category="scanner",
            severity="error",
            extension_id=check.extension_id,
            summary=f"install scan found {check.report.forbidden_count} forbidden construct(s)"
            + (" (installed by operator override)" if decision == "forced" else ""),
            reason_codes=("scan_forbidden",) + (("forced_install",) if decision == "forced" else ()),
            action=action,
            remediation="review the findings with `pi-sandbox ext scan`; install only with --force --reason TEXT",
            context_hash=context,
        ))
    if check.added_capabilities:
        store.record_alert(AlertDraft(
            category="scanner",
            severity="warning",
            extension_id=check.extension_id,
            summary="capability expansion on re-install: +" + ", +".join(check.added_capabilities),
            reason_codes=("capability_expansion",) + (("forced_install",) if decision == "forced" else ()),
            action=action,
            remediation="confirm the new capabilities with --force --reason TEXT, or keep the pinned version",
            context_hash=context,
        ))


def _ignore_for(source: Path, replace_modules: bool) -> Any:
    """copytree's ignore: VCS metadata, and the source's own ``node_modules`` when npm's replaces it."""
    top = str(source)

    def ignore(folder: str, names: list[str]) -> set[str]:
        skipped = {n for n in names if n in METADATA_DIRS}
        if replace_modules and folder == top and "node_modules" in names:
            skipped.add("node_modules")
        return skipped
    return ignore


def _copy_into_place(source: Path, destination: Path, scanned_hash: str, modules: Path | None = None) -> None:
    """Copy to a sibling temp path, check it is what was scanned, add npm's ``modules``, then swap it in.

    A failed copy never leaves half an extension, and code swapped into the source after the scan
    (a race by whoever controls the source folder) is never installed under the clean verdict.
    """
    parent = destination.parent
    staging: Path | None = None
    try:
        parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{destination.name}.staging-", dir=parent))
        target = staging / destination.name
        if source.is_dir():
            shutil.copytree(source, target, symlinks=True, ignore=_ignore_for(source, modules is not None))
        else:
            shutil.copy2(source, target)
        if tree_hash(target, None if source.is_dir() else source.name, _own_code(modules is not None)) != scanned_hash:
            shutil.rmtree(staging, ignore_errors=True)
            raise InstallError(f"{source} changed while it was being installed (its content no longer matches "
                               "the scan); nothing was installed — re-run the install when the source is stable")
        if modules is not None and modules.is_dir():
            os.replace(modules, target / "node_modules")
        if destination.exists() or destination.is_symlink():
            os.replace(destination, staging / (destination.name + ".previous"))
        os.replace(target, destination)
        shutil.rmtree(staging, ignore_errors=True)
    except (OSError, RecursionError) as exc:  # copytree recurses once per folder level
        if staging is not None:
            previous = staging / (destination.name + ".previous")
            if previous.exists() and not destination.exists():
                os.replace(previous, destination)  # put the installed version back before cleaning up
            _remove_tree(staging)
        if isinstance(exc, RecursionError):
            raise InstallError(f"cannot copy the extension into {parent}: its folders are nested too deeply to "
                               "copy") from None
        # The machine refused (disk full, file size limit, permissions): exit 3 with a fix for that, not the
        # scanner's advice; copytree's shutil.Error holds a list of (source, copy, text): name the first.
        errors = exc.args[0] if isinstance(exc, shutil.Error) and exc.args and isinstance(exc.args[0], list) else []
        why = (f"{errors[0][0]}: {errors[0][2]}" + (f" (and {len(errors) - 1} more)" if len(errors) > 1 else "")
               if errors else (exc.strerror or str(exc)))
        raise OutputWriteError(f"cannot copy the extension into {parent}: {why}; nothing was installed (an installed "
                               "version stays as it was)",
                               remediation="free space or raise the file size limit (`ulimit -f`), check that you "
                                           "may write there, then install again") from None


def _remove_tree(path: Path) -> None:
    """Best-effort ``rmtree`` without recursion (a tree nested past the recursion limit crashes rmtree)."""
    for folder, dirnames, filenames in _walk_bottom_up(path):
        for name in filenames:
            Path(folder, name).unlink(missing_ok=True)
        for name in dirnames:
            try:
                Path(folder, name).rmdir()
            except OSError:
                pass  # left behind as a hidden staging dir; never half an installed extension
    try:
        path.rmdir()
    except OSError:
        pass


def _walk_bottom_up(root: Path) -> list[tuple[str, list[str], list[str]]]:
    """Folders under ``root`` deepest first, each with its sub-folder and file names (no recursion)."""
    order: list[tuple[str, list[str], list[str]]] = []
    pending = [str(root)]
    while pending:
        folder = pending.pop()
        try:
            with os.scandir(folder) as it:
                entries = list(it)
        except OSError:
            continue
        dirs = [e.name for e in entries if e.is_dir(follow_symlinks=False)]
        order.append((folder, dirs, [e.name for e in entries if not e.is_dir(follow_symlinks=False)]))
        pending.extend(os.path.join(folder, d) for d in dirs)
    return order[::-1]
