"""Is a folder's file system case-insensitive? Asked of the folder, never guessed from the OS name.

On a case-insensitive file system (vfat/exFAT/NTFS volumes, SMB shares, macOS defaults, ext4/f2fs
folders with the casefold flag) ``.PI/Settings.json`` *is* ``.pi/settings.json`` and
``sandboxed-extensions/My-Ext`` *is* ``sandboxed-extensions/my-ext``; Linux's ``realpath`` keeps the
spelling it was given, so a check that compares path strings exactly would let an extension around
it. :func:`probe_case_insensitive` asks a folder, in this order:

1. the ``FS_CASEFOLD_FL`` inode flag (ext4/f2fs per-folder casefolding; one ``ioctl``);
2. an existing entry whose name has letters, looked up with the letter case swapped: the same
   inode means insensitive, no such entry means sensitive;
3. a probe file created in the folder (random name with letters) looked up the same way, then removed;
4. otherwise unknown (``None``).

Answers from 2–3 hold for the whole file system and are cached per device; the flag of 1 is per folder.
:class:`CaseRules` is what checks use: ``refuses(path, base)`` compares case-insensitively where the
folder holding ``base`` is case-insensitive — or unknown, since it only ever widens a refusal.
:class:`BaseSet` asks the same question of many bases at once (path mediation's roots, protected and
read-only folders): one set lookup per ancestor of the path instead of one comparison per base.
"""

from __future__ import annotations

import fcntl
import os
import secrets
import struct
import threading
from collections.abc import Callable, Iterable
from typing import Final

#: ``_IOR('f', 1, long)`` on 64-bit Linux, and the casefold bit of the inode flags (linux/fs.h).
FS_IOC_GETFLAGS: Final = 0x80086601
FS_CASEFOLD_FL: Final = 0x40000000

#: A directory → True (case-insensitive), False (sensitive) or None (could not tell).
CaseProbe = Callable[[str], "bool | None"]

_by_device: dict[int, bool] = {}
_device_lock = threading.Lock()


def nearest_directory(path: str) -> str | None:
    """``path`` if it is a folder, else the closest existing folder above it (None if there is none)."""
    current = os.path.abspath(path)
    while True:
        if os.path.isdir(current):
            return current
        parent = os.path.dirname(current)
        if parent == current:
            return None
        current = parent


def _casefold_flag(directory: str) -> bool:
    try:
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        raw = fcntl.ioctl(fd, FS_IOC_GETFLAGS, b"\0" * 8)
        return bool(struct.unpack("l", raw)[0] & FS_CASEFOLD_FL)
    except OSError:  # the file system has no inode flags (tmpfs, vfat, ...): not the per-folder kind
        return False
    finally:
        os.close(fd)


def _same_under_swapped_case(directory: str, name: str) -> bool | None:
    """True/False when looking ``name`` up with swapped case tells; None when it cannot."""
    swapped = name.swapcase()
    if swapped == name:
        return None
    try:
        original = os.lstat(os.path.join(directory, name))
    except OSError:
        return None
    try:
        other = os.lstat(os.path.join(directory, swapped))
    except FileNotFoundError:
        return False
    except OSError:
        return None
    return (other.st_dev, other.st_ino) == (original.st_dev, original.st_ino)


def _probe_entries(directory: str) -> bool | None:
    try:
        with os.scandir(directory) as entries:
            for checked, entry in enumerate(entries):
                answer = _same_under_swapped_case(directory, entry.name)
                if answer is not None:
                    return answer
                if checked > 64:
                    break
    except OSError:
        return None
    return None


def _probe_file(directory: str) -> bool | None:
    name = f".pi-sandbox-case-probe-{secrets.token_hex(4)}x"
    path = os.path.join(directory, name)
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600))
    except OSError:
        return None
    try:
        return _same_under_swapped_case(directory, name)
    finally:
        try:
            os.unlink(path)
        except OSError:
            pass


def probe_case_insensitive(path: str) -> bool | None:
    """Whether the file system holding ``path`` (its nearest existing folder) ignores letter case."""
    directory = nearest_directory(path)
    if directory is None:
        return None
    if _casefold_flag(directory):
        return True
    try:
        device = os.stat(directory).st_dev
    except OSError:
        return None
    with _device_lock:
        known = _by_device.get(device)
    if known is not None:
        return known
    answer = _probe_entries(directory)
    if answer is None:
        answer = _probe_file(directory)
    if answer is not None:
        with _device_lock:
            _by_device[device] = answer
    return answer


def within(path: str, base: str) -> bool:
    """Whether resolved ``path`` is ``base`` or below it (string form: pathlib's is ~10x slower)."""
    return path == base or path.startswith(base if base.endswith("/") else base + "/")


