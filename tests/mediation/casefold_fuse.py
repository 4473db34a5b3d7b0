"""A small case-insensitive pass-through FUSE file system, for tests only (on ``mfusepy``).

Usage: ``python casefold_fuse.py BACKING_DIR MOUNT_POINT`` (stays in the foreground until unmounted).

Names are looked up like vfat or ext4/tmpfs casefold: a name matches an existing entry in any letter case
(an exact match wins), while a new file or folder keeps the case it was created with. Everything is passed
through to ``BACKING_DIR``. Used where the kernel offers neither vfat nor casefold but offers FUSE, so the
path-case tests run on a real case-insensitive file system rather than skip.
"""

from __future__ import annotations

import errno
import os
import sys
from typing import Any

import mfusepy

# Seen by every lookup at once: no cached answer (positive or negative) may hide a name spelled otherwise.
# ``use_ino``: every spelling of a name reports the backing file's inode, so it is the same file to callers.
_OPTIONS = {"entry_timeout": 0, "negative_timeout": 0, "attr_timeout": 0, "use_ino": True}


class CaseFoldPassthrough(mfusepy.Operations):  # type: ignore[misc]
    """Pass-through to ``root`` with case-insensitive, case-preserving name lookups."""

    use_ns = True

    def __init__(self, root: str) -> None:
        self.root = os.path.realpath(root)

    def _real(self, path: str) -> str:
        """The backing path of ``path``: each existing component matched in any case, missing ones as given."""
        real = self.root
        for part in (p for p in path.split("/") if p):
            try:
                names = os.listdir(real)
            except (FileNotFoundError, NotADirectoryError):
                names = []
            if part not in names:
                folded = part.casefold()
                part = next((n for n in sorted(names) if n.casefold() == folded), part)
            real = os.path.join(real, part)
        return real

    @staticmethod
    def _call(fn: Any, *args: Any) -> Any:
        try:
            return fn(*args)
        except OSError as err:
            raise mfusepy.FuseOSError(err.errno or errno.EIO) from err

    def getattr(self, path: str, fh: int | None = None) -> dict[str, Any]:
        st = self._call(os.lstat, self._real(path)) if fh is None else self._call(os.fstat, fh)
        keys = ("st_ino", "st_mode", "st_nlink", "st_uid", "st_gid", "st_size",
                "st_atime_ns", "st_mtime_ns", "st_ctime_ns")
        return {key.removesuffix("_ns"): getattr(st, key) for key in keys}

    def readdir(self, path: str, fh: int) -> list[str]:
        return [".", "..", *self._call(os.listdir, self._real(path))]

    def access(self, path: str, amode: int) -> int:
        if not os.access(self._real(path), amode):
            raise mfusepy.FuseOSError(errno.EACCES)
        return 0

    def open(self, path: str, flags: int) -> int:
        return int(self._call(os.open, self._real(path), flags))

    def create(self, path: str, mode: int, flags: int = os.O_WRONLY) -> int:
        return int(self._call(os.open, self._real(path), flags | os.O_CREAT, mode))

    def read(self, path: str, size: int, offset: int, fh: int) -> bytes:
        return bytes(self._call(os.pread, fh, size, offset))

    def write(self, path: str, data: bytes, offset: int, fh: int) -> int:
        return int(self._call(os.pwrite, fh, data, offset))

    def truncate(self, path: str, length: int, fh: int | None = None) -> int:
        self._call(os.truncate, self._real(path) if fh is None else fh, length)
        return 0

    def flush(self, path: str, fh: int) -> int:
        return 0

    def fsync(self, path: str, datasync: int, fh: int) -> int:
        self._call(os.fsync, fh)
        return 0

    def release(self, path: str, fh: int) -> int:
        self._call(os.close, fh)
        return 0

    def mkdir(self, path: str, mode: int) -> int:
        self._call(os.mkdir, self._real(path), mode)
        return 0

    def rmdir(self, path: str) -> int:
        self._call(os.rmdir, self._real(path))
        return 0

    def unlink(self, path: str) -> int:
        self._call(os.unlink, self._real(path))
        return 0

    def rename(self, old: str, new: str) -> int:
        source, target = self._real(old), self._real(new)
        if source.casefold() == target.casefold():
            # Renaming to another spelling of the same name changes only the case (as on vfat).
            target = os.path.join(os.path.dirname(target), os.path.basename(new))
        self._call(os.rename, source, target)
        return 0

    def chmod(self, path: str, mode: int) -> int:
        self._call(os.chmod, self._real(path), mode)
        return 0

    def utimens(self, path: str, times: tuple[int, int] | None = None) -> int:
        try:
            os.utime(self._real(path), ns=times)
        except OSError as err:
            raise mfusepy.FuseOSError(err.errno or errno.EIO) from err
        return 0

    def statfs(self, path: str) -> dict[str, Any]:
        st = self._call(os.statvfs, self.root)
        keys = ("f_bsize", "f_frsize", "f_blocks", "f_bfree", "f_bavail", "f_files", "f_ffree", "f_namemax")
        return {key: getattr(st, key) for key in keys}


def main(argv: list[str]) -> None:
    """Mount ``argv[0]`` case-insensitively on ``argv[1]`` in the foreground until unmounted."""
    backing, mount_point = argv
    mfusepy.FUSE(CaseFoldPassthrough(backing), mount_point, foreground=True, nothreads=True, **_OPTIONS)


if __name__ == "__main__":
    main(sys.argv[1:])
