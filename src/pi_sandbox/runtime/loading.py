"""Find and load a session's extensions: discovery (``runtime.discovery``) plus ``ExtensionHost.load``.

The identity holders discovery finds (user-scope installs, global pi packages, pinned ones) are passed on,
so a project-local extension can never take over an id one of them holds.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from pi_sandbox.errors import ExtensionLoadError
from pi_sandbox.identity import HOLDING_KINDS
from pi_sandbox.runtime.discover import discover
from pi_sandbox.runtime.discovery import DiscoveryProblem
from pi_sandbox.runtime.extension import LoadedExtension
from pi_sandbox.runtime.identity import Holder, classify
from pi_sandbox.runtime.pi_packages import npm_global_root
from pi_sandbox.scanner.integrity import PinIndex
from pi_sandbox.scanner.lockfile import load_lockfile

if TYPE_CHECKING:
    from pi_sandbox.runtime.host import ExtensionHost


@dataclass(frozen=True)
class LoadReport:
    """What ``discover_and_load`` did: loaded/failed extensions plus discovery problems."""

    extensions: tuple[LoadedExtension, ...]
    problems: tuple[DiscoveryProblem, ...]


def discover_and_load(
    host: ExtensionHost,
    *,
    cli_paths: Sequence[str] = (),
    no_extensions: bool = False,
    cwd: Path | None = None,
    only: str | None = None,
    sandboxed_only: bool = False,
) -> LoadReport:
    """Discover extensions for the host's config (+ ``-e`` paths) and load them (or just ``only``).

    ``sandboxed_only``: only pi-sandbox's own folders and ``-e`` paths (for the pi bridge)."""
    config = host.config
    found = discover(
        agent_dir=config.agent_dir,
        project_dir=config.project_dir,
        settings_paths=config.extensions,
        project_settings_paths=config.project_extensions,
        cli_paths=cli_paths,
        cwd=cwd,
        no_extensions=no_extensions,
        npm_global_root=functools.cache(lambda: npm_global_root(config.environ)),
        sandboxed_only=sandboxed_only,
    )
    sources = [s for s in found.sources if only is None or s.extension_id == only]
    if only is not None and not sources:
        known = ", ".join(s.extension_id for s in found.sources) or "none discovered"
        hint = " (--no-extensions is set)" if no_extensions else ""
        raise ExtensionLoadError(f"no extension '{only}'{hint} (discovered: {known})")
    pins = PinIndex.of(load_lockfile(config.state_dir))
    holders = [Holder(s.extension_id, kind, str(s.root)) for s in found.sources
               if (kind := classify(s.origin, s.root, s.entry, config.project_dir, pins)) in HOLDING_KINDS]
    loaded = host.load(sources, holders) if sources else []
    return LoadReport(tuple(loaded), found.problems)
