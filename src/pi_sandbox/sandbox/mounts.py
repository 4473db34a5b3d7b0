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
   ``PIN``      — every folder between a writable root and a deeper mount in it (``.git`` around
   ``.git/config``), bound writable onto itself: a mount point cannot be renamed or removed, so the
   child cannot move the folder aside and put a folder of its own, with its own ``.git/config``, under
   the old name (the deeper mount moves with a renamed folder and protects nothing where it was);
4. ``PROTECT``  — protected names inside writable roots, bound read-only onto themselves;
5. ``CODE``     — an installed extension's own code folder, read-only even when a writable root is
   that same folder (or holds it): installed code is never changed by the extension it is;
6. ``HIDE``     — the security state dir, the agent dir, credential stores and settings-added
   ``hiddenPaths``: an empty read-only tmpfs (folders) or ``/dev/null`` (files), wherever they are.

The system itself is the host's root bound read-only, with a fresh ``/proc`` (of the child's own
PID namespace) and a minimal ``/dev``.
"""

from __future__ import annotations

import atexit
import math
import os
import stat
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from enum import IntEnum
from pathlib import Path
from typing import Final

from pi_sandbox.errors import SecretScanIncompleteError
from pi_sandbox.mediation.paths import realpath_below
from pi_sandbox.mediation.secret_files import SecretFiles
from pi_sandbox.sandbox.gitindex import CONFIG_NAMED, HOOKS_PATH, guarded, holds_indexed_text, repository_of, tracked
from pi_sandbox.sandbox.protected import EntryKind, ProtectedEntry, ProtectedNames
from pi_sandbox.sandbox.secret_index import SECRET_INDEX, SECRET_SCAN_MAX_DIRS
from pi_sandbox.sandbox.secret_links import SECRET_LINKS

#: How long an unused stand-in stays for the next call to take over before it is removed.
PLACEHOLDER_GRACE_S: Final = 0.5
#: Size of the private ``/tmp`` and ``/var/tmp`` (tmpfs lives in memory).
TMPFS_BYTES: Final = 256 * 1024 * 1024
#: Nested protected names are looked for this many folder levels below each writable root.
SCAN_DEPTH: Final = 2
#: ... in at most this many folders (a huge tree is not walked on every exec call).
SCAN_MAX_DIRS: Final = 400
#: At most this many secret files (and unlistable folders) are hidden per call, one mount each: bwrap re-reads
#: the mount table for every bind, so its start grows with the square of their number (measured here: 50 binds
#: +53 ms, 200 +318 ms, 1,000 +5.2 s). More refuse the call with the folders that hold most of them.
SECRET_MOUNTS_MAX: Final = 200
#: Secret files package managers read on every start (npm, yarn): hiding them would break ``npm``/``yarn``
#: in the sandbox; they stay readable (and read-only: they are protected names). Their tokens are mostly
#: ``${NPM_TOKEN}`` references to the environment, which the secret broker withholds from children.
TOOL_RC_VISIBLE: Final = frozenset({".npmrc", ".yarnrc.yml"})
_SCAN_SKIP: Final = frozenset({"node_modules", ".git", ".hg", ".svn", "__pycache__", ".venv", "venv", "target",
                               "dist", "build", ".tox", ".mypy_cache", ".cache"})


#: Folder -> (its names, its sub-folders), as the secret index listed them this call.
Listed = dict[str, tuple[tuple[str, ...], tuple[str, ...]]]


class Kind(IntEnum):
    """Mount kinds; at the same path a larger value is applied later and wins."""

    SCRATCH = 0
    MASK = 1
    READ = 2
    WRITE = 3
    PIN = 4
    PROTECT = 5
    CODE = 6
    HIDE = 7


@dataclass(frozen=True)
class Mount:
    """One mount of the child's view (``path`` resolved, as text: pathlib costs ~10x per operation)."""

    kind: Kind
    path: str

    @property
    def order(self) -> tuple[int, int]:
        """Shallowest path first; at the same path, the kind applied last wins."""
        return self.path.count("/"), int(self.kind)


