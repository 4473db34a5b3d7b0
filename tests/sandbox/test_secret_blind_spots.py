"""A hidden secret file carried by a child into git's own folders is hidden again at the next call.

The watch leaves git's own folders out (``objects``, ``refs``, ``logs``, ``lfs``, ``rr-cache`` of every git dir, also
one the child makes) and the index did not walk them. A folder renamed around a hidden file takes the ``/dev/null``
mount along (hidden in that call), so one call's child moved ``services/api/config`` into ``.git/objects/zz`` and the
next call read ``.git/objects/zz/.env``. The index now checks those folders by stamp. Each variant moves a different
folder (the file's own, its parent, the top one, the file itself; ``mv`` and ``os.rename``) into a different one;
the next call reads every file there. Canary values only, in the test's temp workspace."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import OpenSandbox, PiEnv
from tests.sandbox.conftest import Host

MARK = "BLINDCANARY"
#: A repository three folder levels down (its ``.git`` is no protected name, so no mount: a rename into it is not
#: across mounts); the workspace's own ``.git`` is bound (its ``config`` and ``hooks`` are), so only what lies in it
#: already can be renamed into its ``objects``.
NESTED = "deep/r/s/.git"
#: (the secret file, what the child moves, where to)
MOVES = [
    ("v1/a/b/.env", "v1/a/b", f"{NESTED}/objects/zz1"),
    ("v2/a/b/id_rsa", "v2/a", f"{NESTED}/refs/heads/zz2"),
    ("v3/a/b/secrets.json", "v3", f"{NESTED}/logs/zz3"),
    ("v4/a/b/prod.env", "v4/a/b/prod.env", f"{NESTED}/objects/zz4"),
    ("v5/a/b/.env.local", "v5/a/b", f"{NESTED}/modules/m/objects/zz5"),
    ("v6/a/b/credentials.json", "v6/a", "made/.git/lfs/zz6"),  # a git dir the child makes in the same call
    ("v7/a/b/server.key", "v7/a/b", f"{NESTED}/worktrees/w/rr-cache/zz7"),
    (".git/stuff/a/.env", ".git/stuff/a", ".git/objects/zz8"),  # inside the workspace's own git dir
]


def _write(root: Path, rel: str, value: str) -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"KEY={MARK}-{value}\n")


@pytest.fixture()
def blind_host(pi_env: PiEnv, open_sandbox: OpenSandbox) -> Iterator[Host]:
    settings = pi_env.write_global({"extensionPolicy": {"profile": "safe"}})
    ws = pi_env.workspace
    for folder in (".git/objects/ab", ".git/hooks", f"{NESTED}/objects/ab", f"{NESTED}/refs/heads", f"{NESTED}/logs",
                   f"{NESTED}/modules/m/objects", f"{NESTED}/worktrees/w/rr-cache"):
        (ws / folder).mkdir(parents=True)
    for n, (rel, _what, _where) in enumerate(MOVES):
        _write(ws, rel, f"v{n + 1}")
    box = open_sandbox()
    host = Host(pi_env, box, ws / "README.md", settings, Path(), pi_env.db_path)
    yield host
    for folder in (ws / "vault" / "locked", ws / NESTED / "objects" / "vault" / "locked",
                   ws / NESTED / "objects" / "locked"):
        if folder.is_dir():
            folder.chmod(0o755)


def _read_blind_spots(host: Host) -> str:
    out = host.sh("find .git deep made -type f -exec cat {} + 2>/dev/null; "
                  "grep -ra BLINDCANARY .git deep made 2>/dev/null; echo ok")
    assert out["exit_code"] == 0 and "ok" in out["stdout"], out
    return f"{out['stdout']}{out['stderr']}"


def test_a_hidden_secret_moved_into_gits_own_folders_stays_hidden(blind_host: Host) -> None:
    ws = blind_host.env.workspace
    script = "mkdir -p made/.git/lfs; " + "; ".join(
        f"mkdir -p {os.path.dirname(where)}; mv {what} {where} 2>&1; "
        f"python3 -c 'import os,sys; os.rename(sys.argv[1], sys.argv[2])' {what} {where}x 2>/dev/null"
        for _rel, what, where in MOVES) + "; echo done"
    moved = blind_host.sh(script)
    assert "done" in moved["stdout"], moved
    assert MARK not in f"{moved['stdout']}{moved['stderr']}", moved
    text = _read_blind_spots(blind_host)
    assert MARK not in text, text[-3000:]
    for n, (rel, what, where) in enumerate(MOVES):  # moved (or not: across the bound .git), never changed
        moved = ws / where / os.path.relpath(rel, what) if what != rel else ws / where
        assert (ws / rel).exists() or moved.exists(), rel
        assert (ws / rel if (ws / rel).exists() else moved).read_text() == f"KEY={MARK}-v{n + 1}\n", rel
    assert any(not (ws / rel).exists() for rel, _what, _where in MOVES)  # the moves did happen


def test_an_unlistable_folder_moved_into_gits_own_folders_stays_hidden(blind_host: Host) -> None:
    """A folder hidden whole (as the user: it cannot be listed) moved into git's objects is hidden whole there at the
    next call; as root it is listed and its secret file is hidden on its own. Either way the next call reads
    nothing."""
    ws = blind_host.env.workspace
    _write(ws, "vault/locked/.env", "locked")
    (ws / "vault" / "locked").chmod(0o311)
    moved = blind_host.sh(f"mv vault {NESTED}/objects/vault 2>&1; mv vault/locked {NESTED}/objects/locked 2>&1; "
                          f"chmod 755 {NESTED}/objects/vault/locked {NESTED}/objects/locked 2>&1; echo done")
    assert "done" in moved["stdout"], moved
    text = _read_blind_spots(blind_host)
    assert MARK not in text, text[-3000:]
