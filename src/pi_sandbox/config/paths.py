"""Where pi-sandbox keeps things, from the environment alone (no settings file is read).

Commands that must work while ``settings.json`` is broken (``security ledger verify``, ``doctor``,
``config validate``) find the state dir here; :func:`resolve_config` uses the same function.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from pi_sandbox.errors import ConfigError


@dataclass(frozen=True)
class PiPaths:
    """The agent dir, the security state dir and the global settings file."""

    agent_dir: Path
    state_dir: Path
    global_settings: Path


def env_path(raw: str, name: str) -> Path:
    """A path from an environment variable, ``~`` expanded; an unknown ``~user`` is a ConfigError."""
    try:
        return Path(raw).expanduser()
    except RuntimeError as exc:  # expanduser: "Could not determine home directory"
        raise ConfigError(f"cannot expand '{raw}': {exc}", source=f"environment {name}") from None


def resolve_paths(env: Mapping[str, str] | None = None) -> PiPaths:
    """``PI_CODING_AGENT_DIR`` (default ``~/.pi/agent``), ``PI_SECURITY_DIR`` (default ``<agent>/security``),
    ``PI_CONFIG_PATH`` (default ``<agent>/settings.json``)."""
    env = os.environ if env is None else env
    agent_raw = env.get("PI_CODING_AGENT_DIR", "").strip()
    agent_dir = env_path(agent_raw, "PI_CODING_AGENT_DIR") if agent_raw else Path.home() / ".pi" / "agent"
    state_raw = env.get("PI_SECURITY_DIR", "").strip()
    state_dir = env_path(state_raw, "PI_SECURITY_DIR") if state_raw else agent_dir / "security"
    if state_raw and not state_dir.is_absolute():
        # Taken relative to wherever a command runs, each folder would get a ledger of its own: a session's
        # record split over folders, and `ledger verify` or a kill switch run from elsewhere seeing none of it.
        raise ConfigError(f"PI_SECURITY_DIR is a relative path ('{state_raw}'): the security state (ledger, kill "
                          "switches, keys) must have one place; set an absolute path or one starting with ~/",
                          source="environment PI_SECURITY_DIR")
    config_raw = env.get("PI_CONFIG_PATH", "")
    global_settings = env_path(config_raw, "PI_CONFIG_PATH") if config_raw else agent_dir / "settings.json"
    return PiPaths(agent_dir, state_dir, global_settings)
