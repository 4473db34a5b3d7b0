"""Every secret file below a writable root, at any depth, for the exec sandbox to hide (``mounts.py``).

The protected-name scan looks two folder levels down and skips ``node_modules``, build output and caches; a
secret file anywhere else (``services/api/config/.env``, ``node_modules/pkg/.env``, the 401st folder) was
readable by every child. Finding them needs the names of *every* folder, and walking a large tree on every exec
call costs more than the call (a ``stat`` is ~8 µs here, a folder listing ~30 µs: 20,000 folders are 0.2 s and
0.6 s). So the names are kept, per root, in an index that is brought up to date instead of rebuilt:

- the first call builds it from the listings the root's new watch made (each folder listed once, after its watch
  was added); after that only **folders whose names changed** are listed again.
  Which those are, the kernel says: the inotify watch of ``watch.py`` (every folder of the root is watched
  before the index lists it) records each folder an entry was created in, moved into or out of, and each
  folder whose own watch went (removed). Events are queued by the system call that made the change, so what
  was done before a call starts is known when the call starts;
- where the kernel's account is not complete — no inotify, a lost event (queue overflow), the watch of the
  root made anew, folders the watch limit left out — the index is checked by each folder's ``(inode, mtime,
  ctime)`` instead (a folder's mtime changes when a name is added, removed or renamed in it; a folder listed
  within :data:`RACY_NS` of its last change is listed again next time: a change in the same clock tick would
  leave the time as it was);
- a folder that cannot be listed (no read or search permission — the child, its owner, could ``chmod`` it and
  open a name it guesses) is **hidden whole**; a tree of more than the folder limit
  (:data:`SECRET_SCAN_MAX_DIRS`, ``PI_SANDBOX_SECRET_SCAN_MAX_DIRS``) cannot be vouched for: the call is refused
  (:class:`~pi_sandbox.errors.SecretScanIncompleteError`), never run with secret files left readable.

Inside a git dir the folders ``watch.py`` leaves out (``objects``, ``refs``, ``logs`` ...: they change on every
commit) have no events: they are checked by stamp on every call, like the watch limit's holes (any folder can be
moved there: one call's child moved a secret's folder into ``.git/objects`` and the next call read it). Links are
never followed: a symlink's target is judged where it lies.
"""

from __future__ import annotations

import functools
import os
import stat
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from pi_sandbox.errors import SecretScanIncompleteError
from pi_sandbox.mediation.secret_files import SecretFiles
from pi_sandbox.sandbox.watch import GIT_UNWATCHED, WATCHER, Listing, in_git_dir

#: At most this many folders per writable root are indexed; a larger tree refuses exec calls (fail closed).
SECRET_SCAN_MAX_DIRS: Final = 100_000
#: The environment variable that sets another limit (a positive number of folders).
SCAN_LIMIT_ENV: Final = "PI_SANDBOX_SECRET_SCAN_MAX_DIRS"
#: File-system times come from a coarse clock: a folder whose mtime/ctime is this close to its listing is
#: listed again at the next check (racy: a name added in the same tick leaves the time unchanged).
RACY_NS: Final = 50_000_000
#: Folders this many levels below the root keep all their names (for the protected-name scan, ``mounts.py``).
SHALLOW: Final = 2
#: Indexes kept per process (the least recently used goes first: a root of a session long gone).
MAX_TREES: Final = 64


@dataclass(frozen=True)
class Found:
    """What one root holds that a child must not read."""

    #: Entries named like a secret file (by the whole table, before any extension's allow list; the caller keeps
    #: the regular files).
    files: tuple[str, ...]
    #: Folders that could not be listed: hidden whole.
    folders: tuple[str, ...]
    #: The root and the folders :data:`SHALLOW` levels below it: their names and walked sub-folders (the
    #: protected-name scan reads them here instead of listing them again on every call).
    shallow: dict[str, tuple[tuple[str, ...], tuple[str, ...]]]


