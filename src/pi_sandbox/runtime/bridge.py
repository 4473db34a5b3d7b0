"""The bridge to the real pi agent: install/uninstall its extension, move pi's extensions into the sandbox.

``bridge install`` writes ``pi-sandbox-bridge.ts`` (shipped in ``runtime/js/bridge/``) into pi's
extensions folder with the command that starts this pi-sandbox filled in. pi loads it, and it runs
``pi-sandbox rpc --sandboxed-only``: the extensions in pi-sandbox's own folders run sandboxed and
appear in pi as if pi had loaded them (docs/bridge.md). ``bridge adopt`` moves extensions out of pi's
folder (where pi would run them unsandboxed) into pi-sandbox's folder.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Final

from pi_sandbox.config.locations import pi_extension_folders, sandboxed_extension_folders
from pi_sandbox.errors import InstallError
from pi_sandbox.runtime.discovery import BRIDGE_FILE_NAME, resolve_path
from pi_sandbox.scanner.lockfile import load_lockfile, write_lockfile

BRIDGE_SOURCE: Final = Path(__file__).resolve().parent / "js" / "bridge" / BRIDGE_FILE_NAME
_PLACEHOLDER: Final = "__PI_SANDBOX_COMMAND__"


def sandbox_command() -> list[str]:
    """How the bridge starts this pi-sandbox: this interpreter with ``-m pi_sandbox`` (no PATH lookup,
    so another ``pi-sandbox`` or ``pi`` earlier on PATH can never be started instead)."""
    return [sys.executable, "-m", "pi_sandbox"]


def bridge_path(agent_dir: Path) -> Path:
    """Where the bridge lives: pi's own user extensions folder, which pi loads at start."""
    return pi_extension_folders(agent_dir, agent_dir)[0] / BRIDGE_FILE_NAME


def render_bridge(command: list[str]) -> str:
    """The bridge's source with ``command`` filled in."""
    text = BRIDGE_SOURCE.read_text(encoding="utf-8")
    if _PLACEHOLDER not in text:
        raise InstallError(f"{BRIDGE_SOURCE} has no command placeholder; reinstall pi-sandbox")
    return text.replace(_PLACEHOLDER, json.dumps(command), 1)


@dataclass(frozen=True)
class BridgeInstall:
    """What ``install`` did: where the bridge is, whether it changed, and pi extensions still unsandboxed."""

    path: Path
    changed: bool
    unsandboxed: tuple[Path, ...]


def install(agent_dir: Path, project_dir: Path, command: list[str] | None = None) -> BridgeInstall:
    """Write the bridge into pi's extensions folder (atomically; unchanged content is left alone)."""
    path = bridge_path(agent_dir)
    text = render_bridge(command or sandbox_command())
    changed = not (path.is_file() and path.read_text(encoding="utf-8") == text)
    if changed:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            sandboxed_extension_folders(agent_dir, project_dir)[0].mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{path.name}.tmp")
            tmp.write_text(text, encoding="utf-8")
            os.replace(tmp, path)
        except OSError as exc:
            raise InstallError(f"cannot write the bridge to {path}: {exc}") from None
    return BridgeInstall(path, changed, unsandboxed_extensions(agent_dir, project_dir))


#: The line of the installed bridge that carries its command (``render_bridge`` fills it in).
_COMMAND_LINE: Final = re.compile(r"^const SANDBOX_COMMAND: string\[\] = (.*);$", re.M)


def installed_bridge_problem(agent_dir: Path) -> str | None:
    """What is wrong with the installed bridge, or None (none installed, or the current one).

    An older bridge keeps running after an upgrade of pi-sandbox (pi loads the file it finds), so fixes to
    the bridge reach nobody until ``bridge install`` is run again; and one whose interpreter is gone leaves
    pi without its sandboxed extensions."""
    path = bridge_path(agent_dir)
    if not path.is_file():
        return None
    try:
        text = path.read_text(encoding="utf-8")
        found = _COMMAND_LINE.search(text)
        command = json.loads(found.group(1)) if found else None
    except (OSError, UnicodeDecodeError, ValueError):
        command = None
    if not (isinstance(command, list) and command and all(isinstance(c, str) for c in command)):
        return f"{path} is not a bridge this pi-sandbox can read"
    if not Path(command[0]).is_file():
        return f"{path} starts {command[0]}, which does not exist (a removed virtual environment?)"
    if text != render_bridge(command):
        return f"{path} is a bridge from another pi-sandbox version"
    return None


def uninstall(agent_dir: Path) -> Path | None:
    """Remove the bridge; returns its path if it was there (sandboxed extensions are kept)."""
    path = bridge_path(agent_dir)
    try:
        path.unlink()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise InstallError(f"cannot remove the bridge {path}: {exc}") from None
    return path


def unsandboxed_extensions(agent_dir: Path, project_dir: Path) -> tuple[Path, ...]:
    """Extensions in pi's own folders (pi runs them unsandboxed), the bridge left out."""
    found: list[Path] = []
    for folder in pi_extension_folders(agent_dir, project_dir):
        children = sorted(folder.iterdir()) if folder.is_dir() else []
        found += [child for child in children
                  if not child.name.startswith(".") and child.name not in (BRIDGE_FILE_NAME, "node_modules")
                  and resolve_path(child, folder)[0]]
    return tuple(found)


@dataclass(frozen=True)
class Move:
    """One extension moved from pi's folder into pi-sandbox's."""

    source: Path
    destination: Path


def adopt(agent_dir: Path, project_dir: Path, state_dir: Path, *, project: bool = False) -> list[Move]:
    """Move every extension out of pi's user folder (and the project's with ``project``) into the
    matching pi-sandbox folder. A name already taken there is an error, and nothing is overwritten.
    Pins of moved extensions (``ext install`` of older versions) follow them."""
    pi_folders = pi_extension_folders(agent_dir, project_dir)
    ours = sandboxed_extension_folders(agent_dir, project_dir)
    moves: list[Move] = []
    for index in (0, 1) if project else (0,):
        for item in unsandboxed_extensions(agent_dir, project_dir):
            if item.parent != pi_folders[index]:
                continue
            destination = ours[index] / item.name
            if destination.exists() or destination.is_symlink():
                raise InstallError(f"cannot move {item}: {destination} already exists; nothing was moved",
                                   remediation="remove or rename one of the two, then run `pi-sandbox bridge adopt` "
                                               "again")
            moves.append(Move(item, destination))
    for move in moves:
        try:
            move.destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(str(move.source), str(move.destination))
        except OSError as exc:
            raise InstallError(f"cannot move {move.source} to {move.destination}: {exc}") from None
    _repin(state_dir, moves)
    return moves


def _repin(state_dir: Path, moves: list[Move]) -> None:
    entries = load_lockfile(state_dir)
    moved = {str(m.source): str(m.destination) for m in moves}
    changed = {k: replace(e, install_path=moved[e.install_path]) for k, e in entries.items() if e.install_path in moved}
    if changed:
        write_lockfile(state_dir, {**entries, **changed})
