"""npm package layouts: the install root, Node's package lookup and an extension's dependency closure.

An extension's dependencies are found the way Node finds them — walk up ``node_modules`` folders from
the importing package's real path — but never past the extension's **install root**:

* inside an npm project (``<root>/node_modules/<ext>``, npm's default and nested layouts, pi's
  project scope ``.pi/npm``): the folder that holds that project's ``package.json`` /
  ``package-lock.json``;
* inside an npm global root (``<prefix>/lib/node_modules/<ext>``: ``npm install -g``, pi's user
  scope): that ``node_modules`` folder;
* otherwise (a folder extension, a git checkout): the extension's own folder.

The **closure** is what the extension may import besides its own files: the packages its
``package.json`` declares (``dependencies``, ``optionalDependencies``, ``peerDependencies``), found
from its folder, then theirs found from theirs, and so on. Nothing else in the install root — sibling
packages, other extensions — belongs to it. The closure is computed from the ``package.json`` files
on disk rather than from npm's lockfile, because what is imported is what is on disk (``npm ci``
keeps the two identical; a hand-edited tree is judged by what it really holds).
"""

from __future__ import annotations

import fnmatch
import json
import os
import stat
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from pi_sandbox.scanner.rules import SERVED_PACKAGES

#: Files whose presence in a folder makes it an npm project root.
PROJECT_FILES: Final = ("package.json", "package-lock.json", "npm-shrinkwrap.json")
LOCKFILES: Final = ("package-lock.json", "npm-shrinkwrap.json")
#: Export conditions Node matches for an extension (``import``/``require`` by import kind).
CONDITIONS: Final = ("node", "default")


@dataclass(frozen=True)
class InstallRoot:
    """The folder no dependency lookup may leave, and how it was recognised."""

    path: Path
    kind: str  # "project" | "global" | "extension" | "workspace" (a monorepo root listing the extension)

    @property
    def lockfile(self) -> Path | None:
        """npm's lockfile of a project root, when there is one."""
        for name in LOCKFILES:
            if (self.path / name).is_file():
                return self.path / name
        return None

    def install_command(self, package_name: str | None) -> str:
        """The command that installs the declared dependencies into this root."""
        if self.kind == "global":
            return f"npm install -g --ignore-scripts {package_name or '<package>'}"
        verb = "ci" if self.lockfile is not None else "install"
        return f"cd {self.path} && npm {verb} --omit=dev --ignore-scripts"


@dataclass(frozen=True)
class PackageInfo:
    """The parts of a ``package.json`` that resolution and installation use."""

    path: Path  # the package folder (real path)
    name: str
    version: str
    dependencies: Mapping[str, str]
    optional: frozenset[str]  # optionalDependencies and optional peers: may be absent
    peers: frozenset[str]
    dev: frozenset[str]
    exports: Any = None
    native: bool = False  # ships a native addon (binding.gyp / gypfile)

    @property
    def declared(self) -> frozenset[str]:
        """Every package name this package may import."""
        return frozenset(self.dependencies) | self.peers


@dataclass(frozen=True)
class MissingDependency:
    """A declared, non-optional dependency that is not installed where Node would look."""

    name: str
    declared_by: Path  # the declaring package folder


@dataclass(frozen=True)
class DependencyPlan:
    """What one extension may import: its own folder plus the closure, bounded by the install root."""

    root: Path  # the extension's folder (real path)
    install_root: InstallRoot
    manifest: PackageInfo | None
    #: package folder (real path) → the package, for the extension's root and every closure package.
    packages: Mapping[Path, PackageInfo] = field(default_factory=dict)
    missing: tuple[MissingDependency, ...] = ()

    @property
    def dependency_dirs(self) -> tuple[Path, ...]:
        """The closure's package folders (not the extension's own root), sorted."""
        return tuple(sorted(p for p in self.packages if p != self.root))

    def declared_by(self, package_dir: Path) -> frozenset[str] | None:
        """Names the package at ``package_dir`` may import; None when it has no package.json."""
        info = self.packages.get(package_dir)
        return None if info is None else info.declared

    def fix_command(self) -> str:
        """The command that installs what is missing."""
        return self.install_root.install_command(self.manifest.name if self.manifest else None)

    def fingerprint(self) -> str:
        """A stable text that changes whenever the closure or a declaration changes (cache keys)."""
        parts = [str(self.install_root.path)]
        for path in sorted(self.packages):
            info = self.packages[path]
            parts.append(f"{path}|{info.name}|{info.version}|{','.join(sorted(info.declared))}")
        return "\n".join(parts)


