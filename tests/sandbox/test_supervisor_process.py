"""The supervisor process itself: non-dumpable, and the environment its exec children get.

``prctl(PR_SET_DUMPABLE, 0)`` is what keeps a same-user process (sandboxed or not) out of the
supervisor's ``/proc/<pid>/environ`` and memory. The check is made against a real process that calls the
supervisor's own ``make_undumpable`` and holds a secret in its environment, with a control process that
does not (so the test fails if the reader could not read anything anyway). As root the reader drops every
capability, and so do the holders (root's full capability set would otherwise refuse even the control);
``test_unprivileged`` re-runs this file as uid 65534, the user path.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from pi_sandbox.mediation.secret_rules import CHILD_BASE
from pi_sandbox.runtime.host import ExtensionHost
from pi_sandbox.sandbox.launch import SANDBOX_ENV
from pi_sandbox.sandbox.process import is_dumpable
from tests.conftest import OpenSandbox, PiEnv
from tests.runtime.conftest import MakeHost
from tests.sandbox.conftest import PY, SECRET, Host

DOCS = Path(__file__).resolve().parents[2] / "docs" / "mediation.md"
_HOLDER = (
    "import sys\n"
    "if sys.argv[1] == 'undumpable':\n"
    "    from pi_sandbox.sandbox.process import make_undumpable\n"
    "    assert make_undumpable()\n"
    "print('ready', flush=True)\n"
    "sys.stdin.read()\n"
)
_READER = (
    "import sys\n"
    "pid = sys.argv[1]\n"
    "for name in ('environ', 'mem', 'cmdline'):\n"
    "    try:\n"
    "        with open(f'/proc/{pid}/{name}', 'rb') as f:\n"
    "            data = f.read(1 << 16) if name != 'mem' else b'opened'\n"
    "        print(name, 'READ', data.replace(b'\\0', b' ').decode(errors='replace'))\n"
    "    except OSError as e:\n"
    "        print(name, 'refused', e.errno)\n"
)


def _same_user(argv: list[str]) -> list[str]:
    """``argv`` as this user without privileges: root drops every capability (``CAP_SYS_PTRACE`` would
    let it read any process), an ordinary user already has none."""
    if os.geteuid() != 0:
        return argv
    setpriv = shutil.which("setpriv")
    assert setpriv, "setpriv (util-linux) is needed to drop capabilities"
    return [setpriv, "--inh-caps=-all", "--bounding-set=-all", "--", *argv]


@pytest.fixture()
def holders() -> Iterator[dict[str, subprocess.Popen[str]]]:
    """Two processes of this user holding SECRET in their environment: one made undumpable, one not."""
    env = {**os.environ, "GITHUB_TOKEN": SECRET}
    procs = {kind: subprocess.Popen(_same_user([PY, "-c", _HOLDER, kind]), env=env, stdin=subprocess.PIPE,
                                    stdout=subprocess.PIPE, text=True) for kind in ("undumpable", "dumpable")}
    for proc in procs.values():
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    yield procs
    for proc in procs.values():
        proc.communicate("", timeout=10)


def _read_as_same_user(pid: int) -> dict[str, str]:
    out = subprocess.run(_same_user([PY, "-c", _READER, str(pid)]), capture_output=True, text=True, timeout=30,
                         check=True).stdout
    return {line.split(" ", 1)[0]: line.split(" ", 1)[1] for line in out.splitlines() if " " in line}


def test_a_same_user_process_cannot_read_the_supervisors_environ_or_memory(
    holders: dict[str, subprocess.Popen[str]],
) -> None:
    control = _read_as_same_user(holders["dumpable"].pid)
    assert control["environ"].startswith("READ") and SECRET in control["environ"], control  # the reader can read
    assert control["mem"].startswith("READ"), control
    guarded = _read_as_same_user(holders["undumpable"].pid)
    assert guarded["environ"].startswith("refused"), guarded
    assert guarded["mem"].startswith("refused"), guarded
    assert SECRET not in repr(guarded)


def test_the_extension_host_makes_its_process_undumpable(make_host: MakeHost) -> None:
    host: ExtensionHost = make_host()
    assert host.sandbox is not None and not is_dumpable()


def test_child_environment_is_the_documented_allow_list(pi_env: PiEnv, open_sandbox: OpenSandbox,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    hostile = {"LD_PRELOAD": "/tmp/x.so", "BASH_ENV": "/tmp/x", "NODE_OPTIONS": "--require /tmp/x",
               "PYTHONSTARTUP": "/tmp/x", "GIT_SSH_COMMAND": "touch /tmp/x", "PAGER": "sh", "AWS_SECRET_ACCESS_KEY":
               "abc", "MY_UNRELATED_SETTING": "1", "TERM": "xterm", "LANG": "C.UTF-8"}
    for name, value in {**hostile, "GITHUB_TOKEN": SECRET}.items():
        monkeypatch.setenv(name, value)  # before the sandbox opens: its broker reads the environment then
    host = Host(pi_env, open_sandbox(), pi_env.home, pi_env.home, pi_env.home, pi_env.home)
    out = host.run(PY, "-I", "-c", "import os, json; print(json.dumps(dict(os.environ)))")
    assert out["exit_code"] == 0, out
    child = json.loads(out["stdout"])
    allowed = set(CHILD_BASE) | set(SANDBOX_ENV)
    assert set(child) <= allowed, set(child) - allowed
    assert {"PATH", "HOME", "TMPDIR"} <= set(child)
    assert child["TERM"] == "xterm" and child["LANG"] == "C.UTF-8"
    assert child["HOME"] != str(host.env.home) and not child["HOME"].startswith(str(host.env.home) + os.sep)
    assert SECRET not in out["stdout"]
    # every variable a child may get is named in docs/mediation.md ("Child processes")
    docs = DOCS.read_text(encoding="utf-8")
    undocumented = [n for n in ("PATH", "HOME", "LANG", "TERM", "USER", "LOGNAME", "SHELL", "TMPDIR", "TZ",
                                "COLUMNS", "LINES") if f"`{n}`" not in docs and f"`{n}`/" not in docs]
    assert undocumented == []
