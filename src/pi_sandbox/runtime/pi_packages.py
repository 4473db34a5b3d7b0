"""Extensions the real pi agent installed (``pi install``), found where pi's package manager puts them.

pi lists installed packages in ``packages`` of its settings files — ``<agent dir>/settings.json``
(user scope) and ``<project>/.pi/settings.json`` (project scope) — as a source string or an object
``{"source": ..., "extensions": [patterns]}``. Where each source lives (from pi's
``dist/core/package-manager.js``), user scope / project scope:

* ``npm:<spec>``: ``$(npm root -g)/<name>`` (``npm install -g``) /
  ``<project>/.pi/npm/node_modules/<name>`` (``npm install <spec> --prefix <project>/.pi/npm``);
* ``git:<url>`` or an ``https://``/``ssh://`` URL: ``<agent dir>/git/<host>/<path>`` /
  ``<project>/.pi/git/<host>/<path>``;
* a local path: relative to ``<agent dir>`` / to ``<project>/.pi``.

A package's extensions are its ``package.json`` ``pi.extensions`` entries, else the files of its
``extensions/`` folder; a settings object's ``extensions`` patterns then enable a subset, as in pi.
pi's own keys are read here (read-only, not validated: they are pi's, not ours).
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from pi_sandbox.runtime import discovery as disc
from pi_sandbox.sandbox.host_code import host_which
from pi_sandbox.scanner.packages import read_json_file

_GIT_PREFIX = re.compile(r"^(?:git\+)?(?:https?|ssh|git|file)://(?:[^@/]+@)?", re.IGNORECASE)


@dataclass(frozen=True)
class PiPackage:
    """One ``packages`` entry of a pi settings file."""

    source: str
    scope: str  # "user" | "project"
    patterns: tuple[str, ...] | None  # the settings object's ``extensions`` filter, if any


def configured_packages(settings_file: Path, scope: str) -> list[PiPackage]:
    """The ``packages`` entries of one pi settings file (none when it is missing or unreadable)."""
    data = read_json_file(settings_file)
    raw = data.get("packages") if isinstance(data, dict) else None
    found: list[PiPackage] = []
    for item in raw if isinstance(raw, list) else ():
        if isinstance(item, str) and item.strip():
            found.append(PiPackage(item.strip(), scope, None))
        elif isinstance(item, dict) and isinstance(item.get("source"), str):
            patterns = item.get("extensions")
            found.append(PiPackage(item["source"].strip(), scope, tuple(
                str(p) for p in patterns) if isinstance(patterns, list) else None))
    return found


def npm_global_root(environ: Mapping[str, str]) -> Path | None:
    """``npm root -g`` for this environment (None without npm)."""
    npm = host_which("npm", environ.get("PATH"))
    if npm is None:
        return None
    try:
        proc = subprocess.run([npm, "root", "-g"], env=dict(environ), capture_output=True, text=True,
                              timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    out = proc.stdout.strip()
    return Path(out) if proc.returncode == 0 and out else None


def _npm_name(spec: str) -> str:
    match = re.match(r"^(@?[^@]+(?:/[^@]+)?)(?:@.+)?$", spec)
    return match.group(1) if match else spec


def _git_location(source: str) -> tuple[str, str] | None:
    """(host, owner/repo) of a git source, as pi names its checkout folder."""
    url = source[4:].strip() if source.startswith("git:") else source
    url = _GIT_PREFIX.sub("", url).split("#", 1)[0]
    url = re.sub(r"^([^@/:]+@)?([^:/]+):", r"\2/", url)  # git@host:owner/repo
    host, _, path = url.partition("/")
    path = re.sub(r"@[^/]*$", "", path).removesuffix(".git").strip("/")
    return (host, path) if host and path else None


def _is_local(source: str) -> bool:
    return not (source.startswith(("npm:", "git:")) or re.match(r"^(https?|ssh|git)://", source, re.IGNORECASE))


def install_path(
    package: PiPackage, agent_dir: Path, project_dir: Path, global_root: Callable[[], Path | None]
) -> Path | None:
    """Where pi installed ``package`` (None when it cannot be located)."""
    source = package.source
    if source.startswith("npm:"):
        name = _npm_name(source[4:].strip())
        if package.scope == "project":
            return project_dir / ".pi" / "npm" / "node_modules" / name
        root = global_root()
        return root / name if root is not None else None
    if not _is_local(source):
        location = _git_location(source)
        if location is None:
            return None
        base = project_dir / ".pi" if package.scope == "project" else agent_dir
        return base / "git" / location[0] / location[1]
    base = project_dir / ".pi" if package.scope == "project" else agent_dir
    return (base / Path(source).expanduser()).resolve()


def package_entries(folder: Path, patterns: tuple[str, ...] | None) -> list[Path]:
    """The extension files pi loads from an installed package (its manifest, else ``extensions/``)."""
    manifest = disc.pi_manifest(folder)
    if manifest is not None:
        declared = manifest[1].get("extensions")
        files = disc.manifest_entries(folder, declared) if isinstance(declared, list) else []
    else:
        files = disc.auto_entries(folder / "extensions") if (folder / "extensions").is_dir() else []
    if patterns is None:
        return files
    if not patterns:
        return []  # an empty list disables the package's extensions
    includes = [p for p in patterns if not p.startswith(("!", "+", "-"))]
    kept = [f for f in files if not includes or disc.matches(f, includes, folder)]
    return disc.apply_overrides(kept, list(patterns), folder, candidates=files)


def discover_packages(
    agent_dir: Path, project_dir: Path, global_root: Callable[[], Path | None]
) -> tuple[list[disc.ExtensionSource], list[disc.DiscoveryProblem]]:
    """Sources for every package in pi's settings (project scope first, as pi resolves them)."""
    sources: list[disc.ExtensionSource] = []
    problems: list[disc.DiscoveryProblem] = []
    for scope, settings in (("project", project_dir / ".pi" / "settings.json"),
                            ("user", agent_dir / "settings.json")):
        for package in configured_packages(settings, scope):
            origin = f"pi-{scope}"
            folder = install_path(package, agent_dir, project_dir, global_root)
            if folder is None or not folder.exists():
                where = f" (looked in {folder})" if folder is not None else ""
                problems.append(disc.DiscoveryProblem(package.source, origin,
                                                      f"pi package is not installed{where}: run `pi install`"))
                continue
            if folder.is_file():
                entries = [folder.resolve()]
                found = [disc.ExtensionSource(disc.clean_id(folder.stem), entries[0], folder.parent.resolve(), "")]
            else:
                files = package_entries(folder, package.patterns)
                if not files and package.patterns is None and _is_local(package.source):
                    files = disc.folder_entries(folder) or []  # pi adds a local folder itself
                found = disc.package_sources(folder, files)
            sources += [disc.with_origin(s, origin) for s in found]
    return sources, problems

