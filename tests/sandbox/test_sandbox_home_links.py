"""Red team (exec sandbox): links a child makes in its sandbox home never redirect the host's writes there.

Before each call the host lists the call's empty stand-ins in git's excludes file of the sandbox home
(``~/.config/git/ignore``), a place the child writes. It wrote by path: a child that made that file, or the
``git`` or ``.config`` folder, a link to a host file had the host overwrite it with the list — the ledger database,
``settings.json``, the user's ``~/.bashrc`` — outside every sandbox.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.sandbox.conftest import Host

#: Each script first checks that ``HOME`` is the extension's sandbox home in the test's temp state dir (``{home}``)
#: and stops otherwise: the removals below only ever touch that folder, even if the sandbox set ``HOME`` wrong.
_IN_SANDBOX_HOME = 'test "$HOME" = "{home}" || exit 97; '
LINKS = {
    "file": _IN_SANDBOX_HOME + "mkdir -p $HOME/.config/git && rm -f $HOME/.config/git/ignore && "
                               "ln -s {target} $HOME/.config/git/ignore",
    "git_folder": _IN_SANDBOX_HOME + "mkdir -p $HOME/.config && rm -rf $HOME/.config/git && "
                                     "ln -s {folder} $HOME/.config/git",
    "config_folder": _IN_SANDBOX_HOME + "rm -rf $HOME/.config && ln -s {folder} $HOME/.config",
}


@pytest.mark.parametrize("how", sorted(LINKS))
def test_a_link_in_the_sandbox_home_redirects_no_host_write(host: Host, how: str) -> None:
    ws = host.env.workspace
    subprocess.run(["git", "init", "-q", str(ws)], check=True)
    folder = host.env.home / "victims"
    (folder / "git").mkdir(parents=True)
    for victim in (folder / "ignore", folder / "git" / "ignore"):  # host files named like the list
        victim.write_text("USER-FILE-ORIGINAL\n")
    targets = [folder / "ignore", folder / "git" / "ignore", host.settings, host.key]
    before = {p: p.read_bytes() for p in targets}
    home = host.box.exec_sandbox.dirs("ext.hostile").home
    assert str(home).startswith(str(host.env.state_dir)), home  # a temp folder of this test
    for target in targets if how == "file" else targets[:1]:
        assert host.sh(LINKS[how].format(target=target, folder=folder, home=home))["exit_code"] == 0
        host.sh("echo next call")  # the host lists the stand-ins before this one starts
        host.sh(f"mkdir -p sub{len(before)} && git init -q sub{len(before)} && echo another")  # the list changes
    assert {p: p.read_bytes() for p in targets} == before
    host.unchanged()
    excludes = Path(host.box.exec_sandbox.dirs("ext.hostile").home) / ".config" / "git" / "ignore"
    assert excludes.is_file() and not excludes.is_symlink() and "/.envrc" in excludes.read_text()
