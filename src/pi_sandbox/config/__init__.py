"""Settings files, environment and CLI → one resolved, immutable :class:`SecurityConfig`."""

from pi_sandbox.config.model import (
    DEFAULT_PROFILE,
    MODES,
    PROFILES,
    RISK_TIERS,
    ExecMediationSettings,
    ExtensionOverride,
    ExtensionSandbox,
    HttpSettings,
    QuotaSettings,
    RiskSettings,
    RuntimeSettings,
    SandboxSettings,
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
    "ExtensionSandbox",
    "HttpSettings",
    "PiPaths",
    "QuotaSettings",
    "RiskSettings",
    "RuntimeSettings",
    "SandboxSettings",
    "SecretBrokerSettings",
    "SecurityConfig",
    "normalize_profile",
    "resolve_config",
    "resolve_paths",
]
