"""Red team (exec sandbox): the quarantine of a planted git config must not read through a swapped folder.

A child plants ``x/.git/config``; the host moves it out and writes back its safe lines (remote URLs included).
The text used to be read by its workspace path *before* the move, while the move itself walks the folders without
following links: a child that swapped ``x`` for a link to another repository between the judge and the read, and
back before the move, had the host copy that repository's remote URLs — a token in one included — into the
workspace. The child's timing is reproduced exactly: the swap back runs just before the move.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pi_sandbox.sandbox import planted

TOKEN = "ghp_OutsideRepoToken0123456789abcdefABCD"


@pytest.mark.parametrize("link_at", ["x", "x/.git"])
def test_quarantine_copies_only_what_it_moved(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, link_at: str) -> None:
    root = tmp_path / "workspace"
    (root / "x" / ".git").mkdir(parents=True)
    planted_config = root / "x" / ".git" / "config"
    planted_config.write_text("[core]\n\tfsmonitor = ./evil.sh\n[remote \"origin\"]\n\turl = https://example.invalid/a\n")
    outside = tmp_path / "home" / "private"  # another repository of the user's, outside the workspace
    (outside / ".git").mkdir(parents=True)
    (outside / ".git" / "config").write_text(f"[remote \"origin\"]\n\turl = https://{TOKEN}@github.com/me/p\n")
    into = tmp_path / "state" / "quarantine" / "c1"
    found = [(str(planted_config), ".git/config", True)]
    # The child's swap: between the judge and the move, the folder is a link to the other repository.
    swapped = root / link_at
    aside = swapped.with_name(swapped.name + ".aside")
    swapped.rename(aside)
    swapped.symlink_to(outside / ".git" if link_at.endswith(".git") else outside)
    real_move = planted._move_out

    def move_after_swap_back(root_text: str, rel: str, dest: Path) -> bool:
        swapped.unlink()
        aside.rename(swapped)
        return real_move(root_text, rel, dest)

    monkeypatch.setattr(planted, "_move_out", move_after_swap_back)
    result = planted.quarantine(str(root), found, into)
    assert [p.action for p in result] == ["neutralised"], result
    written = planted_config.read_text()
    assert TOKEN not in written, written
    assert "fsmonitor" not in written and "https://example.invalid/a" in written  # its own safe lines
    assert (into / "x" / ".git" / "config").read_text().startswith("[core]\n\tfsmonitor")
    assert TOKEN in (outside / ".git" / "config").read_text()  # the other repository untouched
    assert not os.path.islink(root / "x")