class Placeholders:
    """Empty stand-ins created for missing protected names, shared by concurrent calls.

    A stand-in must exist on the host to be a mount point. It is removed PLACEHOLDER_GRACE_S after
    the last call using it ended, and only if it is still empty (nothing outside the sandbox has put
    content there). Removal runs on a background thread, off the exec call's path; a call starting
    within the grace period takes the stand-in over instead of creating it anew (an agent's commands
    come in bursts: making and deleting ~20 files per call was a third of the sandbox's set-up time).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._users: dict[str, int] = {}
        #: What each file stand-in was made with (removed only while it still holds exactly that).
        self._made_with: dict[str, bytes] = {}
        self._unused: list[tuple[float, str]] = []
        #: When each stand-in's last release expires (a stand-in released again is kept for the newer one).
        self._due: dict[str, float] = {}
        self._wake = threading.Condition(self._lock)
        self._remover: threading.Thread | None = None

    def acquire(self, path: str | Path, entry: ProtectedEntry) -> bool:
        """Create (or share) the stand-in at ``path``; False when it cannot be made."""
        path = os.fspath(path)
        with self._lock:
            if path in self._users:
                self._users[path] += 1
                return True
            try:
                if entry.kind is EntryKind.FILE:
                    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o444)
                    try:
                        if entry.stand_in:
                            os.write(fd, entry.stand_in.encode())
                    finally:
                        os.close(fd)
                    self._made_with[path] = entry.stand_in.encode()
                else:
                    os.mkdir(path, 0o555)
            except OSError:
                return False
            self._users[path] = 1
            return True

    def holds(self, path: str | Path) -> bool:
        """Take one more use of ``path`` if it is a stand-in of ours (in use, or not yet removed)."""
        return bool(self.held([os.fspath(path)]))

    def held(self, paths: Iterable[str]) -> set[str]:
        """Those of ``paths`` that are stand-ins of ours (in use, or released with removal pending: taken
        back), one more use taken of each; one lock for the whole table of protected names."""
        out: set[str] = set()
        with self._lock:
            users = self._users
            if not users:
                return out
            for path in paths:
                count = users.get(path)
                if count is not None:
                    users[path] = count + 1 if count > 0 else 1
                    out.add(path)
        return out

    def release(self, paths: Iterable[str | Path]) -> None:
        """Drop one use of each stand-in; the last user's drop queues its removal (if still empty)."""
        with self._lock:
            for path in reversed([os.fspath(p) for p in paths]):  # inner stand-ins before the folder around them
                left = self._users.get(path, 0) - 1
                if left > 0:
                    self._users[path] = left
                    continue
                if path in self._users:
                    self._users[path] = 0
                    due = time.monotonic() + PLACEHOLDER_GRACE_S
                    self._due[path] = due
                    self._unused.append((due, path))
            if self._unused:
                if self._remover is None:
                    self._remover = threading.Thread(target=self._remove_loop, name="pi-placeholders", daemon=True)
                    self._remover.start()
                self._wake.notify()

    def paths(self) -> frozenset[str]:
        """Every stand-in that exists now (in use, or waiting for removal)."""
        with self._lock:
            return frozenset(self._users)

    def idle(self) -> bool:
        """Whether no stand-in exists any more (none in use, none waiting for removal)."""
        with self._lock:
            return not self._users

    def flush(self) -> None:
        """Remove every unused stand-in now (at exit, and by tests that look at the workspace)."""
        with self._lock:
            self._remove_unused(math.inf)

    def _remove_loop(self) -> None:
        with self._lock:
            while True:
                if not self._unused:
                    self._wake.wait()
                    continue
                due = self._unused[0][0] - time.monotonic()
                if due > 0:
                    self._wake.wait(due)
                    continue
                self._remove_unused(time.monotonic())

    def _remove_unused(self, now: float) -> None:
        """Under the lock: delete the queued stand-ins due by ``now`` that nobody took back, in
        queue order (inner ones were queued before the folder around them)."""
        keep = [(due, path) for due, path in self._unused if due > now]
        queued, self._unused = [path for due, path in self._unused if due <= now], keep
        for path in queued:
            if self._users.get(path) != 0 or self._due.get(path, now) > now:
                continue  # taken back by a newer call, released again since (queued anew), or already removed
            del self._users[path]
            self._due.pop(path, None)
            made_with = self._made_with.pop(path, b"")
            try:
                if os.path.isdir(path) and not os.path.islink(path):
                    os.rmdir(path)
                elif os.stat(path).st_size == len(made_with) and _holds(path, made_with):
                    os.unlink(path)
            except OSError:
                pass  # something was put there meanwhile: leave it for the operator to see


