"""The load-time integrity check: is a pinned extension still exactly what was pinned?

One mechanism for an extension's own files and its dependencies. A pin (a lockfile entry, written by
``pi-sandbox ext install``) holds the content hash of the extension's folder and the SHA-256 of every file
of every dependency package it may import (the closure of :mod:`.packages`, keyed by the path
relative to the install root). :func:`check_pin` recomputes both at load; any difference — a
changed, added or removed own file, a changed, added or removed dependency file, a dependency
package that appeared or vanished — is an :class:`IntegrityResult` with ``ok`` false, which the
loader turns into a refused load, an ``integrity`` alert and a ledger entry.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from pi_sandbox.scanner.lockfile import LockEntry, tree_hash
from pi_sandbox.scanner.packages import DependencyPlan
from pi_sandbox.scanner.walker import content_hash, file_digest, iter_extension_files

#: At most this many changed paths are named in a message (the count is always exact).
_NAMED: int = 5


@dataclass(frozen=True)
class IntegrityResult:
    """The outcome of comparing an extension on disk with its pin."""

    extension_id: str
    own_code_changed: bool
    changed: tuple[str, ...] = ()  # dependency files whose content differs
    added: tuple[str, ...] = ()  # dependency files that were not pinned
    removed: tuple[str, ...] = ()  # pinned dependency files that are gone

    @property
    def ok(self) -> bool:
        """True when nothing differs from the pin."""
        return not (self.own_code_changed or self.changed or self.added or self.removed)

    def describe(self) -> str:
        """One operator-readable sentence naming what changed."""
        parts: list[str] = []
        if self.own_code_changed:
            parts.append("the extension's own files")
        for label, paths in (("changed", self.changed), ("added", self.added), ("removed", self.removed)):
            if paths:
                named = ", ".join(paths[:_NAMED]) + (f" and {len(paths) - _NAMED} more" if len(paths) > _NAMED else "")
                parts.append(f"{len(paths)} dependency file(s) {label} ({named})")
        return "; ".join(parts)


def dependency_files(plan: DependencyPlan, known: Mapping[str, str] | None = None) -> dict[str, str]:
    """SHA-256 of every file of every dependency package, keyed by path relative to the install root.

    A package's nested ``node_modules`` holds other packages: each is hashed as its own closure
    member (or not at all, when the extension cannot import it). ``known`` are digests already
    computed (by real path text), reused instead of reading the file again.
    """
    base = plan.install_root.path
    hashes: dict[str, str] = {}
    for package in plan.dependency_dirs:
        prefix = os.path.relpath(package, base).replace(os.sep, "/") + "/"
        files, _skipped = iter_extension_files(package)
        for full, rel in files:
            if rel == "node_modules" or rel.startswith("node_modules/"):
                continue
            digest = known.get(f"{package}/{rel}") if known is not None else None
            hashes[prefix + rel] = digest if digest is not None else file_digest(full)
    return hashes


@dataclass(frozen=True)
class PinIndex:
    """The lockfile's entries by the resolved path of their installed copy (resolved once, looked up many
    times: a load of N extensions asks N times)."""

    entries: Mapping[str, LockEntry]
    by_path: Mapping[str, LockEntry]

    @classmethod
    def of(cls, entries: Mapping[str, LockEntry]) -> PinIndex:
        """Index ``entries`` (a loaded lockfile)."""
        return cls(entries, {os.path.realpath(e.install_path): e for e in entries.values() if e.install_path})

    def find(self, *locations: Path) -> LockEntry | None:
        """The entry pinning the extension installed at one of ``locations`` (its folder, or its file for a
        single-file extension); None when it is not pinned."""
        for location in locations:
            entry = self.by_path.get(os.path.realpath(location))
            if entry is not None:
                return entry
        return None


def find_pin(entries: Mapping[str, LockEntry], *locations: Path) -> LockEntry | None:
    """The lockfile entry pinning the extension installed at one of ``locations``; None when it is not pinned."""
    return PinIndex.of(entries).find(*locations)


def compare_pin(entry: LockEntry, own_hash: str, dependencies: Mapping[str, str] | None) -> IntegrityResult:
    """Compare what was read (the own content hash, the dependency files' digests by path relative to the
    install root) with ``entry``; dependencies are not compared for a pin made before they were pinned."""
    pinned = entry.dependency_files
    if pinned is None or dependencies is None:
        return IntegrityResult(entry.extension_id, own_hash != entry.content_hash)
    return IntegrityResult(
        entry.extension_id,
        own_hash != entry.content_hash,
        changed=tuple(sorted(k for k in dependencies.keys() & pinned.keys() if dependencies[k] != pinned[k])),
        added=tuple(sorted(dependencies.keys() - pinned.keys())),
        removed=tuple(sorted(pinned.keys() - dependencies.keys())),
    )


def check_pin(entry: LockEntry, plan: DependencyPlan) -> IntegrityResult:
    """Compare the extension at ``plan.root`` and its dependency closure with ``entry``."""
    installed = Path(entry.install_path)
    if not installed.is_dir():
        own = tree_hash(installed, entry.hashed_name or installed.name)
        return IntegrityResult(entry.extension_id, own != entry.content_hash)
    # One read of every own file serves both the content hash and the dependencies inside the folder.
    files, _skipped = iter_extension_files(installed)
    real = os.path.realpath(installed)
    digests = {f"{real}/{rel}": file_digest(full) for full, rel in files}
    own = content_hash([(rel, digests[f"{real}/{rel}"]) for _full, rel in files])
    if entry.dependency_files is None:  # pinned before dependencies were pinned: own files only
        return IntegrityResult(entry.extension_id, own != entry.content_hash)
    return compare_pin(entry, own, dependency_files(plan, digests))
