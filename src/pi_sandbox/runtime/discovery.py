"""Where extensions come from: auto-discovered folders, settings paths and ``-e`` paths.

Sources, in load order: ``<agent dir>/extensions/``, ``<project>/.pi/extensions/``, the
``settings.json`` ``extensions: [...]`` paths, then ``-e/--extension`` paths. In a folder, an
extension is a ``*.ts`` / ``*.js`` file, a sub-folder with ``index.ts`` / ``index.js``, or a
sub-folder whose ``package.json`` lists entries under ``pi.extensions``. ``--no-extensions`` loads
none at all, explicit ``-e`` paths included (the runbook's emergency stop).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

_CODE_SUFFIXES = (".ts", ".js", ".mts", ".mjs", ".cts", ".cjs")
_INDEX_NAMES = ("index.ts", "index.js", "index.mts", "index.mjs")
_ID_CLEAN = re.compile(r"[^A-Za-z0-9._@/:-]+")


@dataclass(frozen=True)
class ExtensionSource:
    """One extension entry to load."""

    extension_id: str
    entry: Path
    root: Path
    origin: str  # "agent" | "project" | "settings" | "cli"


@dataclass(frozen=True)
class DiscoveryProblem:
    """A configured path that names no loadable extension."""

    path: str
    origin: str
    reason: str


@dataclass(frozen=True)
class Discovery:
    """The result of discovery: sources to load plus problems to report."""

    sources: tuple[ExtensionSource, ...]
    problems: tuple[DiscoveryProblem, ...]


def _is_code_file(path: Path) -> bool:
    return path.is_file() and path.suffix in _CODE_SUFFIXES and not path.name.endswith(".d.ts")


def _clean_id(text: str) -> str:
    return _ID_CLEAN.sub("-", text).strip("-") or "extension"


def _package_entries(folder: Path) -> list[ExtensionSource] | None:
    """Entries declared by ``package.json`` ``pi.extensions``; None when there is no such field."""
    manifest = folder / "package.json"
    if not manifest.is_file():
        return None
    try:
        data = json.loads(manifest.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    pi_field = data.get("pi") if isinstance(data, dict) else None
    entries = pi_field.get("extensions") if isinstance(pi_field, dict) else None
    if not isinstance(entries, list) or not entries:
        return None
    name = data.get("name") if isinstance(data.get("name"), str) else folder.name
    out: list[ExtensionSource] = []
    for item in entries:
        if not isinstance(item, str):
            continue
        entry = (folder / item).resolve()
        if entry.is_dir():
            entry = next((entry / n for n in _INDEX_NAMES if (entry / n).is_file()), entry / "index.ts")
        ext_id = _clean_id(name) if len(entries) == 1 else f"{_clean_id(name)}:{_clean_id(Path(item).stem)}"
        out.append(ExtensionSource(ext_id, entry, folder.resolve(), ""))
    return out


def _from_folder_extension(folder: Path) -> list[ExtensionSource]:
    """An extension that is a folder: package.json entries, else index.ts/js."""
    declared = _package_entries(folder)
    if declared is not None:
        return declared
    for name in _INDEX_NAMES:
        if (folder / name).is_file():
            return [ExtensionSource(_clean_id(folder.name), (folder / name).resolve(), folder.resolve(), "")]
    return []


def scan_folder(folder: Path) -> list[ExtensionSource]:
    """Every extension directly inside an auto-discovery folder (sorted by name)."""
    if not folder.is_dir():
        return []
    found: list[ExtensionSource] = []
    for child in sorted(folder.iterdir(), key=lambda p: p.name):
        if child.name.startswith("."):
            continue
        if _is_code_file(child):
            found.append(ExtensionSource(_clean_id(child.stem), child.resolve(), folder.resolve(), ""))
        elif child.is_dir() and child.name != "node_modules":
            found.extend(_from_folder_extension(child))
    return found


def resolve_path(raw: str | Path, base: Path) -> tuple[list[ExtensionSource], str | None]:
    """Extensions named by an explicit path (file or folder); an error text when there are none."""
    path = Path(raw).expanduser()
    if not path.is_absolute():
        path = base / path
    if _is_code_file(path):
        return [ExtensionSource(_clean_id(path.stem), path.resolve(), path.resolve().parent, "")], None
    if path.is_dir():
        found = _from_folder_extension(path)
        if found:
            return found, None
        return [], f"folder {path} has no index.ts/index.js and no package.json 'pi.extensions' entries"
    if path.exists():
        return [], f"{path} is not a .ts/.js extension file"
    return [], f"{path} does not exist"


def discover(
    *,
    agent_dir: Path,
    project_dir: Path,
    settings_paths: Iterable[Path] = (),
    cli_paths: Sequence[str] = (),
    cwd: Path | None = None,
    no_extensions: bool = False,
) -> Discovery:
    """All extensions to load, de-duplicated by entry file, with unique ids."""
    if no_extensions:
        return Discovery((), ())
    base = cwd or project_dir
    candidates: list[ExtensionSource] = []
    problems: list[DiscoveryProblem] = []
    for origin, folder in (
        ("agent", agent_dir / "extensions"),
        ("project", project_dir / ".pi" / "extensions"),
    ):
        candidates += [_with_origin(s, origin) for s in scan_folder(folder)]
    for origin, raws, raw_base in (("settings", settings_paths, project_dir), ("cli", cli_paths, base)):
        for raw in raws:
            found, error = resolve_path(raw, raw_base)
            if error:
                problems.append(DiscoveryProblem(str(raw), origin, error))
            candidates += [_with_origin(s, origin) for s in found]
    seen_entries: set[Path] = set()
    used_ids: set[str] = set()
    sources: list[ExtensionSource] = []
    for source in candidates:
        if source.entry in seen_entries:
            continue
        seen_entries.add(source.entry)
        ext_id, n = source.extension_id, 2
        while ext_id in used_ids:
            ext_id, n = f"{source.extension_id}-{n}", n + 1
        used_ids.add(ext_id)
        sources.append(ExtensionSource(ext_id, source.entry, source.root, source.origin))
    return Discovery(tuple(sources), tuple(problems))


def _with_origin(source: ExtensionSource, origin: str) -> ExtensionSource:
    return ExtensionSource(source.extension_id, source.entry, source.root, origin)
