"""What an extension source is, and how folders, ``package.json`` manifests and paths name extensions.

In a folder, an extension is a ``*.ts`` / ``*.js`` file, a sub-folder with ``index.ts`` / ``index.js``, or a
sub-folder whose ``package.json`` lists entries under ``pi.extensions`` (every form pi accepts: files,
folders, globs, ``!`` exclusions). ``runtime.discover`` puts the sources of every place together, in load
order; ``runtime.pi_packages`` finds the packages pi installed.
"""

from __future__ import annotations

import glob
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pi_sandbox.fscase import CASE_RULES
from pi_sandbox.identity import ORIGIN_KINDS, SourceKind
from pi_sandbox.scanner.packages import read_json_file

#: The file ``pi-sandbox bridge install`` writes into pi's extensions folder (pi loads it; we never sandbox it).
BRIDGE_FILE_NAME = "pi-sandbox-bridge.ts"

_CODE_SUFFIXES = (".ts", ".js", ".mts", ".mjs", ".cts", ".cjs")
_INDEX_NAMES = ("index.ts", "index.js", "index.mts", "index.mjs")
_ID_CLEAN = re.compile(r"[^A-Za-z0-9._@/:-]+")


@dataclass(frozen=True)
class ExtensionSource:
    """One extension entry to load."""

    extension_id: str
    entry: Path
    root: Path
    #: "sandboxed" / "project-sandboxed" / "agent" / "project" / "pi-user" / "pi-project" / "settings" /
    #: "project-settings" / "cli" (``pi_sandbox.identity.ORIGIN_KINDS`` maps each to its identity source)
    origin: str


@dataclass(frozen=True)
class DiscoveryProblem:
    """A configured path that names no loadable extension."""

    path: str
    origin: str
    reason: str


def _is_code_file(path: Path) -> bool:
    return path.is_file() and path.suffix in _CODE_SUFFIXES and not path.name.endswith(".d.ts")


def clean_id(text: str) -> str:
    return _ID_CLEAN.sub("-", text).strip("-") or "extension"


def pi_manifest(folder: Path) -> tuple[str, dict[str, Any]] | None:
    """The package name (or folder name) and the ``pi`` object of ``folder/package.json``, if any."""
    data = read_json_file(folder / "package.json")
    pi_field = data.get("pi") if isinstance(data, dict) else None
    if not isinstance(pi_field, dict):
        return None
    name = data.get("name") if isinstance(data.get("name"), str) and data["name"] else folder.name
    return name, pi_field


def _is_override(entry: str) -> bool:
    return entry.startswith(("!", "+", "-"))


def _glob_regex(pattern: str) -> re.Pattern[str]:
    """minimatch-style glob → regex: ``**`` crosses folders, ``*`` and ``?`` do not."""
    out, i = "", 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out, i = out + "(?:.*/)?", i + 3
        elif pattern.startswith("**", i):
            out, i = out + ".*", i + 2
        elif pattern[i] == "*":
            out, i = out + "[^/]*", i + 1
        elif pattern[i] == "?":
            out, i = out + "[^/]", i + 1
        else:
            out, i = out + re.escape(pattern[i]), i + 1
    return re.compile(out + r"\Z")


def matches(path: Path, patterns: list[str], base: Path, *, exact: bool = False) -> bool:
    """pi's matching: a pattern matches the path relative to ``base``, the file name or the absolute path."""
    rel = os.path.relpath(path, base).replace(os.sep, "/")
    if exact:
        return any((p[2:] if p.startswith("./") else p) in (rel, path.as_posix()) for p in patterns)
    return any(_glob_regex(p).match(c) for p in patterns for c in (rel, path.name, path.as_posix()))


def apply_overrides(
    files: list[Path], entries: list[str], base: Path, *, candidates: list[Path] | None = None
) -> list[Path]:
    """``!pattern`` excludes, ``+path`` force-includes (from ``candidates``), ``-path`` force-excludes
    (pi's order)."""
    excludes = [e[1:] for e in entries if e.startswith("!")]
    forced_in = [e[1:] for e in entries if e.startswith("+")]
    forced_out = [e[1:] for e in entries if e.startswith("-")]
    kept = [f for f in files if not (excludes and matches(f, excludes, base))]
    kept += [f for f in (candidates if candidates is not None else files)
             if f not in kept and forced_in and matches(f, forced_in, base, exact=True)]
    return [f for f in kept if not (forced_out and matches(f, forced_out, base, exact=True))]


def manifest_entries(folder: Path, entries: list[Any]) -> list[Path]:
    """Files named by ``pi.extensions``: paths, folders (their own entries or files) and globs."""
    plain = [e for e in entries if isinstance(e, str) and e and not _is_override(e)]
    paths: list[Path] = []
    for entry in plain:
        if "*" in entry or "?" in entry:
            matches = glob.glob(entry, root_dir=folder, recursive=True)
            paths += [(folder / m).resolve() for m in sorted(matches)]
        else:
            paths.append((folder / entry).resolve())
    files: list[Path] = []
    for path in paths:
        if path.is_file():
            files.append(path)
        elif path.is_dir():
            files += auto_entries(path)
    overrides = [e for e in entries if isinstance(e, str) and _is_override(e)]
    return list(dict.fromkeys(apply_overrides(files, overrides, folder)))


