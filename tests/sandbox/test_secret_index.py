"""The secret-file index (``sandbox/secret_index.py``) on a real tree and the real inotify watch: complete at any
depth after every kind of change made between two looks, without listing unchanged folders again; checked by
stamps where the watch cannot vouch (the watch limit); unlistable folders reported; the folder limit refuses."""

from __future__ import annotations

import os
import shutil
import time
import tracemalloc
from pathlib import Path

import pytest

from pi_sandbox.errors import SecretScanIncompleteError
from pi_sandbox.mediation.secret_files import SecretFiles
from pi_sandbox.sandbox import secret_index, watch
from pi_sandbox.sandbox.secret_index import SECRET_INDEX, SECRET_SCAN_MAX_DIRS, SecretIndex, scan_limit

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
    # git's objects are walked too (checked by stamp: no watch there)
    assert _found(index, root) == {"a/b/c/.env", "node_modules/p/q/r/s/key.pem", ".git/objects/ab/c.key"}
    _tree(root, ["a/b/c/d/e/f/g/secrets.json", "new/x/y/prod.env"])  # deeper, and a new folder tree
    (root / "src/notes.txt").write_text("x\n")
    (root / "src/notes.txt").rename(root / "src/.env.local")  # renamed into a secret name
    outside = tmp_path / "out" / "m" / "n"
    outside.mkdir(parents=True)
    (outside / "id_rsa").write_text("k\n")
    shutil.move(str(tmp_path / "out" / "m"), str(root / "a" / "moved"))  # a folder moved in
    os.link(root / "a/b/c/.env", root / "src/credentials.json")  # a hard link under a secret name
    assert _found(index, root) == {"a/b/c/.env", "node_modules/p/q/r/s/key.pem", "a/b/c/d/e/f/g/secrets.json",
                                   ".git/objects/ab/c.key",
                                   "new/x/y/prod.env", "src/.env.local", "a/moved/n/id_rsa", "src/credentials.json"}
    shutil.rmtree(root / "new")
    _tree(root, ["new/x/other/.envrc"])  # removed and made again under the same name
    shutil.move(str(root / "a" / "b"), str(root / "z"))  # a folder renamed inside the tree
    (root / "src/.env.local").unlink()
    (root / "src/.env.local").mkdir()  # a file become a folder of the same name
    _tree(root, ["src/.env.local/inner/.env"])
    assert _found(index, root) == {"node_modules/p/q/r/s/key.pem", "z/c/.env", "z/c/d/e/f/g/secrets.json",
                                   ".git/objects/ab/c.key",
                                   "new/x/other/.envrc", "a/moved/n/id_rsa", "src/credentials.json",
                                   "src/.env.local/inner/.env"}


def test_a_second_look_lists_only_what_changed(root: Path) -> None:
    index = SecretIndex()
    _found(index, root)
    time.sleep(secret_index.RACY_NS / 1e9)  # git's folders (checked by stamp) listed within a clock tick of their
    _found(index, root)  # making are listed once more; after that they are not
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
    (tree,) = big._trees.values()
    listed: list[str] = []
    real = tree._list

    def counting(folder: str, entries: list[os.DirEntry[str]] | None = None) -> object:
        listed.append(folder)
        return real(folder, entries)

    tree._list = counting  # type: ignore[method-assign]
    with pytest.raises(SecretScanIncompleteError):  # nothing changed: refused again without a second walk
        big.find(str(root), TABLE, limit=5)
    assert listed == []
    _tree(root, ["a/b/c/new.txt"])  # something changed: walked again (and refused again)
    with pytest.raises(SecretScanIncompleteError):
        big.find(str(root), TABLE, limit=5)
    assert listed
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


