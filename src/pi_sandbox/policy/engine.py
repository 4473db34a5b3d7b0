"""The 5-layer capability policy evaluation (INV-003..007).

Layers, in fixed order: 1 per-extension deny → 2 global deny → 3 per-extension allow →
4 default caps → 5 mode fallback (per-extension mode if set, else the profile's). The result is a
pure function of the compiled policy, the extension id and the capability.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final

from pi_sandbox.capabilities import DANGEROUS_CAPABILITIES, Capability, parse_capability
from pi_sandbox.config.model import SecurityConfig
from pi_sandbox.policy.profiles import PROFILE_SPECS
from pi_sandbox.vocabulary import PolicyOutcome, Reason

ALLOW: Final = PolicyOutcome.ALLOW
PROMPT: Final = PolicyOutcome.PROMPT
DENY: Final = PolicyOutcome.DENY


@dataclass(frozen=True)
class PolicyDecision:
    """Outcome of static policy evaluation: decision, the layer (1–5) that decided, reason code."""

    decision: PolicyOutcome
    layer: int
    reason: Reason
    capability: Capability
    extension_id: str | None = None

    def to_dict(self) -> dict[str, object]:
        return {"decision": self.decision, "layer": self.layer, "reason": self.reason,
                "capability": self.capability.value}


@dataclass(frozen=True)
class CompiledOverride:
    allow: frozenset[Capability]
    deny: frozenset[Capability]
    mode: str | None


@dataclass(frozen=True)
class CompiledPolicy:
    """A policy ready for O(1) evaluation: sets of capabilities, overrides keyed by extension id."""

    profile: str
    mode: str
    default_caps: frozenset[Capability]
    deny_caps: frozenset[Capability]
    overrides: Mapping[str, CompiledOverride]
    dangerous_unblocked: frozenset[Capability]

    @classmethod
    def from_config(cls, config: SecurityConfig) -> CompiledPolicy:
        """Expand the profile, apply ``allowDangerous`` and compile per-extension overrides."""
        spec = PROFILE_SPECS[config.profile]
        deny = spec.deny_caps
        unblocked: frozenset[Capability] = frozenset()
        if config.allow_dangerous:
            unblocked = deny & DANGEROUS_CAPABILITIES
            deny = deny - DANGEROUS_CAPABILITIES
        overrides = {
            ext_id: CompiledOverride(
                allow=frozenset(Capability(c) for c in o.allow),
                deny=frozenset(Capability(c) for c in o.deny),
                mode=o.mode,
            )
            for ext_id, o in config.per_extension.items()
        }
        return cls(config.profile, spec.mode, spec.default_caps, deny, MappingProxyType(overrides), unblocked)

    def evaluate(self, capability: Capability, extension_id: str | None = None) -> PolicyDecision:
        """Run the five layers for one capability and (optionally) one extension."""
        override = self.overrides.get(extension_id) if extension_id is not None else None
        if override is not None and capability in override.deny:
            return PolicyDecision(DENY, 1, Reason.EXTENSION_DENY, capability, extension_id)
        if capability in self.deny_caps:
            return PolicyDecision(DENY, 2, Reason.DENY_CAPS, capability, extension_id)
        if override is not None and capability in override.allow:
            return PolicyDecision(ALLOW, 3, Reason.EXTENSION_ALLOW, capability, extension_id)
        if capability in self.default_caps:
            return PolicyDecision(ALLOW, 4, Reason.DEFAULT_CAPS, capability, extension_id)
        mode = override.mode if override is not None and override.mode is not None else self.mode
        if mode == "strict":
            return PolicyDecision(DENY, 5, Reason.NOT_IN_DEFAULT_CAPS, capability, extension_id)
        if mode == "prompt":
            return PolicyDecision(PROMPT, 5, Reason.PROMPT_REQUIRED, capability, extension_id)
        return PolicyDecision(ALLOW, 5, Reason.PERMISSIVE, capability, extension_id)


def evaluate_capability(
    config: SecurityConfig, capability: str | Capability, extension_id: str | None = None
) -> PolicyDecision:
    """Evaluate one capability for one extension under ``config`` (convenience wrapper)."""
    cap = capability if isinstance(capability, Capability) else parse_capability(capability)
    return CompiledPolicy.from_config(config).evaluate(cap, extension_id)
