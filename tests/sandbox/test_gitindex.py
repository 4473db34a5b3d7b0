"""The git index reader the exec sandbox uses to leave tracked secret files visible: every index version
git writes, against ``git ls-files``; a repository found from a folder inside it and through a ``.git`` file."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from pi_sandbox.mediation.secret_files import SecretFiles
from pi_sandbox.sandbox.gitindex import repository_of, tracked


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
    listed = subprocess.run(["git", "-C", str(repo), "-c", "core.quotepath=off", "ls-files", "-z"],
                            capture_output=True, check=True).stdout.decode().split("\0")
    assert tracked(str(repo / ".git")) == frozenset(n for n in listed if n)
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


def test_secret_names_in_a_folder_are_found_by_the_quick_look_as_by_the_full_table() -> None:
    table = SecretFiles(("*.secret", "config/*.ini", *SecretFiles().patterns))
    names = [".env", ".ENV.local", "prod.env", "x.pem", "id_ed25519_sk", "service-account-a.json", "credentials",
             "main.py", "env", "pem", "id_utils.js", "a.secret", "settings.ini", "kubeconfig", "README.md"]
    for folder in ("/w", "/w/config", "/w/.ssh", "/w/.kube"):
        assert table.refused_in(folder, names) == [n for n in names if table.refused(f"{folder}/{n}")], folder
    assert SecretFiles(allowed=(".env",)).refused_in("/w", [".env", "prod.env"]) == ["prod.env"]
