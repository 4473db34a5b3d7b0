"""``realpath_below`` (path mediation's fast resolution) gives exactly ``os.path.realpath``'s answer.

A tree with symlinks of every kind (relative, absolute, out of the root, chains, loops, dangling, to
``..``) and generated path texts ('..', '.', doubled slashes, missing tails) are resolved both ways.
"""

from __future__ import annotations

import os
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from pi_sandbox.mediation.paths import PathRules, _walk_below, realpath, realpath_below

_PARTS = ["a", "b", "c", "link_up", "link_abs", "link_out", "loop1", "chain", "dangling", "dotdot", "..", ".",
          "", "missing", "file.txt"]


def _tree(base: Path) -> Path:
    root = base / "ws"
    (root / "a" / "b" / "c").mkdir(parents=True)
    (base / "outside" / "x").mkdir(parents=True)
    (root / "a" / "file.txt").write_text("x")
    (root / "a" / "link_up").symlink_to("..")
    (root / "a" / "b" / "link_abs").symlink_to(root / "a")
    (root / "link_out").symlink_to(base / "outside")
    (root / "loop1").symlink_to("loop2")
    (root / "loop2").symlink_to("loop1")
    (root / "chain").symlink_to("a/link_up/a/b")
    (root / "dangling").symlink_to("nowhere/deeper")
    (root / "a" / "dotdot").symlink_to("../..")
    return root


@settings(max_examples=400, deadline=None)
@given(parts=st.lists(st.sampled_from(_PARTS), max_size=7), doubled=st.booleans())
def test_matches_realpath(tmp_path_factory, parts: list[str], doubled: bool) -> None:  # type: ignore[no-untyped-def]
    base = tmp_path_factory.mktemp("tree")
    root = str(realpath(_tree(base)))
    candidate = root + ("//" if doubled else "/") + "/".join(parts)
    assert realpath_below(root, candidate) == os.path.realpath(candidate)
    # What the walk saw of the resolved path, when it says, is what stat says (the FIFO check relies on it).
    text, looked = _walk_below(root, candidate)
    if looked is not None:
        seen = os.stat(text)
        assert (looked.st_dev, looked.st_ino, looked.st_mode) == (seen.st_dev, seen.st_ino, seen.st_mode)


def test_rules_resolve_the_same_paths(tmp_path: Path) -> None:
    root = _tree(tmp_path)
    rules = PathRules((root,))
    for raw in ("a/file.txt", "a/link_up/a/file.txt", "chain/c", "a/b/link_abs/file.txt", "missing/new.txt"):
        assert str(rules.resolve(raw, "read")) == os.path.realpath(root / raw)
    for raw in ("link_out/x", "a/dotdot/outside", "../outside", "a/../../outside"):
        assert not rules.allows(raw, "read")
