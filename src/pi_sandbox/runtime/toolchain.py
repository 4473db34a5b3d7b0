"""The pinned JS toolchain (esbuild + TypeBox), installed by ``pi-sandbox setup`` into the user cache.

The package ships only the npm manifest and lockfile (``runtime/js/toolchain/``). ``setup`` installs them
with ``npm ci --ignore-scripts`` into ``<cache>/toolchain/<lock hash>/``, where ``<cache>`` is the user
cache folder (platformdirs: ``$XDG_CACHE_HOME/pi-sandbox``, usually ``~/.cache/pi-sandbox``) or
``$PI_SANDBOX_CACHE_DIR``. Keyed by the hash of the manifest and lockfile, one copy serves every virtual
environment with the same pi-sandbox version, an upgrade that changes the lockfile installs beside the old
one, and site-packages is never written: a read-only installation works, and ``pip uninstall`` plus
``pi-sandbox setup --clear`` leave nothing behind (npm's download cache is kept in ``<cache>/npm`` too).

esbuild runs as its static platform binary from the npm package (no Node at run time); loading an
extension never touches the network.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import platform
import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from pi_sandbox.errors import ToolchainMissingError, ToolchainSetupError
from pi_sandbox.sandbox.host_code import host_which

#: The manifest and lockfile shipped in the package (the only toolchain files that are).
LOCK_DIR: Final = Path(__file__).resolve().parent / "js" / "toolchain"
LOCK_FILES: Final = ("package.json", "package-lock.json")
#: Overrides the cache folder (tests, shared machines, read-only homes).
CACHE_ENV: Final = "PI_SANDBOX_CACHE_DIR"
_ARCH_PACKAGES = {
    "x86_64": "linux-x64",
    "amd64": "linux-x64",
    "aarch64": "linux-arm64",
    "arm64": "linux-arm64",
}


def cache_dir(env: Mapping[str, str] | None = None) -> Path:
    """pi-sandbox's user cache folder (``$PI_SANDBOX_CACHE_DIR`` or the platform's user cache)."""
    env = os.environ if env is None else env
    override = env.get(CACHE_ENV, "").strip()
    if override:
        return Path(override).expanduser()
    import platformdirs  # imported here: ~30 ms that only setup and extension loading need

    return Path(platformdirs.user_cache_dir("pi-sandbox", appauthor=False))


def lock_hash(lock_dir: Path = LOCK_DIR) -> str:
    """The first 16 hex digits of SHA-256 over the manifest and lockfile: the toolchain's identity."""
    digest = hashlib.sha256()
    for name in LOCK_FILES:
        try:
            digest.update(name.encode() + b"\0" + (lock_dir / name).read_bytes() + b"\0")
        except OSError as exc:
            raise ToolchainMissingError(f"the toolchain lockfile {lock_dir / name} is unreadable: {exc}; "
                                        "reinstall pi-sandbox") from None
    return digest.hexdigest()[:16]


@dataclass(frozen=True)
class Toolchain:
    """Paths into one installed toolchain folder (``root``), installed from ``lock_dir``'s lockfile."""

    root: Path
    lock_dir: Path = field(default=LOCK_DIR)

    @property
    def node_modules(self) -> Path:
        """The installed packages."""
        return self.root / "node_modules"

    @property
    def vendor_dir(self) -> Path:
        """Generated module sources (TypeBox bundles), built at setup (or at first load) beside the packages."""
        return self.node_modules / ".pi-vendor"

    @property
    def esbuild(self) -> Path:
        """The esbuild binary for this machine's architecture."""
        arch = _ARCH_PACKAGES.get(platform.machine().lower(), "linux-x64")
        return self.node_modules / "@esbuild" / arch / "bin" / "esbuild"

    def package_version(self, name: str) -> str:
        """Installed version of an npm package of the toolchain."""
        manifest = self.node_modules / name / "package.json"
        try:
            version = json.loads(manifest.read_text(encoding="utf-8"))["version"]
        except (OSError, ValueError, KeyError):
            raise self.missing(f"package {name} is not installed") from None
        return str(version)

    def missing(self, what: str) -> ToolchainMissingError:
        """The error every load reports when the toolchain is not installed."""
        return ToolchainMissingError(f"JS toolchain incomplete ({what}): run `pi-sandbox setup` to install it")

    def require_installed(self) -> None:
        """Raise :class:`ToolchainMissingError` (saying "run `pi-sandbox setup`") unless esbuild and TypeBox
        are present."""
        if not self.esbuild.is_file():
            raise self.missing(f"esbuild binary not found at {self.esbuild}")
        self.package_version("@sinclair/typebox")

    def installed(self) -> bool:
        """True when the packages are installed at the versions the lockfile pins."""
        try:
            self.require_installed()
            lock = json.loads((self.lock_dir / "package-lock.json").read_text(encoding="utf-8"))
        except (ToolchainMissingError, OSError, ValueError):
            return False
        packages = lock.get("packages", {})
        return all(packages.get(f"node_modules/{name}", {}).get("version") == self.package_version(name)
                   for name in ("esbuild", "@sinclair/typebox"))


