"""The built wheel holds only the package, and an installed copy works read-only with the toolchain in the cache.

The wheel is built once per session from a copy of the project into which a stale in-package toolchain
(``runtime/js/toolchain/node_modules``) and an internal note (``REQUESTS-*.md``) were planted: the exclusion
rules must keep both out however the source tree looks.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from pi_sandbox import __version__
from pi_sandbox.runtime.toolchain import cache_dir

ROOT = Path(__file__).resolve().parents[2]
DIST_INFO = f"pi_sandbox-{__version__}.dist-info/"
TOOLCHAIN_IN_PACKAGE = "src/pi_sandbox/runtime/js/toolchain/node_modules"
HELLO = """import { Type } from "@sinclair/typebox";
export default function (pi: any) {
  pi.registerTool({ name: "hi", parameters: Type.Object({ who: Type.String() }),
    execute: async (_id: string, p: any) => ({ content: [{ type: "text", text: "hi " + p.who }] }) });
}
"""


@pytest.fixture(scope="session")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("wheel")
    src = base / "project"
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info", "node_modules", ".mypy_cache")
    shutil.copytree(ROOT / "src", src / "src", ignore=ignore)
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy2(ROOT / name, src / name)
    stale = src / TOOLCHAIN_IN_PACKAGE / "esbuild"
    stale.mkdir(parents=True)
    (stale / "package.json").write_text('{"name": "esbuild"}')
    (stale / "install.js").write_text("// left behind by an old `pi setup`\n")
    (src / "src/pi_sandbox/runtime/js/modules/REQUESTS-TO-SOMEONE.md").write_text("internal note\n")
    out = base / "dist"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w",
                    str(out), str(src)], check=True, capture_output=True, timeout=300)
    (built,) = out.glob("pi_sandbox-*.whl")
    return built


def test_wheel_contains_only_the_package(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        entry_points = archive.read(DIST_INFO + "entry_points.txt").decode()
        metadata = archive.read(DIST_INFO + "METADATA").decode()
    assert all(n.startswith(("pi_sandbox/", DIST_INFO)) for n in names), [n for n in names if "/" not in n]
    assert not [n for n in names if "node_modules" in n]
    assert not [n for n in names if n.endswith(".md") and n != "pi_sandbox/runtime/js/modules/README.md"]
    assert DIST_INFO + "licenses/LICENSE" in names or DIST_INFO + "LICENSE" in names
    # what the package needs at run time is there
    for needed in ("pi_sandbox/runtime/js/toolchain/package-lock.json", "pi_sandbox/runtime/js/prelude.js",
                   "pi_sandbox/runtime/js/modules/README.md", "pi_sandbox/runtime/demo_extensions/greeter.ts",
                   "pi_sandbox/runtime/js/bridge/pi-sandbox-bridge.ts", "pi_sandbox/__main__.py",
                   "pi_sandbox/cli/main.py", "pi_sandbox/py.typed"):
        assert needed in names
    assert "pi-sandbox = pi_sandbox.cli.main:run" in entry_points and "\npi =" not in entry_points
    requires = [line for line in metadata.splitlines() if line.startswith("Requires-Dist:") and "extra ==" not in line]
    assert requires and not [r for r in requires if "==" in r]  # ranges, never pins
    assert "Operating System :: POSIX :: Linux" in metadata


@pytest.fixture()
def installed(wheel: Path, tmp_path: Path) -> Iterator[tuple[Path, dict[str, str]]]:
    """The wheel installed into its own folder, plus an environment that uses it and a fresh cache."""
    site = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-compile", "--target",
                    str(site), str(wheel)], check=True, capture_output=True, timeout=300)
    cache = tmp_path / "cache"
    if (cache_dir() / "npm").is_dir():  # npm's download cache: the test works offline once setup ran here
        shutil.copytree(cache_dir() / "npm", cache / "npm")
    env = {**os.environ, "PYTHONPATH": str(site), "PI_SANDBOX_CACHE_DIR": str(cache),
           "npm_config_prefer_offline": "true", "PYTHONDONTWRITEBYTECODE": "1"}
    yield site, env


def _read_only(site: Path, argv: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run ``argv`` with ``site`` read-only: a read-only bind mount as root (root ignores permission bits),
    else the permission bits."""
    if os.geteuid() == 0:
        script = 'mount --bind "$SITE" "$SITE" && mount -o remount,ro,bind "$SITE" && exec "$@"'
        argv = ["unshare", "--mount", "sh", "-c", script, "sh", *argv]
        env = {**env, "SITE": str(site)}
    else:
        subprocess.run(["chmod", "-R", "a-w", str(site)], check=True)
    return subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True, timeout=600, check=False)


def test_read_only_install_sets_up_into_the_cache_and_runs_an_extension(
    installed: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    site, env = installed
    before = sorted(p.relative_to(site) for p in site.rglob("*"))
    cli = [sys.executable, "-m", "pi_sandbox"]
    where = _read_only(site, [sys.executable, "-c", "import pi_sandbox; print(pi_sandbox.__file__)"], env, tmp_path)
    assert where.stdout.startswith(str(site)), where  # the installed copy, not the editable checkout

    setup = _read_only(site, [*cli, "setup", "--json"], env, tmp_path)
    assert setup.returncode == 0, setup.stderr
    cache = Path(env["PI_SANDBOX_CACHE_DIR"])
    assert str(cache / "toolchain") in json.loads(setup.stdout)["summary"]

    ext = tmp_path / "hello.ts"
    ext.write_text(HELLO)
    env = {**env, "PI_CODING_AGENT_DIR": str(tmp_path / "agent"), "HOME": str(tmp_path)}
    call = _read_only(site, [*cli, "-e", str(ext), "tool", "call", "hello", "hi", "--args", '{"who": "ro"}', "--json"],
                      env, tmp_path)
    assert call.returncode == 0, call.stderr
    assert json.loads(call.stdout)["content"][0]["text"] == "hi ro"
    assert sorted(p.relative_to(site) for p in site.rglob("*")) == before  # nothing written into site-packages

    # what `pip uninstall` removes is exactly what the wheel installed; `setup --clear` removes the rest
    (record,) = site.glob("pi_sandbox-*.dist-info/RECORD")
    recorded = {line.split(",")[0] for line in record.read_text().splitlines() if line}
    files = {str(p.relative_to(site)) for p in site.rglob("*") if p.is_file()}
    assert files <= recorded | {str(p.relative_to(site)) for p in site.glob("bin/*")}
    cleared = _read_only(site, [*cli, "setup", "--clear"], env, tmp_path)
    assert cleared.returncode == 0, cleared.stderr
    assert not cache.exists()


def test_shared_cache_is_keyed_by_the_lockfile(installed: tuple[Path, dict[str, str]], tmp_path: Path) -> None:
    """Two installations of the same version share one toolchain; a changed lockfile gets its own folder."""
    from pi_sandbox.runtime.toolchain import LOCK_DIR, lock_hash

    other = tmp_path / "lock"
    shutil.copytree(LOCK_DIR, other, ignore=shutil.ignore_patterns("node_modules"))
    site, _env = installed
    assert lock_hash(site / "pi_sandbox/runtime/js/toolchain") == lock_hash(LOCK_DIR) == lock_hash(other)
    lock = json.loads((other / "package-lock.json").read_text())
    lock["packages"]["node_modules/esbuild"]["version"] = "0.0.1"
    (other / "package-lock.json").write_text(json.dumps(lock))
    assert lock_hash(other) != lock_hash(LOCK_DIR)