#: A manifest bigger than this is not a manifest anyone wrote by hand; it is not parsed.
MAX_MANIFEST_BYTES: Final = 4 * 1024 * 1024


def read_json_file(path: Path) -> Any:
    """The JSON in a regular file, or None (missing, unreadable, invalid, too big, or a pipe/device:
    opened non-blocking and checked with fstat, so a FIFO named package.json never hangs a reader)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError:
        return None
    try:
        with os.fdopen(fd, "rb") as handle:
            if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
                return None
            data = handle.read(MAX_MANIFEST_BYTES + 1)
        if len(data) > MAX_MANIFEST_BYTES:
            return None
        return json.loads(data.decode("utf-8"))
    except (OSError, UnicodeDecodeError, ValueError, RecursionError):
        return None


def _names(value: Any) -> dict[str, str]:
    if not isinstance(value, dict):
        return {}
    return {str(k): str(v) for k, v in value.items() if isinstance(k, str) and k}


def read_package(folder: Path) -> PackageInfo | None:
    """The package in ``folder`` (None without a readable ``package.json`` object)."""
    data = read_json_file(folder / "package.json")
    if not isinstance(data, dict):
        return None
    deps = _names(data.get("dependencies"))
    optional = _names(data.get("optionalDependencies"))
    peers = _names(data.get("peerDependencies"))
    meta = data.get("peerDependenciesMeta")
    optional_peers = {
        name for name, spec in (meta.items() if isinstance(meta, dict) else ())
        if isinstance(spec, dict) and spec.get("optional") is True
    }
    name = data.get("name")
    version = data.get("version")
    return PackageInfo(
        path=folder,
        name=name if isinstance(name, str) else "",
        version=version if isinstance(version, str) else "",
        dependencies={**deps, **optional},
        optional=frozenset(optional) | frozenset(optional_peers),
        peers=frozenset(peers),
        dev=frozenset(_names(data.get("devDependencies"))),
        exports=data.get("exports"),
        native=data.get("gypfile") is True or (folder / "binding.gyp").is_file(),
    )


def within(path: Path, root: Path) -> bool:
    """True when ``path`` is ``root`` or inside it (both already real paths)."""
    return path == root or root in path.parents


def find_install_root(extension_root: Path) -> InstallRoot:
    """The install root of an extension whose folder is ``extension_root``."""
    real = Path(os.path.realpath(extension_root))
    outermost = next((p for p in reversed(real.parents) if p.name == "node_modules"), None)
    if outermost is None:
        workspace = workspace_root(real)
        return InstallRoot(workspace, "workspace") if workspace is not None else InstallRoot(real, "extension")
    project = outermost.parent
    if any((project / name).is_file() for name in PROJECT_FILES):
        return InstallRoot(project, "project")
    return InstallRoot(outermost, "global")


#: How far up from an extension folder a workspace root is looked for.
MAX_WORKSPACE_DEPTH: Final = 6


def workspace_root(folder: Path) -> Path | None:
    """The npm / yarn / pnpm workspace root whose ``workspaces`` patterns name ``folder`` (a package of a
    monorepo, its dependencies installed at the root: ``node_modules/@scope/sibling`` links to
    ``packages/sibling``), or None. Only a root that lists the folder counts, so an extension inside someone
    else's project does not reach that project's ``node_modules``."""
    for depth, parent in enumerate(folder.parents):
        if depth >= MAX_WORKSPACE_DEPTH:
            return None
        patterns = _workspace_patterns(parent)
        listed = [p for p in patterns if not p.startswith("!")]
        excluded = [p[1:] for p in patterns if p.startswith("!")]
        relative = folder.relative_to(parent).as_posix()
        if _matches_any(relative, listed) and not _matches_any(relative, excluded):
            return parent
    return None


def _workspace_patterns(root: Path) -> list[str]:
    """The workspace globs of ``root``: package.json ``workspaces`` (a list, or ``{packages: [...]}``) and
    pnpm-workspace.yaml's ``packages:`` list (read line by line, no YAML library)."""
    found: list[str] = []
    data = read_json_file(root / "package.json")
    workspaces = data.get("workspaces") if isinstance(data, dict) else None
    if isinstance(workspaces, dict):
        workspaces = workspaces.get("packages")
    if isinstance(workspaces, list):
        found += [w for w in workspaces if isinstance(w, str)]
    pnpm = root / "pnpm-workspace.yaml"
    if pnpm.is_file():
        try:
            lines = pnpm.read_text(encoding="utf-8", errors="replace").splitlines()[:500]
        except OSError:
            lines = []
        listing = False
        for line in lines:
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            if not line.startswith((" ", "-", "\t")):
                listing = line.split(":", 1)[0].strip() == "packages"
            elif listing and line.strip().startswith("-"):
                found.append(line.strip()[1:].strip().strip("'\""))
    return [("!" if p.startswith("!") else "") + p.removeprefix("!").removeprefix("./").rstrip("/") for p in found if p]