def folder_entries(folder: Path) -> list[Path] | None:
    """A folder's own entries: ``package.json`` ``pi.extensions``, else ``index.ts``/``index.js``."""
    manifest = pi_manifest(folder)
    declared = manifest[1].get("extensions") if manifest else None
    if isinstance(declared, list) and declared:
        found = [p for p in manifest_entries(folder, declared) if p.exists()]
        if found:
            return found
    for name in _INDEX_NAMES:
        if (folder / name).is_file():
            return [(folder / name).resolve()]
    return None


def auto_entries(folder: Path) -> list[Path]:
    """pi's discovery in a folder: its own entries, else its code files and sub-folders' entries."""
    own = folder_entries(folder)
    if own is not None:
        return own
    found: list[Path] = []
    for child in sorted(folder.iterdir(), key=lambda p: p.name) if folder.is_dir() else ():
        if child.name.startswith(".") or child.name == "node_modules":
            continue
        if _is_code_file(child):
            found.append(child.resolve())
        elif child.is_dir():
            found += folder_entries(child) or []
    return found


def package_sources(folder: Path, entries: list[Path]) -> list[ExtensionSource]:
    """One source per entry of a package or folder extension (root: the folder)."""
    manifest = pi_manifest(folder)
    name = manifest[0] if manifest else folder.name
    root = folder.resolve()
    if len(entries) == 1:
        return [ExtensionSource(clean_id(name), entries[0], root, "")]
    return [
        ExtensionSource(f"{clean_id(name)}:{clean_id(e.relative_to(root).with_suffix('').as_posix())}"
                        if e.is_relative_to(root) else f"{clean_id(name)}:{clean_id(e.stem)}", e, root, "")
        for e in entries
    ]


def _from_folder_extension(folder: Path) -> list[ExtensionSource]:
    """An extension that is a folder: package.json entries, else index.ts/js."""
    entries = folder_entries(folder)
    return package_sources(folder, entries) if entries else []


def scan_folder(folder: Path) -> list[ExtensionSource]:
    """Every extension directly inside an auto-discovery folder (sorted by name)."""
    if not folder.is_dir():
        return []
    found: list[ExtensionSource] = []
    for child in sorted(folder.iterdir(), key=lambda p: p.name):
        if child.name.startswith("."):
            continue
        if _is_code_file(child):
            found.append(ExtensionSource(clean_id(child.stem), child.resolve(), folder.resolve(), ""))
        elif child.is_dir() and child.name != "node_modules":
            found.extend(_from_folder_extension(child))
    return found


def resolve_path(raw: str | Path, base: Path) -> tuple[list[ExtensionSource], str | None]:
    """Extensions named by an explicit path (file or folder); an error text when there are none.

    A folder with no entries of its own is searched like an auto-discovery folder, as pi does.
    """
    path = Path(raw).expanduser()
    if not path.is_absolute():
        path = base / path
    if _is_code_file(path):
        return [ExtensionSource(clean_id(path.stem), path.resolve(), path.resolve().parent, "")], None
    if path.is_dir():
        found = _from_folder_extension(path) or scan_folder(path)
        if found:
            return found, None
        return [], _empty_folder_reason(path)
    if path.exists():
        return [], f"{path} is not a .ts/.js extension file"
    return [], f"{path} does not exist"


def _empty_folder_reason(path: Path) -> str:
    """Why a folder given as an extension yields none: the manifest's entries that match no file, when it
    lists some (the generic text said "no 'pi.extensions' entries" of a package.json that has them)."""
    manifest = pi_manifest(path)
    declared = manifest[1].get("extensions") if manifest else None
    if isinstance(declared, list) and declared:
        unmatched = [e for e in declared if isinstance(e, str) and e and not _is_override(e)
                     and not manifest_entries(path, [e])]
        if unmatched:
            return (f"folder {path}: package.json 'pi.extensions' lists {', '.join(repr(e) for e in unmatched)}, "
                    f"which match{'es' if len(unmatched) == 1 else ''} no .ts/.js file there")
    return f"folder {path} has no index.ts/index.js, no package.json 'pi.extensions' entries and no extensions"


def is_project_source(source: ExtensionSource, project_dir: Path) -> bool:
    """Whether ``source`` came with the project (by origin; a settings path by where it is)."""
    kind = ORIGIN_KINDS.get(source.origin)
    if source.origin == "settings":
        base = os.path.realpath(project_dir)
        return os.path.realpath(source.root).startswith(base.rstrip("/") + "/") or \
            os.path.realpath(source.root) == base
    return kind is SourceKind.PROJECT


def is_bridge_file(entry: Path) -> bool:
    """Whether ``entry`` is the bridge's own file (its name compared without case where the folder's file
    system ignores case: there ``PI-Sandbox-Bridge.ts`` is that file)."""
    name = entry.name
    return name == BRIDGE_FILE_NAME or (name.casefold() == BRIDGE_FILE_NAME.casefold()
                                        and CASE_RULES.insensitive(str(entry.parent)))


def with_origin(source: ExtensionSource, origin: str) -> ExtensionSource:
    return ExtensionSource(source.extension_id, source.entry, source.root, origin)