def _holds(path: str, content: bytes) -> bool:
    """Whether the regular file ``path`` holds exactly ``content`` (a stand-in nobody changed)."""
    if not content:
        return True  # the size check said empty
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    try:
        return os.read(fd, len(content) + 1) == content
    finally:
        os.close(fd)


PLACEHOLDERS: Final = Placeholders()
atexit.register(PLACEHOLDERS.flush)


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
    #: The calling extension's secret-file table (None: the broker is off). Secret files it may not
    #: read through ``fs`` are hidden in the workspace as well (found where protected names are).
    secrets: SecretFiles | None = None
    #: The session's state dir: which broker-known secret places (``secret_links``) apply.
    session: str = ""
    #: Folders searched for secret files per writable root before the call is refused (``secret_index.py``).
    secret_scan_max_dirs: int = SECRET_SCAN_MAX_DIRS
    #: Secret files (and unlistable folders) hidden one mount each before the call is refused.
    secret_mounts_max: int = SECRET_MOUNTS_MAX


class _Resolver:
    """``os.path.realpath`` for the many paths of one view, every folder resolved once per view.

    The hidden credential stores all sit in the home folder, the extension's folders in the state dir:
    resolving each from ``/`` repeated the same ``lstat`` walk dozens of times per exec call. A path
    spelled plainly (absolute, no ``.``/``..``/``//``) is resolved as its parent's resolved form plus
    its last name, resolved below it (:func:`realpath_below`, property-tested against ``realpath``);
    any other spelling takes the plain ``realpath``. Made per call: nothing is remembered between calls.
    """

    def __init__(self) -> None:
        self._memo: dict[str, str] = {}
        #: Resolved paths known to exist (their last ``lstat`` found a file that is not a symlink).
        self._present: set[str] = set()

    def real(self, raw: str | Path) -> str | None:
        """The resolved path when it exists, else None (nothing to mount on)."""
        try:
            real = self.resolve(os.fspath(raw))
        except (OSError, ValueError):
            return None
        return real if real in self._present or os.path.lexists(real) else None

    def resolve(self, path: str) -> str:
        """``os.path.realpath(path)``."""
        hit = self._memo.get(path)
        if hit is not None:
            return hit
        if not path.startswith("/") or os.path.normpath(path) != path:
            return os.path.realpath(path)
        parent, _, name = path.rpartition("/")
        real_parent = self.resolve(parent) if parent else "/"
        joined = (real_parent if real_parent != "/" else "") + "/" + name
        try:
            mode: int | None = os.lstat(joined).st_mode
        except OSError:
            mode = None  # missing (realpath keeps a missing tail as written) or not reachable
        if mode is not None and stat.S_ISLNK(mode):
            real = realpath_below(real_parent, joined)
        else:
            real = joined
            if mode is not None:
                self._present.add(real)
        self._memo[path] = real
        return real


def protected_mounts(root: Path, names: ProtectedNames, stubs: list[str], home: Path) -> Iterator[Path]:
    """Paths to bind read-only inside the workspace ``root``: existing protected names (and nested
    ones a few levels down), and stand-ins for missing ones (appended to ``stubs``)."""
    return map(Path, _protected(str(root), names, stubs, str(home)))


