"""Per-extension writable places: a data dir kept across sessions, a tmp dir emptied per session.

The folders are the ones ``config.locations.extension_state_dirs`` names (``<state>/extensions/<slug>/{data,tmp}``),
the same the exec sandbox binds writable for the extension's children, so fs and exec agree. The host adds
both to that extension's fs roots: writes there need no grant beyond the fs confinement and count against its
write quota like any other write. Everything else under the state dir stays refused, including other
extensions' folders. ``os.tmpdir()`` and ``TMPDIR`` point at the tmp folder, which is emptied when a session
loads the extension and when it ends.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from pi_sandbox.config.locations import ExtensionStateDirs, extension_state_dirs


def prepare_dirs(state_dir: Path, extension_id: str) -> ExtensionStateDirs:
    """Create (owner-only) the extension's folders and empty its tmp folder: a new session starts clean."""
    dirs = extension_state_dirs(state_dir, extension_id)
    for folder in (dirs.data, dirs.tmp):
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    clear_tmp(dirs)
    return dirs


def clear_tmp(dirs: ExtensionStateDirs) -> None:
    """Empty the tmp folder; the data folder is kept."""
    if not dirs.tmp.is_dir():
        return
    for entry in os.scandir(dirs.tmp):
        if entry.is_dir(follow_symlinks=False):
            shutil.rmtree(entry.path, ignore_errors=True)
        else:
            try:
                os.unlink(entry.path)
            except FileNotFoundError:
                pass
