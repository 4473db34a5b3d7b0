"""The mount set of an exec child (``sandbox/mounts.py``): what it binds, what it can leave out, and
the empty stand-ins for missing protected names. Pure argument building on real folders; the
sandbox tests next to this one run the result in bubblewrap."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from pi_sandbox.sandbox import mounts
from pi_sandbox.sandbox.mounts import PLACEHOLDER_GRACE_S, PLACEHOLDERS, View, bwrap_mount_args
from pi_sandbox.sandbox.protected import ProtectedNames


def _pairs(args: list[str]) -> list[tuple[str, str]]:
    """(option, destination) of every mount argument."""
    out, i = [], 0
    while i < len(args):
        opt = args[i]
        if opt in ("--bind", "--ro-bind"):
            out.append((opt, args[i + 2]))
            i += 3
        elif opt in ("--tmpfs", "--remount-ro"):
            out.append((opt, args[i + 1]))
            i += 2
        elif opt == "--size":
            i += 2
        else:
            raise AssertionError(f"unexpected argument {opt}")
    return out


def _view(tmp: Path, *, read: tuple[Path, ...] = (), hide: tuple[Path, ...] = ()) -> View:
    home, ws = tmp / "home", tmp / "home" / "ws"
    ws.mkdir(parents=True, exist_ok=True)
    return View(masks=(home,), scratch=(), read=read, write=(ws,), hide=hide, names=ProtectedNames(),
                protect=(ws,), home=home)


def test_nested_binds_of_the_same_kind_are_left_out_but_not_across_a_hidden_folder(tmp_path: Path) -> None:
    tool = tmp_path / "home" / ".pyenv"
    for sub in ("shims", "versions/3.11", "secret/ok"):
        (tool / sub).mkdir(parents=True)
    state, agent = tmp_path / "home" / "agent" / "security", tmp_path / "home" / "agent"
    state.mkdir(parents=True)
    view = _view(tmp_path, read=(tool, tool / "shims", tool / "versions/3.11", tool / "secret/ok"),
                 hide=(agent, state, tool / "secret"))
    args, stubs = bwrap_mount_args(view)
    try:
        mounts = _pairs(args)
        dests = [d for _, d in mounts]
        assert ("--ro-bind", str(tool)) in mounts
        assert str(tool / "shims") not in dests and str(tool / "versions/3.11") not in dests  # inside ~/.pyenv
        assert ("--tmpfs", str(tool / "secret")) in mounts  # hidden inside a readable folder: kept
        assert ("--ro-bind", str(tool / "secret/ok")) in mounts  # readable again inside it: kept
        # the hidden agent dir is under the masked home: no mount at all; the state dir inside it neither
        assert str(agent) not in dests and str(state) not in dests
    finally:
        PLACEHOLDERS.release(stubs)
        PLACEHOLDERS.flush()


def test_a_hidden_folder_inside_a_hidden_folder_needs_no_mount_of_its_own(tmp_path: Path) -> None:
    ws = tmp_path / "home" / "ws"
    agent = ws / "agent"
    (agent / "security").mkdir(parents=True)
    args, stubs = bwrap_mount_args(_view(tmp_path, hide=(agent, agent / "security")))
    try:
        dests = [d for _, d in _pairs(args)]
        assert str(agent) in dests and str(agent / "security") not in dests
    finally:
        PLACEHOLDERS.release(stubs)
        PLACEHOLDERS.flush()


def test_nested_protected_names_are_found_two_levels_down(tmp_path: Path) -> None:
    ws = tmp_path / "home" / "ws"
    for rel in ("vendor/lib/.git/hooks", "pkg/.vscode", "node_modules/x/.git"):
        (ws / rel).mkdir(parents=True)
    (ws / "vendor" / "lib" / ".git" / "config").write_text("[core]\n")
    (ws / "pkg" / ".envrc").write_text("x\n")
    args, stubs = bwrap_mount_args(_view(tmp_path))
    try:
        ro = {d for opt, d in _pairs(args) if opt == "--ro-bind"}
        for rel in ("vendor/lib/.git/config", "vendor/lib/.git/hooks", "pkg/.vscode", "pkg/.envrc"):
            assert str(ws / rel) in ro, rel
        assert not any("node_modules" in d for d in ro)  # skipped folders are not walked
        assert str(ws / ".envrc") in ro and str(ws / ".envrc") in stubs  # a stand-in at the root
        # every folder between the workspace and a read-only mount is a mount point itself (a folder
        # holding one can be renamed, and the mount goes with it), bound before what is inside it
        pairs = _pairs(args)
        pinned = [d for opt, d in pairs if opt == "--bind" and d != str(ws)]
        assert sorted(pinned) == sorted(str(ws / rel) for rel in ("vendor", "vendor/lib", "vendor/lib/.git", "pkg"))
        order = [d for _, d in pairs]
        assert order.index(str(ws / "vendor/lib/.git")) < order.index(str(ws / "vendor/lib/.git/config"))
    finally:
        PLACEHOLDERS.release(stubs)
        PLACEHOLDERS.flush()


def test_stand_ins_are_taken_over_within_the_grace_period_and_removed_after_it(tmp_path: Path) -> None:
    view = _view(tmp_path)
    ws = tmp_path / "home" / "ws"
    _, first = bwrap_mount_args(view)
    envrc = ws / ".envrc"
    assert str(envrc) in first and envrc.stat().st_size == 0
    inode = envrc.stat().st_ino
    PLACEHOLDERS.release(first)
    assert envrc.exists()  # still there for the next call ...
    _, second = bwrap_mount_args(view)
    assert str(envrc) in second and envrc.stat().st_ino == inode  # ... which takes it over
    (ws / ".npmrc").chmod(0o644)
    (ws / ".npmrc").write_text("registry=x\n")  # someone put content into a stand-in meanwhile
    PLACEHOLDERS.release(second)
    deadline = time.monotonic() + PLACEHOLDER_GRACE_S + 5
    while not PLACEHOLDERS.idle() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert PLACEHOLDERS.idle()
    assert not envrc.exists() and not (ws / ".git").exists() and not (ws / ".vscode").exists()
    assert (ws / ".npmrc").read_text() == "registry=x\n"  # content is never deleted


def test_the_view_resolver_answers_like_realpath(tmp_path: Path) -> None:
    """One resolver per view resolves each folder once; every answer must still be ``realpath``'s
    (symlinks relative and absolute, chains, loops, dangling, ``..`` in targets and in spellings)."""
    from pi_sandbox.sandbox.mounts import _Resolver

    home = tmp_path / "home"
    (home / ".config").mkdir(parents=True)
    (tmp_path / "creds" / "deep").mkdir(parents=True)
    (home / ".ssh").mkdir()
    os.symlink(tmp_path / "creds", home / ".aws")
    os.symlink("../../creds", home / ".config" / "gcloud")
    os.symlink("loop", home / ".kube")
    os.symlink(home / "nowhere", home / ".docker")
    os.symlink(".aws/deep", home / "chain")
    os.symlink("chain", home / "chain2")
    os.symlink(home, tmp_path / "alias")
    names = [".ssh", ".aws", ".aws/deep", ".config/gcloud", ".config/gcloud/deep", ".kube", ".kube/x", ".docker",
             ".docker/x", "chain", "chain2", "chain2/missing", ".config/../.ssh", "missing/x", "./.ssh", ".ssh/"]
    spellings = [str(base / n) if not n.endswith("/") else str(base) + "/" + n
                 for base in (home, tmp_path / "alias") for n in names]
    resolver = _Resolver()
    for raw in spellings + list(reversed(spellings)):
        expected = os.path.realpath(raw)
        assert resolver.resolve(raw) == expected, raw
        assert resolver.real(raw) == (expected if os.path.lexists(expected) else None), raw


def test_a_stand_in_released_again_lives_until_its_last_release_expires(tmp_path: Path, monkeypatch: Any) -> None:
    """A burst of commands keeps its stand-ins: the first release expiring while a later call had taken
    the stand-in over and released it again must not remove it (it was made and deleted per call)."""
    monkeypatch.setattr(mounts, "PLACEHOLDER_GRACE_S", 3600.0)  # only the explicit removals below act
    view = _view(tmp_path)
    envrc = tmp_path / "home" / "ws" / ".envrc"
    _, first = bwrap_mount_args(view)
    inode = envrc.stat().st_ino
    PLACEHOLDERS.release(first)
    _, second = bwrap_mount_args(view)
    PLACEHOLDERS.release(second)
    first_due = min(due for due, path in PLACEHOLDERS._unused if path == str(envrc))
    with PLACEHOLDERS._lock:
        PLACEHOLDERS._remove_unused(first_due)  # the moment the first release expires
    assert envrc.stat().st_ino == inode
    PLACEHOLDERS.flush()
    assert not envrc.exists() and PLACEHOLDERS.idle()
