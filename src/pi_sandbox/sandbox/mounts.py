"""The file-system view of an exec child, as bubblewrap mount arguments.

The view is built from a few kinds of mount, applied shallowest path first so that a deeper rule
always wins over the folder around it (the workspace inside a hidden home is writable; the
state dir inside the workspace is hidden again; ``.git/config`` inside the workspace is read-only).
At the same path the kind decides, in this order (later wins):

0. ``SCRATCH``  — ``/tmp``, ``/var/tmp``, ``/dev/shm``: a fresh, size-capped, writable tmpfs (no host
   socket files, no host temp files);
1. ``MASK``     — folders replaced by an empty read-only tmpfs: the home directories, ``/run``,
   ``$XDG_RUNTIME_DIR`` (socket files of running daemons);
2. ``READ``     — host paths re-exposed read-only inside a masked folder (toolchains on ``PATH`` under
   the home, the extension's own code folder, ``extensionPolicy.sandbox.readOnlyPaths``);
3. ``WRITE``    — the writable roots: the workspace and the extension's data and tmp folders;
4. ``PROTECT``  — protected names inside writable roots, bound read-only onto themselves;
5. ``CODE``     — an installed extension's own code folder, read-only even when a writable root is
   that same folder (or holds it): installed code is never changed by the extension it is;
6. ``HIDE``     — the security state dir, the agent dir, credential stores and settings-added
   ``hiddenPaths``: an empty read-only tmpfs (folders) or ``/dev/null`` (files), wherever they are.

The system itself is the host's root bound read-only, with a fresh ``/proc`` (of the child's own
PID namespace) and a minimal ``/dev``.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from enum import IntEnum
from pathlib import Path
from typing import Final

from pi_sandbox.sandbox.protected import EntryKind, ProtectedEntry, ProtectedNames

#: Size of the private ``/tmp`` and ``/var/tmp`` (tmpfs lives in memory).
TMPFS_BYTES: Final = 256 * 1024 * 1024
#: Nested protected names are looked for this many folder levels below each writable root.
SCAN_DEPTH: Final = 2
#: ... in at most this many folders (a huge tree is not walked on every exec call).
SCAN_MAX_DIRS: Final = 400
_SCAN_SKIP: Final = frozenset({"node_modules", ".git", ".hg", ".svn", "__pycache__", ".venv", "venv", "target",
                               "dist", "build", ".tox", ".mypy_cache", ".cache"})


class Kind(IntEnum):
    """Mount kinds; at the same path a larger value is applied later and wins."""

    SCRATCH = 0
    MASK = 1
    READ = 2
    WRITE = 3
    PROTECT = 4
    CODE = 5
    HIDE = 6


@dataclass(frozen=True)
class Mount:
    """One mount of the child's view."""

    kind: Kind
    path: Path

    @property
    def order(self) -> tuple[int, int]:
        return len(self.path.parts), int(self.kind)


class Placeholders:
    """Empty stand-ins created for missing protected names, shared by concurrent calls.

    A stand-in must exist on the host to be a mount point. It is removed when the last call using
    it ends, and only if it is still empty (nothing outside the sandbox has put content there).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._users: dict[Path, int] = {}

    def acquire(self, path: Path, entry: ProtectedEntry) -> bool:
        """Create (or share) the stand-in at ``path``; False when it cannot be made."""
        with self._lock:
            if path in self._users:
                self._users[path] += 1
                return True
            try:
                if entry.kind is EntryKind.FILE:
                    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o444))
                else:
                    os.mkdir(path, 0o555)
            except OSError:
                return False
            self._users[path] = 1
            return True

    def release(self, paths: Iterable[Path]) -> None:
        """Drop one use of each stand-in; the last user removes it if it is still empty."""
        with self._lock:
            for path in reversed(list(paths)):  # inner stand-ins before the folder around them
                left = self._users.get(path, 0) - 1
                if left > 0:
                    self._users[path] = left
                    continue
                self._users.pop(path, None)
                try:
                    if path.is_dir() and not path.is_symlink():
                        path.rmdir()
                    elif path.stat().st_size == 0:
                        path.unlink()
                except OSError:
                    pass  # something was put there meanwhile: leave it for the operator to see


PLACEHOLDERS: Final = Placeholders()


@dataclass(frozen=True)
class View:
    """The host paths of one child's view, by kind."""

    masks: tuple[Path, ...]
    scratch: tuple[Path, ...]
    read: tuple[Path, ...]
    write: tuple[Path, ...]
    hide: tuple[Path, ...]
    names: ProtectedNames
    #: The writable roots protected names are kept in (the workspace; not the extension's own folders).
    protect: tuple[Path, ...]
    home: Path
    #: Installed code folders: read-only, above every writable root (``Kind.CODE``).
    code: tuple[Path, ...] = ()