def _flood(folder: Path) -> None:
    """More events than the kernel queues (``max_queued_events``) in the watched ``folder``: the queue overflows."""
    limit = int(Path("/proc/sys/fs/inotify/max_queued_events").read_text())
    for n in range(limit // 2 + 200):  # a create and a close-write each
        os.close(os.open(folder / f"f{n}", os.O_CREAT | os.O_WRONLY, 0o644))


def test_folders_made_while_events_were_lost_are_watched_at_the_next_look(tmp_path: Path) -> None:
    """After a queue overflow the index checks every folder by stamp once, then trusts events again: the folders made
    while events were lost must be watched by then (they were only at a call's end, and the extension's own folders
    never have one), else a secret file made in them later was never found."""
    root = tmp_path / "flooded"
    _tree(root, ["a/keep.txt"])
    index = SecretIndex()
    assert _found(index, root) == set()
    _flood(root / "a")
    (root / "new").mkdir()  # while events are lost: no event, no watch
    (root / "deep" / "x" / "y").mkdir(parents=True)
    assert _found(index, root) == set()  # lost: checked by stamp (and watched again)
    assert watch.WATCHER._roots[str(root)].lost_at > 0  # the queue did overflow
    _tree(root, ["new/.env", "deep/x/y/id_ed25519", "deep/x/y/z/secrets.json"])
    assert _found(index, root) == {"new/.env", "deep/x/y/id_ed25519", "deep/x/y/z/secrets.json"}
    _tree(root, ["new/later/prod.env"])
    assert _found(index, root) == {"new/.env", "deep/x/y/id_ed25519", "deep/x/y/z/secrets.json", "new/later/prod.env"}


def test_a_root_renamed_away_and_made_again_is_watched_anew(tmp_path: Path) -> None:
    """``mv ws ws.old; mkdir ws``: the root's watch follows the renamed folder (inotify watches inodes), so the index
    took the old folder's events for the new one's and never saw ``ws/.env``."""
    root = tmp_path / "ws"
    _tree(root, ["a/keep.txt"])
    index = SecretIndex()
    assert _found(index, root) == set()
    root.rename(tmp_path / "ws.old")
    _tree(root, [".env", "x/y/.env.local"])
    assert _found(index, root) == {".env", "x/y/.env.local"}
    _tree(root, ["x/z/server.key"])
    _tree(tmp_path / "ws.old", ["a/.env"])  # the old folder's changes are not the new one's
    assert _found(index, root) == {".env", "x/y/.env.local", "x/z/server.key"}
    state = watch.WATCHER._roots[str(root)]
    old = [folder for (owner, folder) in watch.WATCHER._wds.values()
           if owner is not state and (folder == str(root) or folder.startswith(str(root) + "/"))]
    assert old == [], old  # the old folder's watches were removed, not leaked


def test_the_first_look_at_a_new_watch_reports_all_its_changes(tmp_path: Path) -> None:
    """The index passed the change number it saw of the root's *previous* watch: the new watch numbers from 0, so
    what changed between a call's start (the new watch) and the index's look was dropped."""
    root = tmp_path / "ws"
    root.mkdir()
    index = SecretIndex()
    for n in range(10):  # the old watch's numbers grow past the new one's
        (root / f"d{n}").mkdir()
        assert _found(index, root) == set()
    shutil.rmtree(root)
    root.mkdir()
    assert watch.WATCHER.begin(str(root))  # a call starts: the root is watched anew
    try:
        _tree(root, [".env", "d0/x/credentials.json"])
        assert _found(index, root) == {".env", "d0/x/credentials.json"}
    finally:
        watch.WATCHER.end(str(root))


def test_an_outer_root_sees_changes_below_an_inner_root_watched_after_it(tmp_path: Path) -> None:
    """A root inside another (the extension's folders in a state dir inside the workspace) shares its folders' watches;
    each watch maps to the root that added it last, so the outer root's account missed every change below the inner
    one."""
    outer = tmp_path / "outer"
    _tree(outer, ["sub/deep/keep.txt", "other/keep.txt"])
    first, second = SecretIndex(), SecretIndex()
    assert _found(first, outer) == set()
    assert _found(second, outer / "sub") == set()
    _tree(outer, ["sub/deep/.env", "sub/new/x/id_rsa"])
    assert _found(first, outer) == {"sub/deep/.env", "sub/new/x/id_rsa"}
    assert _found(second, outer / "sub") == {"deep/.env", "new/x/id_rsa"}
    _tree(outer, ["sub/new/x/y/prod.env"])  # in a folder watched after the inner root was
    assert "sub/new/x/y/prod.env" in _found(first, outer)


def test_changes_made_while_a_new_root_is_listed_are_in_its_first_look(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """A root first watched by the index's own look (the extension's data and tmp folders): what changed in a folder
    after the watch listed it, before the look returned, must be in that look (its events were left queued)."""
    root = tmp_path / "fresh"
    _tree(root, ["a/keep.txt", "b/keep.txt"])
    real = watch.entries_of
    listed: list[str] = []

    def listing(folder: str) -> list[os.DirEntry[str]] | None:
        listed.append(folder)
        if folder in (str(root / "a"), str(root / "b")) and len(listed) == 3:  # the user writes into the one
            Path(listed[1], ".env").write_text("x\n")  # listed just before (a concurrent writer)
        return real(folder)

    monkeypatch.setattr(watch, "entries_of", listing)
    found = _found(SecretIndex(), root)
    assert listed[0] == str(root) and len(listed) == 3, listed  # the order the test relies on
    assert found == {os.path.relpath(listed[1], root) + "/.env"}


def test_the_least_recently_used_index_goes_first(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Past :data:`MAX_TREES` an index is dropped: the one unused longest, not the first made (the workspace's, in use
    on every call, was dropped and rebuilt when a session's many short-lived roots came and went)."""
    monkeypatch.setattr(secret_index, "MAX_TREES", 3)
    index = SecretIndex()
    roots = [tmp_path / f"r{n}" for n in range(5)]
    for root in roots:
        _tree(root, ["a/.env"])
    _found(index, roots[0])
    _found(index, roots[1])
    _found(index, roots[2])
    kept = index._trees[(str(roots[0]), TABLE.patterns, frozenset())]
    _found(index, roots[0])  # used again: now the most recent
    _found(index, roots[3])  # one too many: roots[1], the least recently used, goes
    assert [key[0] for key in index._trees] == [str(roots[2]), str(roots[0]), str(roots[3])]
    assert index._trees[(str(roots[0]), TABLE.patterns, frozenset())] is kept  # not rebuilt
    _found(index, roots[4])
    assert len(index._trees) == 3 and str(roots[2]) not in {key[0] for key in index._trees}


@pytest.mark.parametrize(("raw", "limit"), [("5000", 5000), (" 7 ", 7), ("0", SECRET_SCAN_MAX_DIRS),
                                            ("-3", SECRET_SCAN_MAX_DIRS), ("\u00b2", SECRET_SCAN_MAX_DIRS),
                                            ("1\u00b2", SECRET_SCAN_MAX_DIRS), ("\u0663", SECRET_SCAN_MAX_DIRS),
                                            ("12k", SECRET_SCAN_MAX_DIRS), ("", SECRET_SCAN_MAX_DIRS)])
def test_the_folder_limit_from_the_environment(raw: str, limit: int) -> None:
    """Only a positive number in ASCII digits sets the limit ("²" passed ``isdigit`` and made ``int`` raise at the
    exec sandbox's start); anything else keeps the default."""
    assert scan_limit({"PI_SANDBOX_SECRET_SCAN_MAX_DIRS": raw}) == limit


def test_the_watchs_listings_cost_little_memory(tmp_path: Path) -> None:
    """The first watch of a root keeps every folder's listing for the index (held for a whole call when the secret
    broker is off): ``os.DirEntry`` objects cost ~260 B per entry (a 65,000-folder tree of 20 entries: ~340 MB);
    names and sub-folder inodes, about a third of that."""
    root = tmp_path / "big"
    for n in range(400):
        folder = root / f"pkg{n // 40}" / f"m{n}"
        folder.mkdir(parents=True)
        for k in range(10):
            (folder / f"file_{k}.js").touch()
    (root / "pkg0" / "m0" / ".env").touch()
    tracemalloc.start()
    try:
        assert watch.WATCHER.begin(str(root))
        held, _peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    try:
        assert watch.WATCHER._roots[str(root)].listings is not None
        entries = sum(len(dirs) + len(files) for _here, dirs, files in os.walk(root))
        assert entries >= 4400 and held / entries < 170, (held, entries)
        assert _found(SecretIndex(), root) == {"pkg0/m0/.env"}  # built from them
    finally:
        watch.WATCHER.end(str(root))


@pytest.mark.parametrize("blind", [".git/objects", ".git/refs/heads", ".git/logs/refs", ".git/lfs/objects/ab",
                                   ".git/rr-cache", ".git/modules/m/objects", "deep/r/s/.git/objects",
                                   ".git/worktrees/w/refs"])
def test_folders_moved_into_gits_own_folders_are_found(tmp_path: Path, blind: str) -> None:
    """The watch leaves git's own folders out (they change on every commit): the index checks them by stamp on every
    look, so a secret's folder moved there (by a child: the next call read ``.git/objects/zz/.env``), or moved on
    inside them, or a secret made there, is found, as is one in a git dir made since."""
    root = tmp_path / "ws"
    _tree(root, ["services/api/config/.env", "other/keep.txt", f"{blind}/00/1234abcd"])
    index = SecretIndex()
    assert _found(index, root) == {"services/api/config/.env"}
    (root / "services/api/config").rename(root / blind / "zz")
    assert _found(index, root) == {f"{blind}/zz/.env"}
    (root / blind / "zz").rename(root / blind / "00" / "zz")  # moved on inside: no event either
    assert _found(index, root) == {f"{blind}/00/zz/.env"}
    _tree(root, [f"{blind}/00/id_rsa"])
    assert _found(index, root) == {f"{blind}/00/zz/.env", f"{blind}/00/id_rsa"}
    _tree(root, ["made/x/.git/lfs/keep", "made/y/deep/prod.env"])  # a git dir made since, a folder moved into it
    (root / "made/y").rename(root / "made/x/.git/lfs/y")
    assert _found(SecretIndex(), root) == _found(index, root) == {f"{blind}/00/zz/.env", f"{blind}/00/id_rsa",
                                                                   "made/x/.git/lfs/y/deep/prod.env"}


def test_a_call_no_secret_index_looks_at_keeps_no_listings(tmp_path: Path) -> None:
    """With the secret broker off no index takes the new watch's listings: they were held for the whole call. Such a
    call's watch keeps none; an index that looks later walks the tree itself and is as complete."""
    root = tmp_path / "plain"
    _tree(root, ["a/b/.env", "c/keep.txt"])
    assert watch.WATCHER.begin(str(root), listings=False)
    try:
        assert watch.WATCHER._roots[str(root)].listings is None
        _tree(root, ["c/d/id_rsa"])
        assert _found(SecretIndex(), root) == {"a/b/.env", "c/d/id_rsa"}
    finally:
        watch.WATCHER.end(str(root))
    other = tmp_path / "indexed"
    _tree(other, ["x/.env"])
    assert watch.WATCHER.begin(str(other))  # the broker on: kept for the index's first look
    try:
        assert watch.WATCHER._roots[str(other)].listings is not None
        assert _found(SecretIndex(), other) == {"x/.env"}
        assert watch.WATCHER._roots[str(other)].listings is None  # handed out
    finally:
        watch.WATCHER.end(str(other))
