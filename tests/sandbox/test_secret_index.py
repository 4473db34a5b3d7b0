"""The secret-file index (``sandbox/secret_index.py``) on a real tree and the real inotify watch: complete at any
depth after every kind of change made between two looks, without listing unchanged folders again; checked by
stamps where the watch cannot vouch (the watch limit); unlistable folders reported; the folder limit refuses."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from pi_sandbox.errors import SecretScanIncompleteError
from pi_sandbox.mediation.secret_files import SecretFiles
from pi_sandbox.sandbox import watch
from pi_sandbox.sandbox.secret_index import SECRET_INDEX, SecretIndex

TABLE = SecretFiles()


def _tree(root: Path, files: list[str]) -> None:
    for rel in files:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text("x\n")


def _found(index: SecretIndex, root: Path, **kw: object) -> set[str]:
    """The regular files found (entries named like a secret of other kinds are the caller's to leave out)."""
    found = index.find(str(root), TABLE, **kw)  # type: ignore[arg-type]
    return {os.path.relpath(p, root) for p in found.files if os.path.isfile(p) and not os.path.islink(p)}


@pytest.fixture()
def root(tmp_path: Path) -> Path:
    out = tmp_path / "ws"
    _tree(out, ["a/b/c/.env", "node_modules/p/q/r/s/key.pem", ".git/hooks/x", "src/main.py", ".git/objects/ab/c.key"])
    return out


def test_every_depth_and_every_change_between_two_looks(root: Path, tmp_path: Path) -> None:
    index = SecretIndex()
    assert _found(index, root) == {"a/b/c/.env", "node_modules/p/q/r/s/key.pem"}  # git's objects are not walked
    _tree(root, ["a/b/c/d/e/f/g/secrets.json", "new/x/y/prod.env"])  # deeper, and a new folder tree
    (root / "src/notes.txt").write_text("x\n")
    (root / "src/notes.txt").rename(root / "src/.env.local")  # renamed into a secret name
    outside = tmp_path / "out" / "m" / "n"
    outside.mkdir(parents=True)
    (outside / "id_rsa").write_text("k\n")
    shutil.move(str(tmp_path / "out" / "m"), str(root / "a" / "moved"))  # a folder moved in
    os.link(root / "a/b/c/.env", root / "src/credentials.json")  # a hard link under a secret name
    assert _found(index, root) == {"a/b/c/.env", "node_modules/p/q/r/s/key.pem", "a/b/c/d/e/f/g/secrets.json",
                                   "new/x/y/prod.env", "src/.env.local", "a/moved/n/id_rsa", "src/credentials.json"}
    shutil.rmtree(root / "new")
    _tree(root, ["new/x/other/.envrc"])  # removed and made again under the same name
    shutil.move(str(root / "a" / "b"), str(root / "z"))  # a folder renamed inside the tree
    (root / "src/.env.local").unlink()
    (root / "src/.env.local").mkdir()  # a file become a folder of the same name
    _tree(root, ["src/.env.local/inner/.env"])
    assert _found(index, root) == {"node_modules/p/q/r/s/key.pem", "z/c/.env", "z/c/d/e/f/g/secrets.json",
                                   "new/x/other/.envrc", "a/moved/n/id_rsa", "src/credentials.json",
                                   "src/.env.local/inner/.env"}


def test_a_second_look_lists_only_what_changed(root: Path) -> None:
    index = SecretIndex()
    _found(index, root)
    (tree,) = index._trees.values()
    before = dict(tree.folders)
    _tree(root, ["a/b/c/.envrc"])
    assert "a/b/c/.envrc" in _found(index, root)
    changed = {os.path.relpath(f, root) for f, rec in tree.folders.items() if before.get(f) is not rec}
    assert changed == {"a/b/c"}, changed


def test_folders_the_watch_limit_left_out_are_checked_by_stamps(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(watch, "MAX_WATCHES", len(watch.WATCHER._wds) + 3)  # the root and two more: the rest are holes
    index = SecretIndex()
    _found(index, root)
    assert any(str(root) in hole for state in watch.WATCHER._roots.values() for hole in state.holes)
    _tree(root, ["node_modules/p/q/r/s/t/u/.env", "a/b/c/x/y/tls.pem"])
    assert {"node_modules/p/q/r/s/t/u/.env", "a/b/c/x/y/tls.pem"} <= _found(index, root)


def test_unlistable_folders_are_reported_and_the_limit_refuses(root: Path) -> None:
    index = SecretIndex()
    locked = root / "a" / "locked"
    _tree(root, ["a/locked/.env"])
    locked.chmod(0o311)
    try:
        found = SECRET_INDEX.find(str(root), TABLE) if os.geteuid() else index.find(str(root), TABLE)
        if os.geteuid():  # the user cannot list it: hidden whole
            assert str(locked) in found.folders, found
        else:  # root lists everything
            assert str(locked / ".env") in found.files, found
    finally:
        locked.chmod(0o755)
    with pytest.raises(SecretScanIncompleteError, match="more than 5 folders"):
        SecretIndex().find(str(root), TABLE, limit=5)
    big = SecretIndex()
    with pytest.raises(SecretScanIncompleteError):
        big.find(str(root), TABLE, limit=5)
    with pytest.raises(SecretScanIncompleteError):  # nothing changed: refused again without a second walk
        big.find(str(root), TABLE, limit=5)
    assert _found(big, root, limit=1000) >= {"a/b/c/.env"}


def test_what_changed_after_the_watch_listed_the_tree_is_in_the_index(tmp_path: Path) -> None:
    """The index is built from the listings the root's first watch made (no second walk): a change made after that
    watch listed a folder, before the index was built, is applied from the watch's events."""
    root = tmp_path / "fresh"
    _tree(root, ["a/b/c/keep.txt", "x/y/.env"])
    assert watch.WATCHER.begin(str(root))  # what an exec call does first: the tree is watched and listed
    try:
        _tree(root, ["a/b/c/d/.env.production", "new/deep/er/id_ed25519"])
        (root / "x/y/.env").rename(root / "x/y/plain.txt")
        assert _found(SecretIndex(), root) == {"a/b/c/d/.env.production", "new/deep/er/id_ed25519"}
    finally:
        watch.WATCHER.end(str(root))


def test_the_record_of_changed_folders_is_bounded_while_nobody_looks(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """A child alternating create/unlink in two folders adds a change per system call; with nobody asking (the secret
    broker off) the record was trimmed only by a looker and grew without bound. It is cut short as it grows (its
    lookers then check every folder by stamp): a secret made amid the churn is still found."""
    monkeypatch.setattr(watch, "MAX_CHANGED", 50)
    root = tmp_path / "busy"
    _tree(root, ["a/keep.txt", "b/keep.txt", "c/d/keep.txt"])
    index = SecretIndex()
    assert _found(index, root) == set()
    state = watch.WATCHER._roots[str(root)]
    for n in range(400):
        here = root / ("a" if n % 2 else "b") / "x"
        here.write_text("")
        here.unlink()
        if n == 200:
            _tree(root, ["c/d/e/.env"])
        if n % 50 == 0:
            with watch.WATCHER._lock:  # what the watcher's thread does while a call runs
                watch.WATCHER._drain()
            assert len(state.changed) <= 50 and len(state.changed_seq) == len(state.changed)
    with watch.WATCHER._lock:
        watch.WATCHER._drain()
    assert len(state.changed) <= 50 and state.lost_at > 0
    assert _found(index, root) == {"c/d/e/.env"}
