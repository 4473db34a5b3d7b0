"""Hard links to secret files: the same bytes under a name nobody would take for a secret.

Secret files are recognised by name (``mediation.secret_files``), so ``ln .env notes.txt`` — made by the user
or an earlier process, outside the sandbox — gave the ``.env`` file's bytes to anyone reading ``notes.txt``:
the fs connector and an exec child alike. A name says nothing here; the inode does. A file with
``st_nlink > 1`` whose ``(st_dev, st_ino)`` is a secret file's is that secret file:

- **fs** (:meth:`SecretLinks.secret_of`): the connector looks at the file it opened (``fstat``), so what it
  judges is what it would read. Secret files of the workspace are found by a walk of the whole tree (names
  only, one ``lstat`` per secret-named file), remembered until a file is read whose links changed after that
  walk (making a link sets the inode's ``st_ctime``); plus the secret files the broker knows outside it
  (credential stores in the home, the agent and state dirs, ``hiddenPaths``), looked at on every such read.
- **exec** (:meth:`SecretLinks.other_names`): the secret files the sandbox hides, and the broker-known ones,
  are ``lstat``-ed on every call (the common case ends there: ``st_nlink == 1``); for one with more links the
  workspace is searched for its other names (by inode number from the directory entries, no ``stat`` each),
  remembered per ``(st_dev, st_ino, st_nlink, st_ctime)``, and those names are hidden too.

A link whose other name lies outside the workspace and outside the places the broker knows is not
recognised (nothing names it a secret). The links an extension could make itself are closed elsewhere: fs has
no link operation, and inside the sandbox a hidden file cannot be linked.
"""

from __future__ import annotations

import functools
import os
import stat
import threading
import time
from collections.abc import Iterable, Iterator
from typing import Final

from pi_sandbox.mediation.secret_files import SecretFiles
from pi_sandbox.sandbox.listing import entries_of

#: How deep and how many files the broker-known places are looked through (``~/.gnupg/private-keys-v1.d/x``).
PLACE_DEPTH: Final = 3
PLACE_MAX_FILES: Final = 256
#: Places whose own files are the secrets, not their sub-folders (the state dir holds the extensions' folders).
SHALLOW_PLACE_DEPTH: Final = 1
#: Folders never searched for secret names (their files are git's own).
_SKIP: Final = frozenset({".git"})

Inode = tuple[int, int]


class SecretLinks:
    """The process-wide knowledge of secret inodes (one per process: every sandbox registers its places)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        #: Per session (its state dir): broker-known places outside the workspace, with how deep their files are
        #: looked for.
        self._places: dict[str, dict[str, int]] = {}
        #: Per workspace root: when its secret-name walk started (ns) and the secret files it found by inode.
        self._walks: dict[tuple[str, SecretFiles], tuple[int, dict[Inode, tuple[str, ...]]]] = {}
        #: Per set of linked secret inodes (with link count and ctime): their names in a workspace root.
        self._names: dict[tuple[str, frozenset[tuple[int, int, int, int]]], tuple[str, ...]] = {}

    def register(self, session: str, places: Iterable[str], *, shallow: Iterable[str] = ()) -> None:
        """The places the broker of ``session`` (its state dir) knows hold secrets: files, or folders looked
        through a few levels (``shallow``: their own files only)."""
        found = {os.path.normpath(place): PLACE_DEPTH for place in places}
        found.update((os.path.normpath(place), SHALLOW_PLACE_DEPTH) for place in shallow)
        with self._lock:
            self._places[os.path.normpath(session)] = found

    # ---- the broker-known places outside the workspace ----------------------------------------------

    def _outside(self, session: str) -> Iterator[tuple[os.stat_result, str]]:
        """``(lstat, path)`` of every regular file in ``session``'s places with more than one link."""
        with self._lock:
            places = list(self._places.get(os.path.normpath(session), {}).items())
        budget = PLACE_MAX_FILES
        for place, depth in places:
            try:
                info = os.lstat(place)
            except OSError:
                continue
            if stat.S_ISREG(info.st_mode):
                budget -= 1
                if info.st_nlink > 1:
                    yield info, place
            elif stat.S_ISDIR(info.st_mode):
                for found in _files(place, depth):
                    budget -= 1
                    if found[0].st_nlink > 1:
                        yield found
                    if budget <= 0:
                        return
            if budget <= 0:
                return

    # ---- fs: is the opened file a secret file under another name? -------------------------------------

    def secret_of(self, info: os.stat_result, root: str, secrets: SecretFiles, session: str) -> str | None:
        """The secret file (a path) the file with ``fstat`` ``info`` is another name of, when this extension may
        not read it; None otherwise (also for every file with one link: the caller checks that first)."""
        if info.st_nlink <= 1 or not stat.S_ISREG(info.st_mode):
            return None
        inode = (info.st_dev, info.st_ino)
        for other, path in self._outside(session):
            if (other.st_dev, other.st_ino) == inode:
                return path
        table = _every_secret(secrets.patterns)  # the extension's allow list is applied below
        key = (root, table)
        with self._lock:
            walk = self._walks.get(key)
        if walk is None or info.st_ctime_ns >= walk[0]:
            walk = (time.time_ns() - 1, _secret_inodes(root, table))  # ``-1``: a link made during the walk
            with self._lock:
                self._walks[key] = walk
        return next((p for p in walk[1].get(inode, ()) if secrets.refused(p)), None)

    # ---- exec: the other names of the secret files a child must not read ------------------------------

    def outside(self, session: str) -> list[tuple[os.stat_result, str]]:
        """The broker-known secret files of ``session`` with more than one link (looked at once per exec call,
        passed to :meth:`other_names` for each writable root)."""
        return list(self._outside(session))

    def other_names(self, root: str, hidden: Iterable[str], session: str,
                    outside: list[tuple[os.stat_result, str]] | None = None) -> list[str]:
        """Regular files in the workspace ``root`` that are hard links to one of the ``hidden`` secret files (or
        to a secret file of the broker-known places: ``outside`` when already looked at), other than those names
        themselves."""
        linked: dict[Inode, tuple[int, int, int, int]] = {}
        for path in hidden:
            try:
                info = os.lstat(path)
            except OSError:
                continue
            if info.st_nlink > 1 and stat.S_ISREG(info.st_mode):
                linked[(info.st_dev, info.st_ino)] = (info.st_dev, info.st_ino, info.st_nlink, info.st_ctime_ns)
        try:
            device = os.stat(root).st_dev
        except OSError:
            return []
        for info, _path in outside if outside is not None else self._outside(session):
            if info.st_dev == device:  # a hard link never crosses file systems
                linked[(info.st_dev, info.st_ino)] = (info.st_dev, info.st_ino, info.st_nlink, info.st_ctime_ns)
        if not linked:
            return []
        key = (root, frozenset(linked.values()))
        with self._lock:
            names = self._names.get(key)
        if names is None:
            names = tuple(_names_of(root, set(linked)))
            with self._lock:
                if len(self._names) > 64:
                    self._names.clear()
                self._names[key] = names
        skip = set(hidden)
        return [n for n in names if n not in skip and _same_inode(n, linked)]