class CaseRules:
    """Path comparisons that follow the file system: case-insensitive where it is (or may be).

    ``probe`` is injectable, so the comparison logic is tested on any file system (a test says
    "this folder is case-insensitive" and checks what is refused).
    """

    def __init__(self, probe: CaseProbe = probe_case_insensitive) -> None:
        self._probe = probe
        self._answers: dict[str, bool] = {}
        self._lock = threading.Lock()

    def insensitive(self, base: str) -> bool:
        """Whether names under ``base`` may match without regard to case (unknown counts as yes)."""
        with self._lock:
            known = self._answers.get(base)
        if known is None:
            answer = self._probe(base)
            known = True if answer is None else answer
            with self._lock:
                self._answers[base] = known
        return known

    def refuses(self, path: str, base: str) -> bool:
        """Whether ``path`` is ``base`` or inside it for a refusal (protected, read-only) check: exactly,
        or ignoring case where the file system holding ``base`` does."""
        if within(path, base):
            return True
        return self.insensitive(base) and within(path.casefold(), base.casefold())

    def same(self, path: str, other: str) -> bool:
        """Whether two resolved paths name the same place for a refusal check."""
        return path == other or (self.insensitive(other) and path.casefold() == other.casefold())


#: The shared instance (probe answers are cached per folder for the process).
CASE_RULES: Final = CaseRules()


def ancestors(path: str) -> list[str]:
    """``path`` and every prefix of it that ends right before a ``/``, shortest first.

    These are exactly the strings ``base`` not ending in ``/`` for which ``within(path, base)`` holds
    (``path == base`` or ``path`` starts with ``base + "/"``), so membership of a base in this list *is*
    the ``within`` test; the empty prefix of an absolute path is included for that reason.
    """
    parts = path.split("/")
    prefix = parts[0]
    out = [prefix]
    for part in parts[1:]:
        prefix = prefix + "/" + part
        out.append(prefix)
    return out


class Ancestry:
    """One resolved path's ancestors (:func:`ancestors`), exact and casefolded, each computed once."""

    __slots__ = ("path", "_exact", "_folded")

    def __init__(self, path: str) -> None:
        self.path = path
        self._exact: list[str] | None = None
        self._folded: list[str] | None = None

    @property
    def exact(self) -> list[str]:
        if self._exact is None:
            self._exact = ancestors(self.path)
        return self._exact

    @property
    def folded(self) -> list[str]:
        if self._folded is None:
            self._folded = ancestors(self.path.casefold())
        return self._folded


class BaseSet:
    """Which of many bases a path falls in: ``within`` (``case`` None) or ``case.refuses``, for each base.

    ``matches`` gives exactly the bases ``b`` of ``bases`` for which ``within(path, b)`` — or, with
    ``case``, ``case.refuses(path, b)`` — holds (a property test compares the two), with one dict lookup
    per ancestor of the path instead of one string comparison per base (an extension with 80 dependency
    folders has 80 read-only bases). The case question is asked of every base when the set is made;
    :class:`CaseRules` keeps each answer for the process, so it cannot change under the set.
    Bases ending in ``/`` (the root folder ``/``) are compared one by one, like ``within`` does.
    """

    __slots__ = ("bases", "case", "_exact", "_folded", "_linear")

    def __init__(self, bases: Iterable[str], case: CaseRules | None = None) -> None:
        self.bases = tuple(bases)
        self.case = case
        exact: dict[str, list[str]] = {}
        folded: dict[str, list[str]] = {}
        linear: list[str] = []
        for base in dict.fromkeys(self.bases):
            insensitive = case is not None and case.insensitive(base)
            if base.endswith("/") or (insensitive and base.casefold().endswith("/")):
                linear.append(base)
                continue
            exact.setdefault(base, []).append(base)
            if insensitive:
                folded.setdefault(base.casefold(), []).append(base)
        self._exact = exact
        self._folded = folded
        self._linear = tuple(linear)

    def _test(self, path: str, base: str) -> bool:
        return self.case.refuses(path, base) if self.case is not None else within(path, base)

    def matches(self, ancestry: Ancestry) -> list[str]:
        """The bases ``ancestry.path`` falls in (each once; empty when none)."""
        found: list[str] = []
        exact = self._exact
        if exact:
            for prefix in ancestry.exact:
                hit = exact.get(prefix)
                if hit is not None:
                    found.extend(hit)
        folded = self._folded
        if folded:
            for prefix in ancestry.folded:
                hit = folded.get(prefix)
                if hit is not None:
                    found.extend(b for b in hit if b not in found)
        if self._linear:
            found.extend(b for b in self._linear if self._test(ancestry.path, b) and b not in found)
        return found

    def any(self, ancestry: Ancestry) -> bool:
        """Whether ``ancestry.path`` falls in at least one base."""
        exact = self._exact
        if exact and any(prefix in exact for prefix in ancestry.exact):
            return True
        folded = self._folded
        if folded and any(prefix in folded for prefix in ancestry.folded):
            return True
        return any(self._test(ancestry.path, b) for b in self._linear)

    def shortest_parent(self, path: str) -> str | None:
        """The shortest base (compared exactly) that ``path`` lies strictly below: starts with ``base + "/"``."""
        exact = self._exact
        find = path.find
        at = find("/")
        while at != -1:
            if path[:at] in exact:
                return path[:at]
            at = find("/", at + 1)
        return None
