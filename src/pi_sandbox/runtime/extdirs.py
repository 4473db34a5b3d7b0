"""Per-extension writable places in the security state dir: a data dir kept across sessions, a tmp dir per session.

``<state>/extensions/<id>-<key>/{data,tmp}``, where the key hashes the extension id with its source (the entry
file), so the same id from another place gets other folders (grants and data never move between sources). The
host adds both folders to that extension's fs roots: writes there need no grant beyond the fs confinement and are
counted like any other fs write. Everything else under the state dir stays refused, including other
extensions' folders. ``os.tmpdir()`` and ``TMPDIR`` point at the tmp folder, which is emptied when a session
loads the extension and when it ends.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from pi_sandbox.hashing import sha256_hex

#: Folder under the state dir that holds every extension's places.
EXTENSIONS_SUBDIR = "extensions"


@dataclass(frozen=True)
class ExtensionDirs:
    """The two writable folders of one extension."""

    data: Path
    tmp: Path

    def create(self) -> None:
        """Make both folders (owner-only), keeping what is there."""
        for folder in (self.data, self.tmp):
            folder.mkdir(mode=0o700, parents=True, exist_ok=True)

    def clear_tmp(self) -> None:
        """Empty the tmp folder (a new session starts with nothing in it); the data folder is kept."""
        if not self.tmp.is_dir():
            return
        for entry in os.scandir(self.tmp):
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(entry.path, ignore_errors=True)
            else:
                try:
                    os.unlink(entry.path)
                except FileNotFoundError:
                    pass


def extension_dirs(state_dir: Path, extension_id: str, source: str) -> ExtensionDirs:
    """Where ``extension_id`` loaded from ``source`` keeps its data and tmp files."""
    safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in extension_id)[:60].lstrip(".") or "ext"
    key = sha256_hex(f"{extension_id}\0{source}")[:16]
    base = state_dir / EXTENSIONS_SUBDIR / f"{safe}-{key}"
    return ExtensionDirs(base / "data", base / "tmp")