def _real(path: Path) -> Path | None:
    """The resolved path when it exists, else None (nothing to mount on)."""
    try:
        real = Path(os.path.realpath(path))
    except (OSError, ValueError):
        return None
    return real if os.path.lexists(real) else None


def protected_mounts(root: Path, names: ProtectedNames, stubs: list[Path], home: Path) -> Iterator[Path]:
    """Paths to bind read-only inside the workspace ``root``: existing protected names (and nested
    ones a few levels down), and stand-ins for missing ones (appended to ``stubs``)."""
    made: set[Path] = set()
    for entry in names.entries:
        path = root.joinpath(*entry.parts)
        if os.path.lexists(path):
            if entry.kind is EntryKind.REPO and path.is_dir() and not path.is_symlink():
                continue  # an existing repository stays usable; its config and hooks are entries of their own
            yield path
        elif (entry.placeholder and (root == home or not entry.home_only) and path.parent not in made
              and path.parent.is_dir() and not path.parent.is_symlink() and PLACEHOLDERS.acquire(path, entry)):
            stubs.append(path)
            made.add(path)  # its own stand-in is empty and read-only: nothing to add inside it
            yield path
    for folder in _scan(root):
        for entry, path in names.inside(folder):
            if not (entry.kind is EntryKind.REPO and path.is_dir() and not path.is_symlink()):
                yield path


def _scan(root: Path) -> Iterator[Path]:
    """Folders below ``root`` (depth 1..SCAN_DEPTH) that may hold nested protected names."""
    frontier, seen = [root], 0
    for _depth in range(SCAN_DEPTH):
        nxt = []
        for folder in frontier:
            try:
                with os.scandir(folder) as it:
                    for item in it:
                        if item.name in _SCAN_SKIP or not item.is_dir(follow_symlinks=False):
                            continue
                        seen += 1
                        if seen > SCAN_MAX_DIRS:
                            return
                        path = Path(item.path)
                        nxt.append(path)
                        yield path
            except OSError:
                continue
        frontier = nxt


def _exposed(path: Path, mounts: list[Mount]) -> bool:
    """Whether ``path`` would be visible without its own HIDE mount: the nearest mount around it is
    not a mask (under a masked home, ``~/.ssh`` needs no mount of its own, and gets no mount point)."""
    around = [m for m in mounts if m.kind in (Kind.SCRATCH, Kind.MASK, Kind.READ, Kind.WRITE, Kind.CODE)
              and (m.path == path or path.is_relative_to(m.path))]
    if not around:
        return True  # only the read-only system root covers it
    nearest = max(around, key=lambda m: m.order)
    return nearest.kind is not Kind.MASK


def bwrap_mount_args(view: View) -> tuple[list[str], list[Path]]:
    """bwrap arguments for ``view`` (after the system root) and the stand-ins created for it."""
    mounts: list[Mount] = []
    stubs: list[Path] = []
    for kind, paths in ((Kind.SCRATCH, view.scratch), (Kind.MASK, view.masks), (Kind.READ, view.read),
                        (Kind.WRITE, view.write), (Kind.CODE, view.code), (Kind.HIDE, view.hide)):
        for raw in paths:
            real = _real(raw)
            if real is not None and real != Path("/"):
                mounts.append(Mount(kind, real))
    try:
        for root in view.protect:
            mounts.extend(Mount(Kind.PROTECT, p) for p in protected_mounts(root, view.names, stubs, view.home))
    except BaseException:
        PLACEHOLDERS.release(stubs)
        raise
    mounts = [m for m in mounts if m.kind is not Kind.HIDE or _exposed(m.path, mounts)]
    args: list[str] = []
    read_only_tmpfs: list[str] = []
    done: set[tuple[Kind, Path]] = set()
    for mount in sorted(mounts, key=lambda m: m.order):
        if (mount.kind, mount.path) in done:
            continue
        done.add((mount.kind, mount.path))
        dest = str(mount.path)
        if mount.kind is Kind.SCRATCH:
            if mount.path.is_dir():
                args += ["--size", str(TMPFS_BYTES), "--tmpfs", dest]
        elif mount.kind in (Kind.MASK, Kind.HIDE) and mount.path.is_dir():
            args += ["--tmpfs", dest]
            read_only_tmpfs.append(dest)
        elif mount.kind in (Kind.MASK, Kind.HIDE):
            args += ["--ro-bind", "/dev/null", dest]
        elif mount.kind is Kind.WRITE:
            args += ["--bind", dest, dest]
        else:
            args += ["--ro-bind", dest, dest]
    # Read-only last: mount points for deeper binds are created inside these tmpfs first.
    for dest in read_only_tmpfs:
        args += ["--remount-ro", dest]
    return args, stubs