def _matches_any(relative: str, patterns: list[str]) -> bool:
    parts = relative.split("/")
    return any(_glob_parts(parts, pattern.split("/")) for pattern in patterns)


def _glob_parts(parts: list[str], pattern: list[str]) -> bool:
    """Path segments against glob segments (``*`` within one segment, ``**`` across any number)."""
    if not pattern:
        return not parts
    if pattern[0] == "**":
        return any(_glob_parts(parts[i:], pattern[1:]) for i in range(len(parts) + 1))
    return bool(parts) and fnmatch.fnmatchcase(parts[0], pattern[0]) and _glob_parts(parts[1:], pattern[1:])


def package_name(specifier: str) -> str | None:
    """The package a bare specifier names (``@s/p/x`` → ``@s/p``); None for relative/absolute/``#`` ones."""
    if not specifier or specifier.startswith((".", "/", "#")) or ":" in specifier.split("/", 1)[0]:
        return None
    parts = specifier.split("/")
    if specifier.startswith("@"):
        return "/".join(parts[:2]) if len(parts) >= 2 and parts[1] else None
    return parts[0]


def lookup_dirs(from_dir: Path, bound: Path | None) -> Iterable[Path]:
    """The ``node_modules`` folders Node searches from ``from_dir``, nearest first, inside ``bound``."""
    for folder in (from_dir, *from_dir.parents):
        if folder.name == "node_modules":
            continue
        candidate = folder / "node_modules"
        if bound is not None and not within(candidate, bound):
            if not within(folder, bound):
                return
            continue
        yield candidate


def find_package(name: str, from_dir: Path, bound: Path | None) -> Path | None:
    """The real folder of package ``name`` as Node finds it from ``from_dir`` (not past ``bound``)."""
    for modules in lookup_dirs(from_dir, bound):
        candidate = modules / name
        if candidate.is_dir():
            return Path(os.path.realpath(candidate))  # Node follows the link (npm `file:` installs)
    return None


def package_dir_of(path: Path, extension_root: Path) -> Path:
    """The package folder a file belongs to: ``…/node_modules/[@scope/]name``, else the extension root."""
    parts = path.parts
    for index in range(len(parts) - 1, -1, -1):
        if parts[index] == "node_modules" and index + 1 < len(parts) - 1:
            end = index + 3 if parts[index + 1].startswith("@") else index + 2
            if end <= len(parts) - 1:
                return Path(*parts[:end])
    return extension_root


