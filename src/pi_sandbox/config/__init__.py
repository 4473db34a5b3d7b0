"""Settings files, environment and CLI → one resolved, immutable :class:`SecurityConfig`."""

from pi_sandbox.config.model import (
    DEFAULT_PROFILE,
    MODES,
    PROFILES,
    RISK_TIERS,
    ExecMediationSettings,
    ExtensionOverride,
    HttpSettings,
    QuotaSettings,
    RiskSettings,
    RuntimeSettings,
    SecretBrokerSettings,
    SecurityConfig,
)
from pi_sandbox.config.paths import PiPaths, resolve_paths
from pi_sandbox.config.resolve import normalize_profile, resolve_config

__all__ = [
    "DEFAULT_PROFILE",
    "MODES",
    "PROFILES",
    "RISK_TIERS",
    "ExecMediationSettings",
    "ExtensionOverride",
    "HttpSettings",
    "PiPaths",
    "QuotaSettings",
    "RiskSettings",
    "RuntimeSettings",
    "SecretBrokerSettings",
    "SecurityConfig",
    "normalize_profile",
    "resolve_config",
    "resolve_paths",
]
