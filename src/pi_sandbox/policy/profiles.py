"""The three policy profiles: the one place their modes and capability lists are defined."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from pi_sandbox.capabilities import Capability


@dataclass(frozen=True)
class ProfileSpec:
    """What a profile means: its fallback mode and default allow / deny capability sets."""

    name: str
    mode: str
    default_caps: frozenset[Capability]
    deny_caps: frozenset[Capability]
    exec_deny_threshold: str
    exec_audit_all: bool
    summary: str


# `log` and `ui` reach the operator, not the machine (rate-limited, redacted, terminal-safe): allowed
# in every profile, unlike upstream where they are in no default list (ARCHITECTURE §3.11, docs/policy.md).
# ``session_admin`` (renaming the session) is deliberately in no default list: one extension must not
# change what the user and every other extension see of the session without an explicit allow.
_BASE_CAPS = frozenset(
    {Capability.READ, Capability.WRITE, Capability.HTTP, Capability.EVENTS, Capability.SESSION,
     Capability.LOG, Capability.UI}
)
_DANGEROUS = frozenset({Capability.EXEC, Capability.ENV})

PROFILE_SPECS: Final[Mapping[str, ProfileSpec]] = {
    "safe": ProfileSpec(
        "safe", "strict", _BASE_CAPS, _DANGEROUS, "high", True,
        "strict: only read, write, http, events, session, log, ui; exec and env denied; everything else denied",
    ),
    "balanced": ProfileSpec(
        "balanced", "prompt", _BASE_CAPS, _DANGEROUS, "critical", True,
        "prompt: read, write, http, events, session, log, ui allowed; exec and env denied; others ask the user",
    ),
    "permissive": ProfileSpec(
        "permissive", "permissive", frozenset(), frozenset(), "critical", False,
        "permissive: everything allowed unless denied per extension",
    ),
}
