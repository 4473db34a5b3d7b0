"""Per-extension data/tmp dirs: where they are, who may use them, what a session clears."""

from __future__ import annotations

from pathlib import Path

import pytest

from pi_sandbox.errors import PathConfinementError
from pi_sandbox.mediation.paths import PathRules
from pi_sandbox.runtime.extdirs import extension_dirs


def test_dirs_are_per_id_and_source_and_inside_the_state_dir(tmp_path: Path) -> None:
    a = extension_dirs(tmp_path, "notes", "/exts/notes/index.ts")
    assert a.data.is_relative_to(tmp_path / "extensions") and a.tmp.parent == a.data.parent
    assert extension_dirs(tmp_path, "notes", "/exts/notes/index.ts") == a
    assert extension_dirs(tmp_path, "notes", "/elsewhere/notes.ts").data != a.data  # same id, other source
    assert extension_dirs(tmp_path, "other", "/exts/notes/index.ts").data != a.data
    odd = extension_dirs(tmp_path, "../../etc/passwd", "x")
    assert odd.data.is_relative_to(tmp_path / "extensions") and ".." not in odd.data.parts


def test_clear_tmp_empties_tmp_and_keeps_data(tmp_path: Path) -> None:
    dirs = extension_dirs(tmp_path, "e", "s")
    dirs.create()
    (dirs.tmp / "sub").mkdir()
    (dirs.tmp / "sub" / "f").write_text("x")
    (dirs.tmp / "g").write_text("y")
    (dirs.tmp / "link").symlink_to(dirs.data)
    (dirs.data / "keep").write_text("z")
    dirs.clear_tmp()
    assert list(dirs.tmp.iterdir()) == [] and (dirs.data / "keep").read_text() == "z"
    assert (dirs.data.stat().st_mode & 0o777) == 0o700


def test_a_root_inside_the_protected_state_dir_is_carved_out_for_that_extension_only(tmp_path: Path) -> None:
    state, workspace = tmp_path / "state", tmp_path / "ws"
    workspace.mkdir()
    mine, theirs = extension_dirs(state, "mine", "a"), extension_dirs(state, "theirs", "b")
    for d in (mine, theirs):
        d.create()
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