@dataclass(slots=True)
class _Folder:
    """One listed folder."""

    #: ``(inode, mtime, ctime)`` when it was listed (None: listed by the watch, no stamp taken: listed again
    #: when it has to be checked by stamp).
    stamp: tuple[int, int, int] | None
    #: Listed within :data:`RACY_NS` of its last change: list again at the next check.
    racy: bool
    #: Sub-folders walked, by name, with their inode (a folder replaced under the same name is walked anew).
    subs: dict[str, int]
    #: Its entries named like a secret file.
    secrets: tuple[str, ...]
    #: It could not be listed (or entered): hidden whole.
    unlistable: bool
    #: All its names, for a folder at most :data:`SHALLOW` levels below the root (else empty).
    names: tuple[str, ...] = ()


class _TooBig(Exception):
    """More folders than the limit."""


class _Tree:
    """The index of one root (used under its lock)."""

    def __init__(self, root: str, table: SecretFiles, skip: frozenset[str]) -> None:
        self.root = root
        self.table = table
        #: Folders hidden from children anyway (the state dir, ``hiddenPaths``): not walked.
        self.skip = skip
        self.lock = threading.Lock()
        self.folders: dict[str, _Folder] = {}
        #: The folders with secret-named entries or that cannot be listed (what :meth:`found` reports).
        self.hits: dict[str, _Folder] = {}
        #: The folders at most :data:`SHALLOW` levels below the root.
        self.shallow: dict[str, _Folder] = {}
        #: The folders of git dirs the watch leaves out (``objects``, ``refs``, ``logs`` ...: they change on every
        #: commit): no event tells of a change in them, so they are checked by stamp on every call, like the watch
        #: limit's holes (a folder can be moved there under any name: one call's child moved a secret's folder into
        #: ``.git/objects`` and the next call read it).
        self.blind: set[str] = set()
        self.depth = root.count("/")
        #: The watch the index was last brought up to date with (None: not built, or built without inotify).
        self.epoch: int | None = None
        #: The watch's change number the index is up to date with.
        self.seq = 0
        self.built = False
        #: The last build stopped at the folder limit (``limit`` folders): refused until something changes.
        self.too_big = 0

    # ---- one folder -------------------------------------------------------------------------------

    def _list(self, folder: str, entries: Listing | None = None) -> _Folder | None:
        """List ``folder`` into the index (``entries``: as the watch listed it); None (and nothing kept) when it is
        gone or not a folder."""
        stamp: tuple[int, int, int] | None = None
        racy = False
        if entries is None:
            try:
                info = os.lstat(folder)
            except OSError:
                return None
            if not stat.S_ISDIR(info.st_mode):
                return None
            stamp = (info.st_ino, info.st_mtime_ns, info.st_ctime_ns)
            racy = max(info.st_mtime_ns, info.st_ctime_ns) >= time.time_ns() - RACY_NS
        names: list[str] = []
        subs: dict[str, int] = {}
        # r and x: a folder that can be read but not entered, or entered but not read, hides names from us
        unlistable = not os.access(folder, os.R_OK | os.X_OK)
        if not unlistable:
            in_git = in_git_dir(folder)
            skip = self.skip
            try:
                if entries is None:
                    with os.scandir(folder) as items:
                        for item in items:
                            names.append(item.name)
                            if item.is_dir(follow_symlinks=False) and not (skip and item.path in skip):
                                subs[item.name] = item.inode()
                else:
                    names.extend(entries[0])
                    for name, inode in entries[1]:
                        if not (skip and folder + "/" + name in skip):
                            subs[name] = inode
                if in_git:  # git's own folders the watch leaves out: checked by stamp on every call
                    self.blind.update(folder + "/" + name for name in subs if name in GIT_UNWATCHED)
            except OSError:
                unlistable, names, subs = True, [], {}
        shallow = folder.count("/") - self.depth <= SHALLOW
        record = _Folder(stamp, racy, subs,
                         tuple(self.table.refused_in(folder, names)) if names else (), unlistable,
                         tuple(names) if shallow else ())
        self.folders[folder] = record
        if shallow:
            self.shallow[folder] = record
        else:
            self.shallow.pop(folder, None)
        if record.secrets or record.unlistable:
            self.hits[folder] = record
        else:
            self.hits.pop(folder, None)
        return record

    def _drop(self, folder: str) -> None:
        """Forget ``folder`` and everything indexed below it."""
        stack = [folder]
        while stack:
            here = stack.pop()
            record = self.folders.pop(here, None)
            self.hits.pop(here, None)
            self.shallow.pop(here, None)
            if record is not None:
                stack.extend(here + "/" + name for name in record.subs)

    def _walk(self, top: str, limit: int, done: set[str],
              listings: dict[str, Listing] | None = None) -> None:
        """List ``top`` and every folder below it (what was known there is forgotten first; ``listings``: what the
        watch listed, used where it has the folder)."""
        self._drop(top)
        stack = [top]
        while stack:
            folder = stack.pop()
            record = self._list(folder, listings.get(folder) if listings is not None else None)
            done.add(folder)
            if record is None:
                continue
            if len(self.folders) > limit:
                raise _TooBig
            stack.extend(folder + "/" + name for name in record.subs)

    def _relist(self, folder: str, limit: int, done: set[str]) -> None:
        """``folder``'s names changed: list it again; sub-folders gone (or replaced) are forgotten, new ones
        walked."""
        old = self.folders.get(folder)
        if old is None:
            self._walk(folder, limit, done)
            return
        record = self._list(folder)
        done.add(folder)
        if record is None:
            self._drop(folder)
            return
        for name, inode in old.subs.items():
            if record.subs.get(name) != inode:
                self._drop(folder + "/" + name)
        for name, inode in record.subs.items():
            path = folder + "/" + name
            if old.subs.get(name) != inode or path not in self.folders:
                self._walk(path, limit, done)
        if len(self.folders) > limit:
            raise _TooBig

    def _reachable(self, folder: str) -> bool:
        """Whether ``folder`` is the root or a walked sub-folder of an indexed folder."""
        if folder == self.root:
            return True
        parent, _, name = folder.rpartition("/")
        record = self.folders.get(parent)
        return record is not None and name in record.subs

    def _check(self, top: str, limit: int, done: set[str]) -> None:
        """Bring ``top``'s subtree up to date by each folder's stamp (no kernel account of its changes)."""
        stack = [top]
        while stack:
            folder = stack.pop()
            if folder in done:
                continue
            record = self.folders.get(folder)
            if record is None:
                self._walk(folder, limit, done)
                continue
            try:
                info = os.lstat(folder)
            except OSError:
                self._drop(folder)
                continue
            if record.racy or record.unlistable or record.stamp is None \
                    or record.stamp != (info.st_ino, info.st_mtime_ns, info.st_ctime_ns):
                self._relist(folder, limit, done)
                record = self.folders.get(folder)
                if record is None:
                    continue
            done.add(folder)
            stack.extend(folder + "/" + name for name in record.subs)

    # ---- the root -----------------------------------------------------------------------------------

    def refresh(self, limit: int) -> None:
        """Bring the index up to date; raises :class:`_TooBig` past ``limit`` folders."""
        changes = WATCHER.changes(self.root, self.seq, self.epoch)
        done: set[str] = set()
        if self.too_big == limit and changes is not None and changes.epoch == self.epoch and not changes.lost \
                and not changes.folders:
            raise _TooBig  # nothing changed since the tree was found too big: no second walk to the limit
        try:
            if changes is not None and changes.listings is not None and changes.watched and not changes.lost:
                # the root's watch is new and listed every folder after watching it: built from that, and the
                # changes since (events after a folder's listing) applied on top
                self.too_big = 0
                self._clear()
                self._walk(self.root, limit, done, changes.listings)
                done.clear()
                self._apply(changes.folders, limit, done)
            elif not self.built or self.too_big:
                self.too_big = 0
                self._clear()
                self._walk(self.root, limit, done)
            elif changes is None or not changes.watched or changes.epoch != self.epoch or changes.lost:
                self._check(self.root, limit, done)
            else:
                self._apply(changes.folders, limit, done)
            if changes is not None and changes.watched:
                for hole in sorted(changes.holes):  # never watched: checked by stamp on every call
                    if self._reachable(hole):
                        self._check(hole, limit, done)
                for top in sorted(self.blind):  # never watched either
                    if self._reachable(top):
                        self._check(top, limit, done)
                    else:
                        self.blind.discard(top)
        except _TooBig:
            self.too_big = limit
            self.built = False
            self.epoch = changes.epoch if changes is not None else None
            self.seq = changes.seq if changes is not None else 0
            raise
        self.built = True
        self.epoch = changes.epoch if changes is not None and changes.watched else None
        self.seq = changes.seq if changes is not None else 0

    def _clear(self) -> None:
        self.blind.clear()
        self.folders.clear()
        self.hits.clear()
        self.shallow.clear()

    def _apply(self, changed: frozenset[str], limit: int, done: set[str]) -> None:
        """List again the folders whose names changed (parents first: a folder gone with its parent is skipped)."""
        for folder in sorted(changed, key=lambda f: f.count("/")):
            if folder not in done and self._reachable(folder):
                self._relist(folder, limit, done)

    def found(self) -> Found:
        """The secret-named entries and the unlistable folders of the index."""
        files: list[str] = []
        folders: list[str] = []
        for folder, record in self.hits.items():
            if record.unlistable:
                folders.append(folder)
            elif record.secrets:
                files.extend(folder + "/" + name for name in record.secrets)
        return Found(tuple(files), tuple(folders),
                     {folder: (record.names, tuple(record.subs)) for folder, record in self.shallow.items()})


