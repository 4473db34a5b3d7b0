"""The git index reader the exec sandbox uses to leave tracked secret files visible: every index version
git writes, against ``git ls-files -s``; a repository found from a folder inside it and through a ``.git`` file;
a file counts as holding its indexed text only when its own bytes are that blob."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from pi_sandbox.mediation.secret_files import SecretFiles
from pi_sandbox.sandbox import gitindex
from pi_sandbox.sandbox.gitindex import holds_indexed_text, repository_of, tracked

EMPTY_BLOB = bytes.fromhex("e69de29bb2d1d6434b8b29ae775ad8c2e48c5391")


def _staged(repo: Path) -> dict[str, bytes]:
    """``git ls-files -s``: every path with the object id the index names."""
    out = subprocess.run(["git", "-C", str(repo), "-c", "core.quotepath=off", "ls-files", "-s", "-z"],
                         capture_output=True, check=True).stdout.decode()
    staged: dict[str, bytes] = {}
    for line in filter(None, out.split("\0")):
        info, path = line.split("\t", 1)
        staged[path] = bytes.fromhex(info.split()[1])
    return staged


@pytest.mark.parametrize("version", [2, 3, 4])
def test_tracked_paths_match_git_ls_files(tmp_path: Path, version: int) -> None:
    repo = tmp_path / "repo"
    names = [".env.example", "a/b/c/deep.txt", "a/b/c/deeper.txt", "a/b/x.pem", "z", "ümlaut name.txt",
             *(f"many/dir{i % 7}/file{i}.py" for i in range(60))]
    for name in names:
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        (repo / name).write_text("x\n")
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    subprocess.run(["git", "-C", str(repo), "add", "-A"], check=True)
    subprocess.run(["git", "-C", str(repo), "update-index", "--index-version", str(version)], check=True)
    if version == 3:  # an entry with the extended flag (intent to add)
        (repo / "new.txt").write_text("n\n")
        subprocess.run(["git", "-C", str(repo), "add", "-N", "new.txt"], check=True)
    assert tracked(str(repo / ".git")) == _staged(repo)
    found = repository_of(str(repo / "a" / "b"))
    assert found == (str(repo), str(repo / ".git"))


def test_no_index_or_a_damaged_one_exempts_nothing(tmp_path: Path) -> None:
    git_dir = tmp_path / ".git"
    git_dir.mkdir()
    assert tracked(str(git_dir)) is None
    (git_dir / "index").write_bytes(b"DIRC\x00\x00\x00\x02\x00\x00\x00\x05" + b"\x00" * 30)
    assert tracked(str(git_dir)) is None
    (tmp_path / "wt").mkdir()
    (tmp_path / "wt" / ".git").write_text(f"gitdir: {git_dir}\n")
    assert repository_of(str(tmp_path / "wt")) == (str(tmp_path / "wt"), str(git_dir))


def test_a_file_holds_its_indexed_text_only_with_the_same_bytes(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    (repo / ".env").write_text("KEY=committed\n")
    (repo / "big.pem").write_bytes(b"k" * 5000)
    subprocess.run(["git", "-C", str(repo), "add", ".env", "big.pem"], check=True)
    # an entry written without reading the file (what a child does for a file it sees as empty)
    (repo / "forged.env").write_text("KEY=never-added\n")
    subprocess.run(["git", "-C", str(repo), "update-index", "--add", "--cacheinfo",
                    f"100644,{EMPTY_BLOB.hex()},forged.env"], check=True)
    index = tracked(str(repo / ".git"))
    assert index is not None and set(index) == {".env", "big.pem", "forged.env"}
    assert holds_indexed_text(str(repo / ".env"), index[".env"])
    assert holds_indexed_text(str(repo / "big.pem"), index["big.pem"])
    assert not holds_indexed_text(str(repo / "forged.env"), index["forged.env"])
    (repo / ".env").write_text("KEY=changed-since\n")  # the new text is in no object
    assert not holds_indexed_text(str(repo / ".env"), index[".env"])
    (repo / ".env").write_text("KEY=committed\n")  # the same bytes again (a new stat key: hashed again)
    assert holds_indexed_text(str(repo / ".env"), index[".env"])
    monkeypatch.setattr(gitindex, "MAX_HASHED_BYTES", 4096)  # too big to hash: not exempt
    (repo / "big.pem").touch()
    assert not holds_indexed_text(str(repo / "big.pem"), index["big.pem"])
    # not a regular file at the path: a symlink to the committed text, a FIFO (never blocks), nothing
    (repo / "link.env").symlink_to(repo / ".env")
    assert not holds_indexed_text(str(repo / "link.env"), index[".env"])
    os.mkfifo(repo / "fifo.env")
    assert not holds_indexed_text(str(repo / "fifo.env"), EMPTY_BLOB)
    assert not holds_indexed_text(str(repo / "gone.env"), EMPTY_BLOB)
    (repo / "empty.env").write_text("")
    assert holds_indexed_text(str(repo / "empty.env"), EMPTY_BLOB)


def test_secret_names_in_a_folder_are_found_by_the_quick_look_as_by_the_full_table() -> None:
    table = SecretFiles(("*.secret", "config/*.ini", *SecretFiles().patterns))
    names = [".env", ".ENV.local", "prod.env", "x.pem", "id_ed25519_sk", "service-account-a.json", "credentials",
             "main.py", "env", "pem", "id_utils.js", "a.secret", "settings.ini", "kubeconfig", "README.md"]
    for folder in ("/w", "/w/config", "/w/.ssh", "/w/.kube"):
        assert table.refused_in(folder, names) == [n for n in names if table.refused(f"{folder}/{n}")], folder
    assert SecretFiles(allowed=(".env",)).refused_in("/w", [".env", "prod.env"]) == ["prod.env"]
