"""Everything that happens to an extension before a worker starts: integrity, dependencies, bundle.

:func:`prepare_bundle` is the one path both the loader (``ExtensionHost.load``) and ``pi-sandbox ext check``
take, so a check reports exactly what a load would refuse. :func:`check_extension` adds the problems
that only show when the module table is consulted (unavailable imports, native addons) and notes that
do not stop a load (native addons, declared dependencies that are missing but not imported);
:func:`check_extension_paths` also applies the refusals a load makes before and after bundling — an id
another extension holds (``identity_conflict``), a kill switch or quarantine — in the loader's order.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from pi_sandbox.config.model import SecurityConfig
from pi_sandbox.errors import ExtensionLoadError, IntegrityMismatchError
from pi_sandbox.runtime.bundler import Bundle, Bundler
from pi_sandbox.runtime.discovery import ExtensionSource
from pi_sandbox.runtime.modules import ModuleTable
from pi_sandbox.runtime.snapshot import Member, VerifiedFiles
from pi_sandbox.scanner.integrity import PinIndex, compare_pin
from pi_sandbox.scanner.lockfile import load_lockfile
from pi_sandbox.scanner.packages import DependencyPlan, native_addons, plan_dependencies, within
from pi_sandbox.scanner.walker import content_hash

#: Ledger decision of each load-failure reason: refusals of something the extension reached for are
#: ``deny``; problems of a user's installation that the user fixes are ``error``.
LOAD_DECISIONS: Final = {
    "dependency_missing": "error",
    "dependency_undeclared": "error",
    "export_not_found": "error",
}


def prepare_bundle(bundler: Bundler, source: ExtensionSource, state_dir: Path, pins: PinIndex | None = None,
                   plan: DependencyPlan | None = None) -> Bundle:
    """Check the pin (own files + dependencies), then bundle exactly the bytes that were checked;
    ``ExtensionLoadError`` says why not. ``pins``: the lockfile, indexed once for a whole load (read from
    ``state_dir`` when not given); ``plan``: the dependency plan, when the caller has it already."""
    plan = plan or plan_dependencies(source.root)
    verified = verify_integrity(source, plan, state_dir, pins)
    return bundler.bundle(source.entry, source.root, plan=plan, verified=verified)


def verify_integrity(source: ExtensionSource, plan: DependencyPlan, state_dir: Path,
                     pins: PinIndex | None = None) -> VerifiedFiles | None:
    """Refuse a pinned extension whose files or dependency files differ from its lockfile pin.

    Returns the reading the pin was checked on (None for an unpinned extension): the bundler builds from
    these bytes only (:mod:`.snapshot`), so a file swapped after this check is never what runs."""
    entry = (pins or PinIndex.of(load_lockfile(state_dir))).find(source.root, source.entry)
    if entry is None:
        return None
    installed = Path(os.path.realpath(entry.install_path))
    single = not installed.is_dir()
    own = Member(installed, single=single)
    # Dependency packages outside the extension's own folder are read as members of their own (those inside
    # it are part of its own files already); a package's nested node_modules holds other members.
    deps = [Member(d, nested=False) for d in plan.dependency_dirs if single or not within(d, installed)]
    verified = VerifiedFiles.read([own, *deps])
    if single:
        name = entry.hashed_name or Path(entry.install_path).name
        own_hash = content_hash([(name, verified.digests.get(str(installed), ""))])
        result = compare_pin(entry, own_hash, None)
    else:
        own_hash = content_hash(list(verified.own(installed)))
        base = plan.install_root.path
        dependencies: dict[str, str] = {}
        for package in plan.dependency_dirs:
            prefix = os.path.relpath(package, base).replace(os.sep, "/") + "/"
            dependencies.update((prefix + rel, digest) for rel, digest in verified.under(package).items())
        result = compare_pin(entry, own_hash, dependencies)
    if not result.ok:
        raise IntegrityMismatchError(
            f"{source.entry}: changed since it was installed and pinned as '{entry.extension_id}': "
            f"{result.describe()}; inspect the change, then re-install with `pi-sandbox ext install`"
        )
    return verified


@dataclass(frozen=True)
class CheckReport:
    """What ``pi-sandbox ext check`` found for one extension entry."""

    source: ExtensionSource
    ok: bool
    reason: str | None  # the load-failure reason code, None when it would load
    error: str | None
    notes: tuple[str, ...]
    dependencies: tuple[str, ...]  # names@versions of the dependency closure

    def to_dict(self) -> dict[str, object]:
        """JSON form."""
        return {
            "id": self.source.extension_id,
            "entry": str(self.source.entry),
            "root": str(self.source.root),
            "ok": self.ok,
            "reason": self.reason,
            "error": self.error,
            "notes": list(self.notes),
            "dependencies": list(self.dependencies),
        }


def check_extension(
    bundler: Bundler, table: ModuleTable, source: ExtensionSource, state_dir: Path,
    blocked: tuple[str, str] | None = None,
) -> CheckReport:
    """Every load check short of running the extension's code. ``blocked``: (reason, message) when a kill
    switch or quarantine would stop the extension once bundled (the loader checks that after the pin)."""
    plan = plan_dependencies(source.root)
    notes = _notes(plan)
    deps = tuple(f"{i.name}@{i.version}" for p, i in sorted(plan.packages.items()) if p != plan.root)
    try:
        bundle = prepare_bundle(bundler, source, state_dir, plan=plan)
    except ExtensionLoadError as exc:
        return CheckReport(source, False, exc.reason, str(exc), notes, deps)
    if blocked is not None:
        return CheckReport(source, False, blocked[0], blocked[1], notes, deps)
    problem = static_import_problem(bundle, table, source.entry)
    if problem is not None:
        return CheckReport(source, False, problem.reason, problem.message, notes, deps)
    return CheckReport(source, True, None, None, notes, deps)


@dataclass(frozen=True)
class ImportProblem:
    """A static import the runtime refuses or cannot serve (found before any code runs)."""

    reason: str
    message: str
    decision: str


def static_import_problem(bundle: Bundle, table: ModuleTable, entry: Path) -> ImportProblem | None:
    """Unconditional native addons and modules the runtime does not serve (every Node builtin is served)."""
    imports = set(bundle.static_imports)
    native = sorted(i for i in imports if i.endswith(".node"))
    if native:
        return ImportProblem(
            "native_addon",
            f"{entry}: imports native addon(s) {', '.join(native)} unconditionally; native code cannot run in "
            "the sandbox (an addon loaded inside try/catch, as an optional path, does not stop the load)",
            "error",
        )
    missing = sorted(i for i in imports - table.ids if not i.startswith(("pi:", "ext:")))
    served_parts = sorted(i for i in missing if _served_package(i) in table.ids)
    if served_parts:
        return ImportProblem(
            "module_unavailable",
            f"{entry}: imports {', '.join(served_parts)}, a sub-path of a package the sandbox serves itself "
            f"({', '.join(sorted({_served_package(i) for i in served_parts}))}) that it does not provide; import "
            "from the package root instead, or report the sub-path to pi-sandbox",
            "error",
        )
    if missing:
        return ImportProblem(
            "module_unavailable",
            f"{entry}: imports module(s) {', '.join(missing)} that the runtime does not provide "
            "(declare npm packages in the extension's package.json and install them)",
            "error",
        )
    return None


def _served_package(module_id: str) -> str:
    """The package part of a bare module id (``@scope/name`` or ``name``)."""
    parts = module_id.split("/")
    return "/".join(parts[:2]) if module_id.startswith("@") else parts[0]


def _notes(plan: DependencyPlan) -> tuple[str, ...]:
    notes: list[str] = []
    for missing in plan.missing:
        notes.append(f"dependency '{missing.name}' of {missing.declared_by} is not installed "
                     f"(fails only if imported): {plan.fix_command()}")
    for path, info in sorted(plan.packages.items()):
        addons = native_addons(path) if path != plan.root or info.native else []
        if addons or (info.native and path != plan.root):
            shown = ", ".join(addons) or "built from binding.gyp"
            notes.append(f"package '{info.name}' contains a native addon ({shown}) that cannot run in the "
                         "sandbox: code paths that need it fail, optional uses are skipped")
    return tuple(notes)


def check_extension_paths(sources: list[ExtensionSource], config: SecurityConfig) -> list[CheckReport]:
    """:func:`check_extension` for each source with the default toolchain and the state dir's cache, after
    the identity check the loader makes first, with the kill switches and trust states the ledger holds."""
    from pi_sandbox.runtime.identity import IDENTITY_CONFLICT, claim_problem, held_ids, identity_of, user_holders
    from pi_sandbox.runtime.modules import load_module_table
    from pi_sandbox.runtime.toolchain import default_toolchain

    toolchain = default_toolchain()
    toolchain.require_installed()
    table = load_module_table(toolchain)
    bundler = Bundler(toolchain, config.state_dir / "bundle-cache", table)
    pins = PinIndex.of(load_lockfile(config.state_dir))
    held = held_ids(pins, user_holders(config.agent_dir, config.project_dir, pins))
    stops = _stops(config, [s.extension_id for s in sources])
    reports: list[CheckReport] = []
    for source in sources:
        identity = identity_of(source.extension_id, source.origin, source.root, source.entry, config.project_dir, pins)
        problem = claim_problem(identity, held)
        if problem is not None:
            reports.append(CheckReport(source, False, IDENTITY_CONFLICT, problem, (), ()))
            continue
        reports.append(check_extension(bundler, table, source, config.state_dir, stops.get(source.extension_id)))
    return reports


def _stops(config: SecurityConfig, extension_ids: list[str]) -> dict[str, tuple[str, str]]:
    """Why each of ``extension_ids`` may not run now (kill switch, quarantine), as the ledger says."""
    from pi_sandbox.audit import AuditStore
    from pi_sandbox.audit.db import DB_FILE
    from pi_sandbox.trust.controls import Controls

    if not (config.state_dir / DB_FILE).exists():
        return {}  # nothing recorded yet: no switch, no quarantine
    found: dict[str, tuple[str, str]] = {}
    with AuditStore.open_read_only(config.state_dir) as store:
        controls = Controls(store, config.trust, config.state_dir, watch=False)
        for extension_id in extension_ids:
            stop = controls.blocked(extension_id)
            if stop is not None:
                found[extension_id] = (str(stop[0]), stop[1])
    return found