def _protected(root: str, names: ProtectedNames, stubs: list[str], home: str,
               listed: Listed | None = None) -> Iterator[str]:
    """:func:`protected_mounts` on text paths; ``listed``: the root's and its shallow folders' names as the secret
    index has them this call (up to date: read there instead of listing ~400 folders again)."""
    made: set[str] = set()
    here = listed.get(root) if listed is not None else None
    listing = frozenset(name.casefold() for name in (here[0] if here is not None else _entries(root)))
    prefix = "" if root == "/" else root
    candidates = [(entry, prefix + "/" + entry.path) for entry in names.entries]
    held = PLACEHOLDERS.held([path for _entry, path in candidates])
    for entry, path in candidates:
        if path in held:  # a stand-in of a call still running (or not yet removed)
            stubs.append(path)
            made.add(path)
            yield path
        elif entry.parts[0] in listing and os.path.lexists(path):
            if entry.kind is EntryKind.REPO and os.path.isdir(path) and not os.path.islink(path):
                continue  # an existing repository stays usable; its config and hooks are entries of their own
            yield path
        elif entry.placeholder and (root == home or not entry.home_only):
            parent = os.path.dirname(path)
            if parent not in made and os.path.isdir(parent) and not os.path.islink(parent) \
                    and PLACEHOLDERS.acquire(path, entry):
                stubs.append(path)
                made.add(path)  # its own stand-in is empty and read-only: nothing to add inside it
                yield path
    # core.hooksPath (.husky, .githooks ...): the user's next commit runs what is there; and the config,
    # hooks ... of a repository whose `.git` is a file naming another folder in the workspace.
    by_name = {entry.path: entry for entry in names.entries}
    for path, what in guarded(root):
        kind = _HOOKS_STAND_IN if what == HOOKS_PATH else _CONFIG_NAMED if what == CONFIG_NAMED else by_name.get(what)
        if kind is None or not path.startswith(prefix + "/") or path in made:
            continue
        if os.path.islink(path):  # git follows it: what it leads to in the workspace is what runs
            path = os.path.realpath(path)
            if path.startswith(prefix + "/") and os.path.exists(path):
                yield path
        elif os.path.lexists(path):
            yield path
        elif kind.placeholder and os.path.isdir(os.path.dirname(path)) and PLACEHOLDERS.acquire(path, kind):
            stubs.append(path)
            made.add(path)
            yield path
    for folder, raw_here in (_scan(root) if listed is None else _scan_listed(root, listed)):
        names_here = frozenset(name.casefold() for name in raw_here)
        nested_repo = ".git" in names_here and os.path.isdir(folder + "/.git") and not os.path.islink(folder + "/.git")
        for entry in names.entries:
            if entry.parts[0] not in names_here:
                continue
            path = folder + "/" + entry.path
            # a nested repository's config, hooks and commondir: git in that folder reads them
            in_repo = nested_repo and entry.placeholder and len(entry.parts) > 1 and entry.parts[0] == ".git"
            if in_repo and path not in made and PLACEHOLDERS.holds(path):  # another call's stand-in
                stubs.append(path)
                made.add(path)
                yield path
            elif os.path.lexists(path):
                if not (entry.kind is EntryKind.REPO and os.path.isdir(path) and not os.path.islink(path)):
                    yield path
            elif in_repo and path not in made and PLACEHOLDERS.acquire(path, entry):
                stubs.append(path)
                made.add(path)
                yield path
        if ".git" in names_here:  # a nested repository's core.hooksPath folder and the scripts its config runs
            for path, _what in guarded(folder):
                if path.startswith(prefix + "/") and path not in made and os.path.lexists(path) \
                        and not os.path.islink(path):
                    yield path


#: The stand-in for a missing ``core.hooksPath`` folder (an empty read-only folder).
_HOOKS_STAND_IN: Final = ProtectedEntry("core.hookspath", EntryKind.DIR, placeholder=True)
#: A file the repository's config runs or includes: bound read-only where it exists (no stand-in: git would
#: run an empty one as a failing command).
_CONFIG_NAMED: Final = ProtectedEntry("git-config-named", EntryKind.FILE)


def _entries(folder: str) -> list[str]:
    """The names in ``folder`` (empty when it cannot be read): one directory read instead of a
    ``stat`` per protected name."""
    try:
        return os.listdir(folder)
    except OSError:
        return []


