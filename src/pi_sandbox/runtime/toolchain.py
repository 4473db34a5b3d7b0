"""The pinned JS toolchain (esbuild + TypeBox) under ``runtime/js/toolchain``, installed by ``pi-sandbox setup``.

esbuild runs as its static platform binary from the npm package (no Node at run time). The
toolchain is installed from the committed lockfile with ``npm ci --ignore-scripts``; loading an
extension never touches the network.
"""

from __future__ import annotations

import json
import platform
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from pi_sandbox.errors import ExtensionLoadError, ToolchainMissingError, ToolchainSetupError

TOOLCHAIN_DIR = Path(__file__).resolve().parent / "js" / "toolchain"
_ARCH_PACKAGES = {
    "x86_64": "linux-x64",
    "amd64": "linux-x64",
    "aarch64": "linux-arm64",
    "arm64": "linux-arm64",
}


@dataclass(frozen=True)
class Toolchain:
    """Paths into an installed toolchain directory."""

    root: Path

    @property
    def node_modules(self) -> Path:
        """The installed packages."""
        return self.root / "node_modules"

    @property
    def vendor_dir(self) -> Path:
        """Generated module sources (TypeBox bundles); lives under node_modules so it is never committed."""
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
        """Raise ``ExtensionLoadError`` (saying "run `pi-sandbox setup`") unless esbuild and TypeBox are present."""
        if not self.esbuild.is_file():
            raise self.missing(f"esbuild binary not found at {self.esbuild}")
        self.package_version("@sinclair/typebox")


def default_toolchain() -> Toolchain:
    """The toolchain shipped next to this package."""
    return Toolchain(TOOLCHAIN_DIR)


def setup_toolchain(toolchain: Toolchain | None = None, *, timeout_s: float = 600.0) -> str:
    """Install the toolchain from the lockfile (idempotent) and build the vendor modules.

    Returns a one-line summary. Raises ``ToolchainSetupError`` if npm is missing or fails.
    """
    tc = toolchain or default_toolchain()
    installed = (
        tc.esbuild.is_file() and (tc.node_modules / "@sinclair" / "typebox" / "package.json").is_file()
    )
    action = "already installed"
    if not installed or not _lock_matches(tc):
        npm = shutil.which("npm")
        if npm is None:
            raise ToolchainSetupError(
                "npm is not installed: install Node.js/npm (e.g. `apt-get install npm`), then run "
                "`pi-sandbox setup` again"
            )
        proc = subprocess.run(
            [npm, "ci", "--ignore-scripts", "--no-audit", "--no-fund"],
            cwd=tc.root,
            capture_output=True,
            text=True,
            timeout=timeout_s,
            check=False,
        )
        if proc.returncode != 0:
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-5:]
            raise ToolchainSetupError("`npm ci` failed in " + str(tc.root) + ": " + " | ".join(tail))
        action = "installed"
    tc.require_installed()
    from pi_sandbox.runtime.vendor import build_vendor_modules

    build_vendor_modules(tc, tc.vendor_dir)
    return (
        f"toolchain {action}: esbuild {tc.package_version('esbuild')}, "
        f"@sinclair/typebox {tc.package_version('@sinclair/typebox')} ({tc.root})"
    )


def _lock_matches(tc: Toolchain) -> bool:
    """True when the installed packages are the versions the lockfile pins."""
    try:
        lock = json.loads((tc.root / "package-lock.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    for name in ("esbuild", "@sinclair/typebox"):
        pinned = lock.get("packages", {}).get(f"node_modules/{name}", {}).get("version")
        try:
            if pinned != tc.package_version(name):
                return False
        except ExtensionLoadError:
            return False
    return True
