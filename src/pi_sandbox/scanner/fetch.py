"""Getting an extension's files for install: from a folder, an npm spec or a git URL, with its npm
dependencies.

* ``npm:<spec>``: ``npm pack`` downloads the package tarball (no scripts run), which is unpacked
  with tarfile's ``data`` filter (no links out, no device files, no absolute paths);
* ``git:<url>`` or an ``https://``/``ssh://``/``git://``/``file://`` URL (``#ref`` or ``@ref`` picks a
  branch or tag): ``git clone --depth 1`` with hooks disabled;
* a folder or file: used as it is.

:func:`install_dependencies` then installs the extension's ``dependencies`` into its own
``node_modules`` with npm — ``npm ci`` from its lockfile when it has one, ``npm install`` otherwise —
always with ``--ignore-scripts`` and ``--omit=dev``: no package's install script ever runs.
"""

from __future__ import annotations

import json
import re
import subprocess
import tarfile
from collections.abc import Mapping
from pathlib import Path
from typing import Final

from pi_sandbox.errors import InstallError
from pi_sandbox.sandbox.host_code import host_which
from pi_sandbox.scanner.packages import LOCKFILES, read_package
from pi_sandbox.scanner.rules import SERVED_PACKAGES

NPM_TIMEOUT_S: Final = 600.0
_URL = re.compile(r"^(?:git\+)?(?:https?|ssh|git|file)://", re.IGNORECASE)


def is_remote_spec(text: str) -> bool:
    """True for ``npm:``/``git:`` specs and git URLs (not a local path)."""
    return text.startswith(("npm:", "git:")) or bool(_URL.match(text))


def _run(argv: list[str], cwd: Path, env: Mapping[str, str], what: str) -> str:
    try:
        proc = subprocess.run(argv, cwd=cwd, env=dict(env), capture_output=True, text=True,
                              timeout=NPM_TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired:
        raise InstallError(f"{what} did not finish within {NPM_TIMEOUT_S:.0f}s; nothing was installed") from None
    except OSError as exc:
        raise InstallError(f"{what} could not start: {exc.strerror}") from None
    if proc.returncode != 0:
        tail = " | ".join((proc.stderr or proc.stdout).strip().splitlines()[-6:])
        raise InstallError(f"{what} failed (exit {proc.returncode}): {tail}; nothing was installed")
    return proc.stdout


def _tool(name: str, env: Mapping[str, str]) -> str:
    found = host_which(name, env.get("PATH"))
    if found is None:
        raise InstallError(f"{name} is not installed: install it (e.g. `apt-get install {name}`) and retry")
    return found


def fetch(spec: str, workdir: Path, env: Mapping[str, str]) -> Path:
    """Download ``spec`` (npm spec or git URL) into ``workdir``; returns the extension's folder."""
    if spec.startswith("npm:"):
        package = spec[4:].strip()
        if not package or package.startswith("-"):
            raise InstallError(f"{spec}: name an npm package after 'npm:' (e.g. npm:my-extension@1.2.0)")
        out = _run([_tool("npm", env), "pack", package, "--pack-destination", str(workdir), "--json",
                    "--ignore-scripts"], workdir, env, f"npm pack {package}")
        try:
            filename = json.loads(out)[0]["filename"]
        except (ValueError, LookupError, TypeError):
            raise InstallError(f"npm pack {package} gave no tarball name; nothing was installed") from None
        target = workdir / "unpacked"
        try:
            with tarfile.open(workdir / Path(filename).name) as tar:
                tar.extractall(target, filter="data")
        except (OSError, tarfile.TarError) as exc:
            raise InstallError(f"cannot unpack the npm tarball of {package}: {exc}") from None
        folder = target / "package"
        if not folder.is_dir():
            raise InstallError(f"the npm tarball of {package} has no package/ folder")
        return folder
    url = spec[4:].strip() if spec.startswith("git:") else spec
    ref = None
    if "#" in url:
        url, ref = url.split("#", 1)
    elif re.search(r"@[^/@:]+$", url) and not url.rsplit("/", 1)[-1].startswith("@"):
        url, ref = url.rsplit("@", 1)
    if not url or url.startswith("-"):
        raise InstallError(f"{spec}: name a git repository (git:github.com/owner/repo or an https:// URL)")
    if not _URL.match(url) and not url.startswith("git@"):
        url = "https://" + url
    # The checkout is named after the repository: it is the extension's id when it has no package.json.
    repo = re.sub(r"\.git$", "", url.rstrip("/").rsplit("/", 1)[-1].rsplit(":", 1)[-1])
    folder = workdir / (re.sub(r"[^A-Za-z0-9_-]+", "-", repo).strip("-") or "checkout")
    argv = [_tool("git", env), "-c", "core.hooksPath=/dev/null", "clone", "--depth", "1", "--no-recurse-submodules"]
    argv += (["--branch", ref] if ref else []) + ["--", url, str(folder)]
    _run(argv, workdir, {**env, "GIT_TERMINAL_PROMPT": "0"}, f"git clone {url}")
    return folder


def needs_dependencies(folder: Path) -> bool:
    """True when the extension declares npm packages the runtime does not serve itself."""
    info = read_package(folder)
    return info is not None and bool(set(info.dependencies) - SERVED_PACKAGES)


def install_dependencies(folder: Path, env: Mapping[str, str]) -> str | None:
    """Install the declared dependencies into ``folder/node_modules``; returns the npm command run."""
    if not needs_dependencies(folder):
        return None
    verb = "ci" if any((folder / name).is_file() for name in LOCKFILES) else "install"
    argv = [_tool("npm", env), verb, "--omit=dev", "--ignore-scripts", "--no-audit", "--no-fund"]
    _run(argv, folder, {**env, "npm_config_ignore_scripts": "true"}, f"npm {verb} in {folder.name}")
    return " ".join(["npm", *argv[1:]])
