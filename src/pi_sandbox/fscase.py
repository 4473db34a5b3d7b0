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
"""

from __future__ import annotations

import fcntl
import os
import secrets
import struct
import threading
from collections.abc import Callable
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