@functools.lru_cache(maxsize=16)
def _whole_table(patterns: tuple[str, ...]) -> SecretFiles:
    """The secret-file table without any extension's allow list (one index serves every extension)."""
    return SecretFiles(patterns)


class SecretIndex:
    """The process-wide indexes, one per (writable root, secret-file table)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._trees: dict[tuple[str, tuple[str, ...], frozenset[str]], _Tree] = {}

    def find(self, root: str, secrets: SecretFiles, limit: int = SECRET_SCAN_MAX_DIRS,
             skip: frozenset[str] = frozenset()) -> Found:
        """Every entry below the resolved folder ``root`` named like a secret file of ``secrets``' table, at any
        depth, and the folders there that cannot be listed; the folders in ``skip`` (resolved paths hidden from
        children anyway) are not walked. Raises :class:`SecretScanIncompleteError` when the tree holds more than
        ``limit`` folders."""
        key = (root, secrets.patterns, skip)
        with self._lock:
            tree = self._trees.pop(key, None)  # put back last: the dict's order is the order of use
            if tree is None:
                if len(self._trees) >= MAX_TREES:  # roots of sessions gone (tests make thousands), not the busiest
                    self._trees.pop(next(iter(self._trees)))
                tree = _Tree(root, _whole_table(secrets.patterns), skip)
            self._trees[key] = tree
        with tree.lock:
            try:
                tree.refresh(limit)
            except _TooBig:
                raise SecretScanIncompleteError(
                    f"the exec sandbox cannot vouch for the secret files of {root}: it holds more than {limit:,} "
                    "folders, more than are searched for secret files (.env, keys ...) a command must not read; "
                    f"the command was not run. Start pi in a smaller folder (the project, not a monorepo root or the "
                    f"home folder), hide big folders that need no access with extensionPolicy.sandbox.hiddenPaths, "
                    f"or set {SCAN_LIMIT_ENV} to a larger number of folders (the first call of a session walks them "
                    "all)", cause="too_many_folders") from None
            return tree.found()

    def forget(self) -> None:
        """Drop every index (tests; the next call walks anew)."""
        with self._lock:
            self._trees.clear()


def scan_limit(environ: Mapping[str, str] | None = None) -> int:
    """The folder limit: :data:`SCAN_LIMIT_ENV` when it is a positive number (ASCII digits), else
    :data:`SECRET_SCAN_MAX_DIRS`."""
    raw = (environ if environ is not None else os.environ).get(SCAN_LIMIT_ENV, "").strip()
    # isdigit() takes "²" or "٣", which int() refuses (or reads as another number): ASCII digits only
    return int(raw) if raw.isascii() and raw.isdecimal() and int(raw) > 0 else SECRET_SCAN_MAX_DIRS


SECRET_INDEX: Final = SecretIndex()