def default_toolchain() -> Toolchain:
    """The toolchain of this pi-sandbox version in the user cache (may not be installed yet)."""
    return Toolchain(cache_dir() / "toolchain" / lock_hash())


def setup_toolchain(toolchain: Toolchain | None = None, *, timeout_s: float = 600.0) -> str:
    """Install the toolchain from the lockfile (idempotent, safe to run from several venvs at once).

    npm installs into a staging folder beside the target, which is renamed into place only when complete,
    so an interrupted setup never leaves a half-installed toolchain that later loads would trust. Returns a
    one-line summary; raises :class:`ToolchainSetupError` if npm is missing or fails. (``pi-sandbox setup``
    calls :func:`pi_sandbox.runtime.modules.setup_runtime`, which also builds the module table.)
    """
    tc = toolchain or default_toolchain()
    action = "already installed"
    if not tc.installed():
        npm = host_which("npm")
        if npm is None:
            raise ToolchainSetupError("npm is not installed: install Node.js/npm (e.g. `apt-get install npm`), "
                                      "then run `pi-sandbox setup` again")
        try:
            tc.root.parent.mkdir(parents=True, exist_ok=True)
            with _locked(tc.root.parent / f".{tc.root.name}.lock"):
                if not tc.installed():  # another process may have finished it while we waited
                    _install(tc, npm, timeout_s)
                    action = "installed"
        except OSError as exc:
            raise ToolchainSetupError(f"cannot write the toolchain cache {tc.root.parent}: {exc.strerror or exc}; "
                                      f"set {CACHE_ENV} to a writable folder") from None
    return (
        f"toolchain {action}: esbuild {tc.package_version('esbuild')}, "
        f"@sinclair/typebox {tc.package_version('@sinclair/typebox')} ({tc.root})"
    )


def _install(tc: Toolchain, npm: str, timeout_s: float) -> None:
    staging = Path(tempfile.mkdtemp(dir=tc.root.parent, prefix=f".{tc.root.name}.staging-"))
    try:
        for name in LOCK_FILES:
            shutil.copyfile(tc.lock_dir / name, staging / name)
        env = {**os.environ, "npm_config_cache": str(cache_dir() / "npm"),
               "npm_config_update_notifier": "false"}
        try:
            proc = subprocess.run([npm, "ci", "--ignore-scripts", "--no-audit", "--no-fund"], cwd=staging,
                                  env=env, capture_output=True, text=True, timeout=timeout_s, check=False)
        except subprocess.TimeoutExpired:
            raise ToolchainSetupError(f"`npm ci` did not finish within {timeout_s:.0f} s; check the network "
                                      "and run `pi-sandbox setup` again") from None
        if proc.returncode != 0:
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-5:]
            raise ToolchainSetupError("`npm ci` failed: " + " | ".join(tail))
        Toolchain(staging, tc.lock_dir).require_installed()
        if tc.root.exists():  # an incomplete or outdated copy: replaced whole
            shutil.rmtree(tc.root)
        staging.rename(tc.root)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    """An exclusive ``flock`` on ``path`` for the duration of a ``with`` block."""
    fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def clear_cache(env: Mapping[str, str] | None = None) -> list[Path]:
    """Remove every cached toolchain and npm's download cache; returns what was removed.

    Only pi-sandbox's own entries are deleted (never the whole folder ``PI_SANDBOX_CACHE_DIR`` names, which
    could be shared); the folder itself goes when nothing else is left in it.
    """
    root = cache_dir(env)
    removed: list[Path] = []
    for name in ("toolchain", "npm"):
        path = root / name
        if path.exists():
            shutil.rmtree(path)
            removed.append(path)
    try:
        root.rmdir()
    except OSError:  # absent, or holds something that is not ours
        pass
    return removed
