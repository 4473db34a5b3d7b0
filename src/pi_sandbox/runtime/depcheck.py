"""What a bundle may contain, and why an import did not resolve.

esbuild resolves imports the way Node does (``node_modules`` walk-up from the importing file's real
path, ``exports``/``imports`` maps with the ``import``/``require``/``node``/``default`` conditions,
``main``, extension probing, symlinks followed). It is not told where to stop, so every file it read
is checked afterwards against the extension's :class:`~pi_sandbox.scanner.packages.DependencyPlan`:
a file must lie inside the install root *and* inside the extension's own folder or one of its
dependency packages. Nothing of a bundle that fails the check reaches a worker.

When esbuild cannot resolve a bare import, :func:`diagnose_unresolved` says which of the three user
mistakes it is — a declared dependency that is not installed, a package outside the install root, a
path the package's ``exports`` does not export — naming the package, the importing file and the fix.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pi_sandbox.errors import ExtensionLoadError
from pi_sandbox.runtime.snapshot import real_path_of, snapshot_path
from pi_sandbox.scanner.packages import (
    DependencyPlan,
    exported_subpaths,
    find_package,
    package_dir_of,
    package_name,
    read_package,
    resolve_export,
    within,
)

_UNRESOLVED = re.compile(
    r'Could not resolve "(?P<spec>[^"]+)"\s+(?P<file>[^\s:][^\n:]*):(?P<line>\d+):(?P<col>\d+):'
)


def _importers(inputs: Mapping[str, Any]) -> dict[str, tuple[str, str]]:
    """input path → (a file that imports it, the specifier it was imported with)."""
    found: dict[str, tuple[str, str]] = {}
    for importer, info in inputs.items():
        for edge in info.get("imports", []) if isinstance(info, dict) else ():
            if isinstance(edge, dict) and not edge.get("external") and isinstance(edge.get("path"), str):
                found.setdefault(edge["path"], (importer, str(edge.get("original") or edge["path"])))
    return found


#: esbuild names an input imported with attributes (``import x from './a.json' with { type: 'json' }``)
#: ``a.json with { type: 'json' }``; the file read is the part before. No ``/`` in the attributes, so the
#: suffix cannot hide a path of its own.
_ATTRIBUTES_SUFFIX = re.compile(r" with \{ [\w$]+: '[^'/\\]*'(?:, [\w$]+: '[^'/\\]*')* \}$")


def check_graph(inputs: Mapping[str, Any], workdir: Path, plan: DependencyPlan,
                snapshot: Path | None = None) -> list[Path]:
    """Real paths of a metafile's inputs; ``ExtensionLoadError`` for any the plan does not allow.

    ``snapshot``: esbuild ran on the snapshot of checked files under this folder (its working folder was
    the snapshot's copy of ``workdir``): every input must resolve inside it, and is judged by the real path
    its copy stands for."""
    importers = _importers(inputs)
    read_from = workdir if snapshot is None else snapshot_path(snapshot, workdir)
    allowed = (plan.root, *plan.dependency_dirs)
    bound = plan.install_root.path
    resolved: list[Path] = []
    for raw in inputs:
        if raw.startswith("(disabled):"):
            continue  # a package's browser-field stub: esbuild read nothing
        file = _ATTRIBUTES_SUFFIX.sub("", raw)
        if ":" in file.split("/", 1)[0]:
            raise ExtensionLoadError(f"bundle input '{raw}' comes from an unsupported namespace")
        path = Path(os.path.realpath(read_from / file))
        if snapshot is not None:
            real = real_path_of(snapshot, str(path))
            if real is None:
                raise ExtensionLoadError(
                    f"bundle input '{raw}' resolves outside the extension's checked files (a link that leaves "
                    "them): imports must stay inside the extension's own folder and its dependencies",
                    reason="import_outside_root")
            path = real
        if not (within(path, bound) and any(within(path, d) for d in allowed)):
            raise _refusal(raw, path, importers.get(raw), workdir, plan)
        resolved.append(path)
    return resolved


def _refusal(
    raw: str, path: Path, importer: tuple[str, str] | None, workdir: Path, plan: DependencyPlan
) -> ExtensionLoadError:
    by = f"{workdir / importer[0]} imports '{importer[1]}', which" if importer else f"import of '{raw}'"
    bound = plan.install_root.path
    if not within(path, bound):
        where = (
            f"the extension root {plan.root}" if bound == plan.root else f"the install root {bound}"
        )
        return ExtensionLoadError(
            f"{by} resolves to {path}, outside {where}: imports must stay inside the extension's "
            "own folder and the dependencies installed with it",
            reason="import_outside_root",
        )
    owner = package_dir_of(path, plan.root)
    if owner != plan.root:
        info = read_package(owner)
        name = info.name if info and info.name else owner.name
        ext = plan.manifest.name if plan.manifest and plan.manifest.name else str(plan.root)
        return ExtensionLoadError(
            f"{by} resolves to package '{name}' ({owner}), which {ext} does not declare as a "
            f"dependency: add '{name}' to 'dependencies' in {plan.root / 'package.json'} and install it "
            f"({plan.fix_command()})",
            reason="dependency_undeclared",
        )
    return ExtensionLoadError(
        f"{by} resolves to {path}, outside the extension's folder {plan.root} and its dependencies",
        reason="import_outside_root",
    )


def diagnose_unresolved(stderr: str, workdir: Path, plan: DependencyPlan) -> ExtensionLoadError | None:
    """A precise error for esbuild's first unresolved bare import, or None to keep esbuild's message."""
    for match in _UNRESOLVED.finditer(stderr):
        spec = match.group("spec")
        name = package_name(spec)
        if name is None:
            continue
        importer = Path(os.path.realpath(workdir / match.group("file").strip()))
        where = f"{importer}:{match.group('line')}"
        error = _diagnose(spec, name, importer, where, plan)
        if error is not None:
            return error
    return None


def _declared(plan: DependencyPlan, importer: Path) -> tuple[str, frozenset[str] | None]:
    owner = package_dir_of(importer, plan.root)
    info = plan.packages.get(owner) or (read_package(owner) if owner != plan.root else None)
    label = (info.name if info and info.name else owner.name) if owner != plan.root else (
        plan.manifest.name if plan.manifest and plan.manifest.name else str(plan.root))
    return label, (info.declared if info else None)


def _diagnose(
    spec: str, name: str, importer: Path, where: str, plan: DependencyPlan
) -> ExtensionLoadError | None:
    bound = plan.install_root.path
    label, declared = _declared(plan, importer)
    found = find_package(name, importer.parent, bound)
    if found is None or not within(found, bound):
        anywhere = find_package(name, importer.parent, None)
        if declared is not None and name in declared:
            others = sorted({m.name for m in plan.missing} - {name})
            also = f" (also missing: {', '.join(others)})" if others else ""
            return ExtensionLoadError(
                f"{where} imports '{spec}': package '{name}' is a dependency of {label} but is not "
                f"installed{also}; install the dependencies: {plan.fix_command()}",
                reason="dependency_missing",
            )
        if anywhere is not None:
            return ExtensionLoadError(
                f"{where} imports '{spec}', which resolves to {anywhere}, outside the install root "
                f"{bound}; declare '{name}' in {label}'s package.json and install it: {plan.fix_command()}",
                reason="import_outside_root",
            )
        return ExtensionLoadError(
            f"{where} imports '{spec}', but package '{name}' is neither declared by {label} nor installed: "
            f"add it to 'dependencies' in package.json, then install: {plan.fix_command()}",
            reason="dependency_undeclared" if declared is not None else "dependency_missing",
        )
    info = read_package(found)
    real = Path(os.path.realpath(found))
    if real != plan.root and real not in plan.packages:
        # Installed, but not in the extension's closure: a pinned load bundles only its checked files (the
        # snapshot), where such a package is absent, so esbuild cannot resolve it; say why.
        pkg = info.name if info and info.name else found.name
        return ExtensionLoadError(
            f"{where} imports '{spec}', which resolves to package '{pkg}' ({found}), which {label} does not "
            f"declare as a dependency: add '{pkg}' to 'dependencies' in its package.json and install it "
            f"({plan.fix_command()})",
            reason="dependency_undeclared",
        )
    if info is None or info.exports is None:
        return None
    subpath = "." + spec[len(name):] if spec != name else "."
    if resolve_export(info.exports, subpath, "import") or resolve_export(info.exports, subpath, "require"):
        return None  # exported: esbuild failed for another reason (missing file), its message says which
    listed = ", ".join(exported_subpaths(info.exports)) or "nothing"
    return ExtensionLoadError(
        f"{where} imports '{spec}', but package '{name}' ({found}) does not export '{subpath}' for the "
        f"conditions import/require/node/default (its package.json 'exports' lists: {listed}); import "
        "one of the exported paths or use a version of the package that exports it",
        reason="export_not_found",
    )