def _secret_files(root: str, found: Iterable[str], secrets: SecretFiles) -> Iterator[str]:
    """The regular files among ``found`` (entries below ``root`` named like a secret file) that are secret files
    for this extension (its ``readSecretFiles`` applied), less :data:`TOOL_RC_VISIBLE` and the ones git tracks
    with the text they hold — that text is in ``.git`` anyway, and hiding one breaks ``git add -A``. The index
    is the children's to write, so a file counts as tracked only when its own bytes are the blob its entry
    names (``gitindex.holds_indexed_text``): a forged or stand-in entry, or a tracked file changed since it was
    added, is hidden. A symlink is left alone: what it points to is judged where it lies (as the fs connector
    judges the resolved path)."""
    exempt: tuple[str, Mapping[str, bytes]] | None = None
    repo = repository_of(root)
    known = tracked(repo[1]) if repo is not None else None
    if repo is not None and known:
        exempt = (repo[0].rstrip("/") + "/", known)
    for path in found:
        name = path.rpartition("/")[2]
        if name.casefold() in TOOL_RC_VISIBLE or not secrets.refused(path):
            continue
        if exempt is not None and path.startswith(exempt[0]):
            oid = exempt[1].get(path[len(exempt[0]):])
            if oid is not None and holds_indexed_text(path, oid):
                continue
        try:
            if stat.S_ISREG(os.lstat(path).st_mode):
                yield path
        except OSError:
            continue  # gone since it was listed


def _scan(root: str) -> Iterator[tuple[str, list[str]]]:
    """Folders below ``root`` (depth 1..SCAN_DEPTH) with the names in each: where nested protected
    names may be. Every folder is read once; its names are matched against the table in memory."""
    frontier, seen = [root], 0
    for depth in range(SCAN_DEPTH + 1):
        nxt = []
        for folder in frontier:
            names: list[str] = []
            subfolders: list[str] = []
            try:
                with os.scandir(folder) as it:
                    for item in it:
                        names.append(item.name)
                        if (depth < SCAN_DEPTH and item.name not in _SCAN_SKIP
                                and item.is_dir(follow_symlinks=False)):
                            subfolders.append(item.path)
            except OSError:
                continue
            if depth > 0:
                yield folder, names
            for sub in subfolders:
                seen += 1
                if seen > SCAN_MAX_DIRS:
                    return
                nxt.append(sub)
        frontier = nxt


def _scan_listed(root: str, listed: Listed) -> Iterator[tuple[str, tuple[str, ...]]]:
    """:func:`_scan` on the secret index's listings: the same folders in the same order, nothing read again."""
    frontier, seen = [root], 0
    for depth in range(SCAN_DEPTH + 1):
        nxt = []
        for folder in frontier:
            got = listed.get(folder)
            if got is None:
                continue  # gone, or not listable
            names, subs = got
            if depth > 0:
                yield folder, names
            if depth < SCAN_DEPTH:
                for sub in subs:
                    if sub in _SCAN_SKIP:
                        continue
                    seen += 1
                    if seen > SCAN_MAX_DIRS:
                        return
                    nxt.append(folder + "/" + sub)
        frontier = nxt


def _parent(path: str) -> str:
    return path.rpartition("/")[0] or "/"


def _nearest(path: str, by_path: dict[str, list[Mount]], kinds: frozenset[Kind], *,
             include_self: bool) -> Mount | None:
    """The mount of one of ``kinds`` closest around ``path`` (the deepest folder holding one; at the
    same folder the kind applied last), walking up the path instead of comparing every pair."""
    here = path if include_self else _parent(path)
    while True:
        found = [m for m in by_path.get(here, ()) if m.kind in kinds]
        if found:
            return max(found, key=lambda m: m.kind)
        if here == "/":
            return None
        here = _parent(here)


_AROUND: Final = frozenset({Kind.SCRATCH, Kind.MASK, Kind.READ, Kind.WRITE, Kind.CODE})
_ANY: Final = frozenset(Kind)


