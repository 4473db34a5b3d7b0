"""Where pi-sandbox runs: Linux only, and why (checked before any command does work)."""

from __future__ import annotations

import sys
from typing import Final

from pi_sandbox.errors import UnsupportedPlatformError

#: Why other systems are refused rather than run with weaker confinement.
REASON: Final = (
    "its confinement is built on Linux kernel features: Landlock for extension workers, user namespaces "
    "and bubblewrap for the commands extensions run, /proc for process limits; elsewhere an extension would "
    "run with less isolation than the policy promises"
)


def require_supported_platform(platform: str | None = None) -> None:
    """Raise :class:`UnsupportedPlatformError` (exit 3) unless this is Linux."""
    name = sys.platform if platform is None else platform
    if not name.startswith("linux"):
        raise UnsupportedPlatformError(
            f"pi-sandbox runs on Linux only (this is {name}): {REASON}. Use a Linux machine, VM or container "
            "(WSL 2 works)."
        )
