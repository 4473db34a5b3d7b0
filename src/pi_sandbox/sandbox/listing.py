"""Listing a folder for the sandbox's own walks (planted names, secret links, the inotify watch).

A folder that cannot be read — gone meanwhile, replaced, no permission — is skipped by every walk, never an error:
the walks look for what a child left behind, and what they cannot list the next account covers.
"""

from __future__ import annotations

import os


def entries_of(folder: str) -> list[os.DirEntry[str]] | None:
    """The entries of ``folder`` read at once (the descriptor closed before the caller looks at them), or None
    when it cannot be listed. ``DirEntry`` answers ``is_dir``/``stat`` without following links when asked so."""
    try:
        with os.scandir(folder) as items:
            return list(items)
    except OSError:
        return None