def plan_dependencies(extension_root: Path) -> DependencyPlan:
    """The extension's dependency closure, found from its real folder inside its install root."""
    root = Path(os.path.realpath(extension_root))
    install_root = find_install_root(root)
    manifest = read_package(root)
    if manifest is None:
        # An entry in a sub-folder of an installed package (``node_modules/pkg/dist/index.js``, loaded as a
        # file or found by a folder scan) belongs to that package, as Node sees it: its package.json declares
        # what the code may import, and its files are the extension's own.
        owner = package_dir_of(root, root)
        owner_manifest = read_package(owner) if owner != root else None
        if owner_manifest is not None:
            root, manifest = owner, owner_manifest
    packages: dict[Path, PackageInfo] = {}
    missing: list[MissingDependency] = []
    if manifest is None:
        return DependencyPlan(root, install_root, None, packages, ())
    packages[root] = manifest
    queue = [manifest]
    while queue:
        current = queue.pop()
        for name in sorted(current.declared):
            if name in SERVED_PACKAGES:
                continue
            found = find_package(name, current.path, install_root.path)
            if found is None or not within(found, install_root.path):
                if name not in current.optional:
                    missing.append(MissingDependency(name, current.path))
                continue
            if found in packages:
                continue
            info = read_package(found)
            if info is None:
                missing.append(MissingDependency(name, current.path))
                continue
            packages[found] = info
            queue.append(info)
    return DependencyPlan(root, install_root, manifest, packages, tuple(sorted(set(missing), key=_missing_key)))


def _missing_key(item: MissingDependency) -> tuple[str, str]:
    return (item.name, str(item.declared_by))


# --- package.json "exports" (for saying why an import did not resolve) -------------------------


def _match_conditions(target: Any, conditions: tuple[str, ...]) -> str | None:
    """Resolve conditional ``exports`` values to a target string (None when nothing matches)."""
    if isinstance(target, str):
        return target
    if isinstance(target, list):
        for item in target:
            found = _match_conditions(item, conditions)
            if found is not None:
                return found
        return None
    if isinstance(target, dict):
        for key, value in target.items():
            if key in conditions:
                found = _match_conditions(value, conditions)
                if found is not None:
                    return found
    return None


def exported_subpaths(exports: Any) -> list[str]:
    """The subpaths an ``exports`` field lists (``.``, ``./util``, ``./lib/*``)."""
    if isinstance(exports, dict) and any(str(k).startswith(".") for k in exports):
        return sorted(str(k) for k in exports if str(k).startswith("."))
    return ["."] if exports is not None else []


def resolve_export(exports: Any, subpath: str, kind: str = "import") -> str | None:
    """The file ``exports`` maps ``subpath`` (``.`` or ``./x``) to for Node's conditions, or None."""
    conditions = (kind, *CONDITIONS)
    if not (isinstance(exports, dict) and any(str(k).startswith(".") for k in exports)):
        return _match_conditions(exports, conditions) if subpath == "." else None
    if subpath in exports:
        return _match_conditions(exports[subpath], conditions)
    best: tuple[int, str, str] | None = None
    for key in exports:
        key = str(key)
        star = key.find("*")
        if star < 0 or key.count("*") != 1:
            continue
        prefix, suffix = key[:star], key[star + 1:]
        if subpath.startswith(prefix) and subpath.endswith(suffix) and len(subpath) >= len(key) - 1:
            if best is None or len(prefix) > best[0]:
                best = (len(prefix), key, subpath[len(prefix): len(subpath) - len(suffix)])
    if best is None:
        return None
    target = _match_conditions(exports[best[1]], conditions)
    return target.replace("*", best[2]) if isinstance(target, str) else None


def native_addons(package_dir: Path, limit: int = 5) -> list[str]:
    """Relative paths of native addon binaries (``*.node``) in a package folder (at most ``limit``)."""
    found: list[str] = []
    pending = [package_dir]
    while pending and len(found) < limit:
        folder = pending.pop()
        try:
            with os.scandir(folder) as it:
                for entry in it:
                    if entry.is_dir(follow_symlinks=False):
                        if entry.name != "node_modules":
                            pending.append(Path(entry.path))
                    elif entry.name.endswith(".node"):
                        found.append(Path(entry.path).relative_to(package_dir).as_posix())
        except OSError:
            continue
    return sorted(found)[:limit]