@functools.lru_cache(maxsize=16)
def _every_secret(patterns: tuple[str, ...]) -> SecretFiles:
    """The secret-file table without any extension's allow list (compiled once per table)."""
    return SecretFiles(patterns)


def _same_inode(path: str, linked: dict[Inode, tuple[int, int, int, int]]) -> bool:
    """Whether ``path`` is still a regular file with one of the ``linked`` inodes (remembered names are checked)."""
    try:
        info = os.lstat(path)
    except OSError:
        return False
    return stat.S_ISREG(info.st_mode) and (info.st_dev, info.st_ino) in linked


def _files(folder: str, depth: int) -> Iterator[tuple[os.stat_result, str]]:
    """``(lstat, path)`` of the regular files in ``folder`` and ``depth - 1`` levels below it."""
    entries = entries_of(folder)
    if entries is None:
        return
    for entry in entries:
        try:
            info = entry.stat(follow_symlinks=False)
        except OSError:
            continue
        if stat.S_ISREG(info.st_mode):
            yield info, entry.path
        elif stat.S_ISDIR(info.st_mode) and depth > 1:
            yield from _files(entry.path, depth - 1)


def _walk(root: str, skip: frozenset[str] = _SKIP) -> Iterator[tuple[str, list[os.DirEntry[str]]]]:
    """Every folder below ``root`` (folders named in ``skip`` left out: ``.git`` by default) with its entries;
    links are never followed."""
    stack = [root]
    while stack:
        folder = stack.pop()
        entries = entries_of(folder)
        if entries is None:
            continue
        yield folder, entries
        for entry in entries:
            if entry.name not in skip and entry.is_dir(follow_symlinks=False):
                stack.append(entry.path)


def _secret_inodes(root: str, table: SecretFiles) -> dict[Inode, tuple[str, ...]]:
    """Secret files (regular files named like one) anywhere in ``root``, by inode."""
    out: dict[Inode, tuple[str, ...]] = {}
    for folder, entries in _walk(root):
        names = table.refused_in(folder, [e.name for e in entries])
        for name in names:
            path = folder + "/" + name
            try:
                info = os.lstat(path)
            except OSError:
                continue
            if stat.S_ISREG(info.st_mode):
                inode = (info.st_dev, info.st_ino)
                out[inode] = (*out.get(inode, ()), path)
    return out


def _names_of(root: str, inodes: set[Inode]) -> Iterator[str]:
    """Paths in ``root`` (``.git`` included: a link may hide anywhere) of regular files with one of ``inodes``:
    the directory entries' inode numbers are compared first (no ``stat``), the device only on a match."""
    numbers = {ino for _dev, ino in inodes}
    for _folder, entries in _walk(root, skip=frozenset()):
        for entry in entries:
            if entry.inode() not in numbers:
                continue
            try:
                info = entry.stat(follow_symlinks=False)
            except OSError:
                continue
            if stat.S_ISREG(info.st_mode) and (info.st_dev, info.st_ino) in inodes:
                yield entry.path


SECRET_LINKS: Final = SecretLinks()
