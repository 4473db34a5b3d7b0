"""Where per-extension state lives on disk: one place, shared by the fs roots and the exec sandbox.

Each extension gets a data folder (kept across runs) and a tmp folder under the security state
directory: ``<state>/extensions/<slug>/{data,tmp}``. The slug is readable and collision-free: the
id with unsafe characters folded to ``_`` (npm scopes, path separators), plus a short hash of the
exact id, so ``@a/b`` and ``@a_b`` never share a folder.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Final

EXTENSIONS_STATE_FOLDER: Final = "extensions"
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True)
class ExtensionStateDirs:
    """The data and tmp folders of one extension (not created here)."""

    data: Path
    tmp: Path

    @property
    def home(self) -> Path:
        """The ``HOME`` its exec children see: inside its tmp folder, never the user's home."""
        return self.tmp / "home"


def extension_slug(extension_id: str) -> str:
    """A file-name-safe, collision-free folder name for ``extension_id``."""
    readable = _UNSAFE.sub("_", extension_id).strip("._")[:48] or "ext"
    return f"{readable}-{hashlib.sha256(extension_id.encode('utf-8')).hexdigest()[:12]}"


def extension_state_dirs(state_dir: Path, extension_id: str) -> ExtensionStateDirs:
    """The data and tmp folders of ``extension_id`` under ``state_dir``."""
    base = Path(state_dir) / EXTENSIONS_STATE_FOLDER / extension_slug(extension_id)
    return ExtensionStateDirs(data=base / "data", tmp=base / "tmp")


#: pi's own extension folders (``<agent dir>/extensions``, ``<project>/.pi/extensions``): pi loads
#: everything in them itself, unsandboxed, so pi-sandbox never installs there.
PI_EXTENSIONS_FOLDER: Final = "extensions"
#: pi-sandbox's folders beside them: pi never loads these; the bridge runs them through pi-sandbox.
SANDBOXED_EXTENSIONS_FOLDER: Final = "sandboxed-extensions"


def pi_extension_folders(agent_dir: Path, project_dir: Path) -> tuple[Path, Path]:
    """The folders the real pi agent loads extensions from by itself (user, project)."""
    return agent_dir / PI_EXTENSIONS_FOLDER, project_dir / ".pi" / PI_EXTENSIONS_FOLDER


def sandboxed_extension_folders(agent_dir: Path, project_dir: Path) -> tuple[Path, Path]:
    """The folders pi-sandbox loads extensions from and pi never does (user, project)."""
    return agent_dir / SANDBOXED_EXTENSIONS_FOLDER, project_dir / ".pi" / SANDBOXED_EXTENSIONS_FOLDER
