"""Per-extension data/tmp dirs: who may use them, what a session clears."""

from __future__ import annotations

from pathlib import Path

import pytest

from pi_sandbox.config.locations import extension_state_dirs
from pi_sandbox.errors import PathConfinementError
from pi_sandbox.mediation.paths import PathRules
from pi_sandbox.runtime.extdirs import clear_tmp, prepare_dirs


def test_prepare_creates_owner_only_dirs_and_empties_tmp_but_keeps_data(tmp_path: Path) -> None:
    dirs = prepare_dirs(tmp_path, "e")
    assert dirs == extension_state_dirs(tmp_path, "e")  # the folders the exec sandbox binds too
    (dirs.tmp / "sub").mkdir()
    (dirs.tmp / "sub" / "f").write_text("x")
    (dirs.tmp / "g").write_text("y")
    (dirs.tmp / "link").symlink_to(dirs.data)
    (dirs.data / "keep").write_text("z")
    assert prepare_dirs(tmp_path, "e") == dirs  # a new session
    assert list(dirs.tmp.iterdir()) == [] and (dirs.data / "keep").read_text() == "z"
    assert (dirs.data.stat().st_mode & 0o777) == 0o700
    (dirs.tmp / "h").write_text("w")
    clear_tmp(dirs)
    assert list(dirs.tmp.iterdir()) == []


def test_a_root_inside_the_protected_state_dir_is_carved_out_for_that_extension_only(tmp_path: Path) -> None:
    state, workspace = tmp_path / "state", tmp_path / "ws"
    workspace.mkdir()
    mine, theirs = prepare_dirs(state, "mine"), prepare_dirs(state, "theirs")
    (state / "security.db").write_text("ledger")
    rules = PathRules(roots=(workspace, mine.data, mine.tmp), protected=(state,))
    assert rules.resolve(str(mine.tmp / "x.txt"), "write") == mine.tmp.resolve() / "x.txt"
    for refused in (state / "security.db", theirs.data / "x", theirs.tmp, state / "extensions", mine.data.parent):
        with pytest.raises(PathConfinementError):
            rules.resolve(str(refused), "read")
    with pytest.raises(PathConfinementError):  # the root itself cannot be deleted
        rules.resolve(str(mine.data), "delete")
    (mine.tmp / "escape").symlink_to(state / "security.db")  # a link out of the own dir resolves outside it
    with pytest.raises(PathConfinementError):
        rules.resolve(str(mine.tmp / "escape"), "read")
