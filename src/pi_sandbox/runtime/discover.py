"""Every extension to load, in load order, de-duplicated, with unique ids.

The places, in order: ``<agent dir>/sandboxed-extensions/`` and ``<project>/.pi/sandboxed-extensions/``
(pi-sandbox's own folders, which pi never loads), ``<agent dir>/extensions/``, ``<project>/.pi/extensions/``,
the packages pi installed (``runtime.pi_packages``), the ``settings.json`` ``extensions: [...]`` paths, then
``-e/--extension`` paths (what each place holds is read by ``runtime.discovery``). For the pi bridge
(``sandboxed_only``) only pi-sandbox's folders and ``-e`` paths count: what pi loads itself must not run a
second time. The bridge's own file is never an extension to sandbox. ``--no-extensions`` loads none at all,
explicit ``-e`` paths included (the runbook's emergency stop).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from pi_sandbox.config.locations import pi_extension_folders, sandboxed_extension_folders
from pi_sandbox.runtime.discovery import (
    DiscoveryProblem,
    ExtensionSource,
    is_bridge_file,
    is_project_source,
    resolve_path,
    scan_folder,
    with_origin,
)
from pi_sandbox.runtime.pi_packages import discover_packages


@dataclass(frozen=True)
class Discovery:
    """The result of discovery: sources to load plus problems to report."""

    sources: tuple[ExtensionSource, ...]
    problems: tuple[DiscoveryProblem, ...]


def discover(
    *,
    agent_dir: Path,
    project_dir: Path,
    settings_paths: Iterable[Path] = (),
    project_settings_paths: Iterable[Path] = (),
    cli_paths: Sequence[str] = (),
    cwd: Path | None = None,
    no_extensions: bool = False,
    npm_global_root: Callable[[], Path | None] | None = None,
    sandboxed_only: bool = False,
) -> Discovery:
    """All extensions to load, de-duplicated by entry file, with unique ids.

    ``npm_global_root`` locates pi's user-scope npm packages (called only when settings list one).
    ``project_settings_paths``: the ``settings_paths`` only the project's settings file names (origin
    ``project-settings``: the project's code wherever it lives).
    ``sandboxed_only`` leaves out everything pi loads by itself (the bridge's view).
    """
    if no_extensions:
        return Discovery((), ())
    base = cwd or project_dir
    candidates: list[ExtensionSource] = []
    problems: list[DiscoveryProblem] = []
    folders = list(zip(("sandboxed", "project-sandboxed"), sandboxed_extension_folders(agent_dir, project_dir),
                       strict=True))
    if not sandboxed_only:
        folders += zip(("agent", "project"), pi_extension_folders(agent_dir, project_dir), strict=True)
    for origin, folder in folders:
        candidates += [with_origin(s, origin) for s in scan_folder(folder) if not is_bridge_file(s.entry)]
    if not sandboxed_only:
        installed, package_problems = discover_packages(agent_dir, project_dir, npm_global_root or (lambda: None))
        candidates += installed
        problems += package_problems
    project_paths = set(project_settings_paths)
    global_paths = [p for p in settings_paths if p not in project_paths]
    for origin, raws, raw_base in (("settings", () if sandboxed_only else global_paths, project_dir),
                                   ("project-settings", () if sandboxed_only else
                                    [p for p in settings_paths if p in project_paths], project_dir),
                                   ("cli", cli_paths, base)):
        for raw in raws:
            found, error = resolve_path(raw, raw_base)
            if error:
                problems.append(DiscoveryProblem(str(raw), origin, error))
            candidates += [with_origin(s, origin) for s in found]
    seen_entries: set[Path] = set()
    used_ids: set[str] = set()
    sources: list[ExtensionSource] = []
    # Ids of the user's own extensions (compared without case): a project extension with one of them is
    # passed on under that id, unrenamed, for the loader to refuse (runtime.identity) — renaming it to
    # "<id>-2" would hide the takeover attempt, and its list position must not decide who gets the id.
    user_ids = {s.extension_id.casefold() for s in candidates if s.origin in USER_ORIGINS}
    for source in candidates:
        if source.entry in seen_entries:
            continue
        seen_entries.add(source.entry)
        if is_project_source(source, project_dir) and source.extension_id.casefold() in user_ids:
            sources.append(source)
            continue
        ext_id, n = source.extension_id, 2
        while ext_id in used_ids:
            ext_id, n = f"{source.extension_id}-{n}", n + 1
        used_ids.add(ext_id)
        sources.append(ExtensionSource(ext_id, source.entry, source.root, source.origin))
    return Discovery(tuple(sources), tuple(problems))


#: Origins of the user's own folders and packages (whose ids a project extension may not claim).
USER_ORIGINS: Final = frozenset({"sandboxed", "agent", "pi-user"})