def _exposed(path: str, by_path: dict[str, list[Mount]]) -> bool:
    """Whether ``path`` would be visible without its own HIDE mount: the nearest mount around it is
    not a mask (under a masked home, ``~/.ssh`` needs no mount of its own, and gets no mount point)."""
    nearest = _nearest(path, by_path, _AROUND, include_self=True)
    return nearest is None or nearest.kind is not Kind.MASK  # None: only the read-only system root


def _redundant(mount: Mount, by_path: dict[str, list[Mount]]) -> bool:
    """A read-only or writable bind inside a bind of the same kind, or a hidden path inside a hidden
    folder, with no other mount between them (``~/.pyenv/shims`` inside ``~/.pyenv``, the state dir
    inside the hidden agent dir): it changes nothing and costs the child a mount."""
    if mount.kind not in (Kind.READ, Kind.WRITE, Kind.HIDE):
        return False
    nearest = _nearest(mount.path, by_path, _ANY, include_self=False)
    return nearest is not None and nearest.kind is mount.kind


def _index(mounts: list[Mount]) -> dict[str, list[Mount]]:
    by_path: dict[str, list[Mount]] = {}
    for mount in mounts:
        by_path.setdefault(mount.path, []).append(mount)
    return by_path


def _pins(mounts: list[Mount], also: list[Mount] | None = None) -> list[Mount]:
    """``PIN`` mounts for the folders between a writable root and the mounts inside it.

    Without them ``mv .git old && mkdir .git && echo .. > .git/config`` (or the same one or two folders
    up, for a nested ``sub/.envrc`` or an installed code folder in the workspace) replaces a protected
    name on the host: renaming a folder that merely *holds* a mount point is allowed, and the read-only
    mount goes with it. A folder that is a mount point itself cannot be renamed or removed (``EBUSY``).
    """
    writable = {m.path for m in mounts if m.kind is Kind.WRITE}
    if not writable:
        return []
    mounted = {m.path for m in (also if also is not None else mounts)}
    pins: dict[str, Mount] = {}
    for mount in mounts:
        if mount.kind in (Kind.WRITE, Kind.SCRATCH):
            continue
        between: list[str] = []
        here = _parent(mount.path)
        while here not in mounted and here != "/":
            between.append(here)
            here = _parent(here)
        if here not in writable:
            continue  # inside a read-only or scratch mount: nothing there can be renamed on the host
        for folder in between:
            if folder not in pins and os.path.isdir(folder) and not os.path.islink(folder):
                pins[folder] = Mount(Kind.PIN, folder)
    return list(pins.values())


def _secret_mounts(view: View, mounts: list[Mount]) -> tuple[set[str], Listed]:
    """Every secret file this extension may not read below each writable root, at any depth (the index of
    ``secret_index.py``), the hard links to them (or to a broker-known secret) made outside, and the folders
    there that cannot be listed (hidden whole: what is in them is unknown); and the shallow folders' listings."""
    secrets = view.secrets
    assert secrets is not None
    writable = [m.path for m in mounts if m.kind is Kind.WRITE]
    skip = frozenset(m.path for m in mounts if m.kind is Kind.HIDE and os.path.isdir(m.path))
    out: set[str] = set()
    listed: Listed = {}
    outside = SECRET_LINKS.outside(view.session)
    for root in dict.fromkeys(writable):
        if not os.path.isdir(root):
            continue
        found = SECRET_INDEX.find(root, secrets, view.secret_scan_max_dirs, frozenset(
            p for p in skip if p.startswith(root + "/")))
        files = list(_secret_files(root, found.files, secrets))
        files.extend(SECRET_LINKS.other_names(root, files, view.session, outside))
        out.update(files)
        out.update(found.folders)
        listed.update(found.shallow)
    return out, listed


