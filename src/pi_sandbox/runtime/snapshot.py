"""The bytes a pinned extension is verified on are the bytes that get bundled (no check-then-read gap).

A pinned extension's files are read once into :class:`VerifiedFiles` (every file's SHA-256, by real path,
and the listing of each member folder) and the pin is checked against *that* reading. The bundler never
reads the installed copy after that: a cached bundle is reused only when it was built from exactly these
digests, and a new bundle is built from a private **snapshot** (:meth:`VerifiedFiles.materialise`) whose
files are copied and hashed in the same pass and must equal the verified digests. A file swapped after the
check is therefore either never read (the snapshot holds the verified bytes) or caught while copying (the
load is refused as an integrity mismatch); it never runs.

The snapshot mirrors real paths under its folder (``<snapshot>/home/u/ext/index.ts``), so the paths
esbuild reports relative to its working folder are the same as relative to the real extension root.
"""

from __future__ import annotations

import bisect
import hashlib
import os
import stat
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Final

from pi_sandbox.errors import IntegrityMismatchError
from pi_sandbox.scanner.walker import iter_extension_files, special_kind

_CHUNK: Final = 1 << 20
_NESTED: Final = "node_modules"


@dataclass(frozen=True)
class Member:
    """One folder (or single file) of what an extension may load: its own copy or a dependency package.
    A dependency package's nested ``node_modules`` holds other packages, each a member of its own."""

    path: Path  # real path
    nested: bool = True  # whether files under its ``node_modules/`` belong to it
    single: bool = False  # a single-file extension: the member is the file

    def listing(self) -> list[tuple[Path, str]]:
        """(full path, relative path) of every file, as the integrity check lists them."""
        if self.single:
            return [(self.path, self.path.name)]
        files, _skipped = iter_extension_files(self.path)
        return [(full, rel) for full, rel in files
                if self.nested or not (rel == _NESTED or rel.startswith(_NESTED + "/"))]


def _key(member: Member, rel: str) -> str:
    return str(member.path) if member.single else f"{member.path}/{rel}"


def copy_digest(source: Path, copy_to: Path | None, base: Path | None = None) -> str:
    """SHA-256 of ``source`` exactly as :func:`~pi_sandbox.scanner.walker.file_digest` computes it (the link
    text for a symlink, the kind for a pipe or device, empty when unreadable), from the one read that also
    writes the copy at ``copy_to`` (a special file is not copied). A symlink is re-created, never followed;
    an absolute one points at the snapshot's copy of its target (under ``base``), so following it never
    leaves the snapshot (a relative one stays inside by the mirrored layout, or the bundler refuses it)."""
    try:
        if source.is_symlink():
            target = os.readlink(source)
            if copy_to is not None:
                copy_to.parent.mkdir(parents=True, exist_ok=True)
                os.symlink(f"{base}{target}" if base is not None and os.path.isabs(target) else target, copy_to)
            return hashlib.sha256(b"symlink:" + target.encode()).hexdigest()
        fd = os.open(source, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW)
        with os.fdopen(fd, "rb") as handle:
            mode = os.fstat(fd).st_mode
            if not stat.S_ISREG(mode):
                return hashlib.sha256(f"special:{special_kind(mode)}".encode()).hexdigest()
            h = hashlib.sha256()
            out = None
            if copy_to is not None:
                copy_to.parent.mkdir(parents=True, exist_ok=True)
                out = os.fdopen(os.open(copy_to, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600), "wb")
            try:
                for chunk in iter(lambda: handle.read(_CHUNK), b""):
                    h.update(chunk)
                    if out is not None:
                        out.write(chunk)
            finally:
                if out is not None:
                    out.close()
        return h.hexdigest()
    except OSError:
        return ""


@dataclass(frozen=True)
class VerifiedFiles:
    """What one reading of an extension's members found: per member its (relative path, digest) listing."""

    members: tuple[Member, ...]
    listings: Mapping[Path, tuple[tuple[str, str], ...]]
    #: SHA-256 of every file read, by real path text (``<member>/<rel>``; a single-file member by its path).
    digests: Mapping[str, str]

    @classmethod
    def read(cls, members: Iterable[Member]) -> VerifiedFiles:
        """Hash every file of ``members`` (a file inside two members, e.g. a dependency inside the extension's
        own ``node_modules``, is read once per member; both reads must agree when materialised)."""
        chosen = tuple(members)
        listings: dict[Path, tuple[tuple[str, str], ...]] = {}
        digests: dict[str, str] = {}
        for member in chosen:
            listed = []
            for full, rel in member.listing():
                digest = copy_digest(full, None)
                listed.append((rel, digest))
                digests.setdefault(_key(member, rel), digest)
            listings[member.path] = tuple(listed)
        return cls(chosen, listings, digests)

    def under(self, folder: Path) -> dict[str, str]:
        """The digests of the files below ``folder`` (relative paths), its nested ``node_modules`` left out.

        A range of the sorted paths, not a scan of all of them: an install with hundreds of packages asks once
        per package."""
        keys = self._sorted_keys
        prefix = f"{folder}/"
        found: dict[str, str] = {}
        for i in range(bisect.bisect_left(keys, prefix), len(keys)):
            key = keys[i]
            if not key.startswith(prefix):
                break
            rel = key[len(prefix):]
            if not (rel == _NESTED or rel.startswith(_NESTED + "/")):
                found[rel] = self.digests[key]
        return found

    @cached_property
    def _sorted_keys(self) -> list[str]:
        return sorted(self.digests)

    def own(self, member: Path) -> tuple[tuple[str, str], ...]:
        """The (relative path, digest) listing of one member."""
        return self.listings.get(member, ())

    def materialise(self, base: Path) -> None:
        """Copy every member under ``base`` (at ``base`` + its real path), hashing in the same read; raises
        :class:`IntegrityMismatchError` when what was copied is not what was verified (a file changed, was
        added or removed since :meth:`read`)."""
        changed: list[str] = []
        for member in self.members:
            listed = []
            for full, rel in member.listing():
                key = _key(member, rel)
                target = Path(f"{base}{key}")
                # a file two members share was copied by the first; this read must still agree
                digest = copy_digest(full, None if os.path.lexists(target) else target, base)
                listed.append((rel, digest))
                if self.digests.get(key) != digest:
                    changed.append(key)
            if tuple(listed) != self.listings.get(member.path):
                known = {rel for rel, _ in self.listings.get(member.path, ())}
                changed += [_key(member, rel) for rel, _ in listed if rel not in known] or [str(member.path)]
        if changed:
            shown = ", ".join(sorted(set(changed))[:5])
            raise IntegrityMismatchError(
                f"{len(set(changed))} file(s) changed while the extension was being loaded ({shown}): nothing of it "
                "was run; find out what writes to the installed copy, then re-install with `pi-sandbox ext install`")


def snapshot_path(base: Path, real: Path) -> Path:
    """Where the snapshot under ``base`` holds the file or folder at real path ``real``."""
    return Path(f"{base}{real}")


def real_path_of(base: Path, inside: str) -> Path | None:
    """The real path a snapshot path (already resolved) stands for; None when it is not inside ``base``."""
    prefix = f"{base}/"
    if not inside.startswith(prefix):
        return None
    return Path("/" + inside[len(prefix):])
