"""Exec children commit as the user: their home is the extension's own, so git found no identity there ("Author
identity unknown", exit 128) and every extension that commits failed. The user's ``user.name`` / ``user.email``
(and nothing else of their git configuration) is given in git's per-user file of the sandbox home, once: what a
child sets there itself stays, and a repository's own identity still wins."""

from __future__ import annotations

import subprocess

from pi_sandbox.sandbox.git_identity import identity_config, read_identity
from tests.conftest import PiEnv
from tests.sandbox.conftest import Host

#: The user's global git configuration: an identity, and settings that must not reach children (a credential
#: helper, an alias that runs a command, an include).
USER_GITCONFIG = """[user]
\tname = "Ann #1 O'Neil"
\temail = ann@example.test
[credential]
\thelper = store --file /nonexistent/creds
[alias]
\tboom = !touch /nonexistent/boom
[include]
\tpath = /nonexistent/more.gitconfig
"""


def _user_config(host: Host) -> None:
    (host.env.home / ".gitconfig").write_text(USER_GITCONFIG)
    subprocess.run(["git", "init", "-q", str(host.env.workspace)], check=True)


def test_a_child_commits_with_the_users_identity_and_nothing_else_of_their_config(host: Host) -> None:
    _user_config(host)
    out = host.sh("git commit --allow-empty -qm first && git log -1 --format='%an|%ae' && git config --global --list")
    assert out["exit_code"] == 0, out
    lines = out["stdout"].splitlines()
    assert lines[0] == "Ann #1 O'Neil|ann@example.test", out
    assert sorted(lines[1:]) == ['user.email=ann@example.test', "user.name=Ann #1 O'Neil"], out
    log = subprocess.run(["git", "-C", str(host.env.workspace), "log", "-1", "--format=%an|%ae"],
                         capture_output=True, text=True, check=True).stdout.strip()
    assert log == "Ann #1 O'Neil|ann@example.test"


def test_a_childs_own_settings_and_the_repositorys_identity_win(host: Host) -> None:
    _user_config(host)
    assert host.sh("git config --global user.name 'Bot'")["exit_code"] == 0
    out = host.sh("git commit --allow-empty -qm by-bot && git log -1 --format='%an|%ae'")
    assert out["stdout"].strip() == "Bot|ann@example.test", out  # kept across calls, not written over
    subprocess.run(["git", "-C", str(host.env.workspace), "config", "user.name", "Local Name"], check=True)
    out = host.sh("git commit --allow-empty -qm local && git log -1 --format='%an'")
    assert out["stdout"].strip() == "Local Name", out


def test_without_an_identity_nothing_is_written(pi_env: PiEnv) -> None:
    env = {"HOME": str(pi_env.home), "PATH": "/usr/bin:/bin", "GIT_CONFIG_NOSYSTEM": "1"}
    assert read_identity(env) == {}
    assert identity_config({}) == ""
    (pi_env.home / ".gitconfig").write_text("[user]\n\temail = only@example.test\n")
    assert read_identity(env) == {"user.email": "only@example.test"}
    assert identity_config({"user.name": 'a\\b"c'}) == '[user]\n\tname = "a\\\\b\\"c"\n'