def _too_many(hidden: list[str], limit: int) -> str:
    """The refusal's text when more secret files would be hidden than one sandbox can bind."""
    by_folder: dict[str, int] = {}
    for path in hidden:
        folder = _parent(path)
        by_folder[folder] = by_folder.get(folder, 0) + 1
    top = sorted(by_folder.items(), key=lambda item: (-item[1], item[0]))[:3]
    where = ", ".join(f"{folder} ({count})" for folder, count in top)
    return (f"the exec sandbox would hide {len(hidden)} secret files (.env, keys ...) from this command, more than "
            f"the {limit} it binds one by one (each costs the sandbox's start); the command was not run. Most are in "
            f"{where}: move them out of the workspace, hide their folder with extensionPolicy.sandbox.hiddenPaths, "
            "or name the ones this extension may read in its readSecretFiles")


def bwrap_mount_args(view: View) -> tuple[list[str], list[str]]:
    """bwrap arguments for ``view`` (after the system root) and the stand-ins created for it."""
    mounts: list[Mount] = []
    stubs: list[str] = []
    resolver = _Resolver()
    for kind, paths in ((Kind.SCRATCH, view.scratch), (Kind.MASK, view.masks), (Kind.READ, view.read),
                        (Kind.WRITE, view.write), (Kind.CODE, view.code), (Kind.HIDE, view.hide)):
        for raw in paths:
            real = resolver.real(raw)
            if real is not None and real != "/":
                mounts.append(Mount(kind, real))
    secret: set[str] = set()
    listed: Listed | None = None
    try:
        home = str(view.home)
        if view.secrets is not None:
            secret, listed = _secret_mounts(view, mounts)
        for root in view.protect:
            real = resolver.real(root)
            mounts.extend(Mount(Kind.PROTECT, p) for p in _protected(
                str(root), view.names, stubs, home, listed if listed is not None and real == str(root) else None))
        # Hidden like a credential store (``/dev/null`` bound without device access: reading, writing and removing
        # all fail; a folder that cannot be listed: an empty read-only tmpfs), above a protected name at the same
        # path (``.npmrc`` is both).
        mounts.extend(Mount(Kind.HIDE, p) for p in sorted(secret))
    except BaseException:
        PLACEHOLDERS.release(stubs)
        raise
    by_path = _index(mounts)
    mounts = [m for m in mounts if m.kind is not Kind.HIDE or _exposed(m.path, by_path)]
    by_path = _index(mounts)
    mounts = [m for m in mounts if not _redundant(m, by_path)]
    if secret:
        hidden = [m.path for m in mounts if m.kind is Kind.HIDE and m.path in secret]
        if len(hidden) > view.secret_mounts_max:
            PLACEHOLDERS.release(stubs)
            raise SecretScanIncompleteError(_too_many(hidden, view.secret_mounts_max), cause="too_many_secret_files")
    # A hidden secret (or unlistable folder) needs no pin: a folder renamed around it takes the mount along, still
    # hiding it in this call, and the next call's index finds it where it went (every folder a child can write is
    # watched or checked by stamp, git's own folders too). Pins cost: bwrap's start grows with the square of the
    # mounts (70 secrets in 70 folders: +202 pins, +370 ms per call measured).
    mounts += _pins([m for m in mounts if not (m.kind is Kind.HIDE and m.path in secret)], also=mounts)
    args: list[str] = []
    read_only_tmpfs: list[str] = []
    done: set[tuple[Kind, str]] = set()
    for mount in sorted(mounts, key=lambda m: m.order):
        if (mount.kind, mount.path) in done:
            continue
        done.add((mount.kind, mount.path))
        dest = mount.path
        if mount.kind is Kind.SCRATCH:
            if os.path.isdir(dest):
                args += ["--size", str(TMPFS_BYTES), "--tmpfs", dest]
        elif mount.kind in (Kind.MASK, Kind.HIDE) and os.path.isdir(dest):
            args += ["--tmpfs", dest]
            read_only_tmpfs.append(dest)
        elif mount.kind in (Kind.MASK, Kind.HIDE):
            args += ["--ro-bind", "/dev/null", dest]
        elif mount.kind in (Kind.WRITE, Kind.PIN):
            args += ["--bind", dest, dest]
        else:
            args += ["--ro-bind", dest, dest]
    # Read-only last: mount points for deeper binds are created inside these tmpfs first.
    for dest in read_only_tmpfs:
        args += ["--remount-ro", dest]
    return args, stubs
