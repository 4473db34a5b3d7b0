"""The effective settings as rows (``pi-sandbox config show``): every key, its value and the source that set it.

Sources are ``default``, ``cli``, ``env:NAME``, ``global settings <file>`` or ``project settings <file>``. Keys are
spelled as in ``settings.json``. ``null`` values mean "the profile's preset" (for example
``execMediation.denyThreshold`` in ``safe`` is ``high``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import PurePath
from typing import Any, Final

from pi_sandbox.config.model import SecurityConfig
from pi_sandbox.config.settings_file import OVERRIDE_HTTP_KEYS, QUOTA_KEYS, SECTIONS

#: Settings section → the ``SecurityConfig`` attribute that holds its resolved values.
SECTION_ATTRIBUTES: Final = {
    "extensionPolicy.execMediation": "exec_mediation",
    "extensionPolicy.secretBroker": "secret_broker",
    "extensionPolicy.http": "http",
    "extensionPolicy.sandbox": "sandbox",
    "extensionPolicy.quota": "quota",
    "extensionPolicy.ledger": "ledger",
    "extensionRisk": "risk",
    "extensionTrust": "trust",
    "extensionRuntime": "runtime",
}
#: Keys of ``extensionPolicy`` itself, resolved into top-level fields (``defaultPermissive`` folds into the profile).
_POLICY_KEYS: Final = {"profile": ("profile", "profile_source"),
                       "allowDangerous": ("allow_dangerous", "allow_dangerous_source")}


@dataclass(frozen=True)
class SettingRow:
    """One effective setting."""

    key: str
    value: Any
    source: str

    def to_dict(self) -> dict[str, Any]:
        return {"key": self.key, "value": self.value, "source": self.source}


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, tuple | frozenset | set):
        return sorted(value) if isinstance(value, frozenset | set) else list(value)
    if isinstance(value, PurePath):
        return str(value)
    return value


def effective_settings(config: SecurityConfig) -> list[SettingRow]:
    """Every pi-sandbox setting with its resolved value and source, in ``settings.json`` order."""
    rows: list[SettingRow] = []
    for json_key, (attr, source_attr) in _POLICY_KEYS.items():
        rows.append(SettingRow(f"extensionPolicy.{json_key}", getattr(config, attr), getattr(config, source_attr)))
    for section, spec in SECTIONS.items():
        holder = getattr(config, SECTION_ATTRIBUTES[section]) if section in SECTION_ATTRIBUTES else None
        if holder is None:
            continue  # extensionPolicy's own keys, above
        for json_key, (field_name, _validate) in spec.items():
            rows.append(SettingRow(f"{section}.{json_key}", _plain(getattr(holder, field_name)),
                                   config.source_of(f"{section}.{field_name}")))
    quota_keys = {field: key for key, (field, _v) in QUOTA_KEYS.items()}
    for ext_id, override in sorted(config.per_extension.items()):
        base = f"extensionPolicy.perExtension.{ext_id}"
        for name, value in (("allow", override.allow), ("deny", override.deny), ("mode", override.mode)):
            if value:
                rows.append(SettingRow(f"{base}.{name}", _plain(value), config.source_of(f"{base}.{name}")))
        if override.quota is not None:
            quota = {quota_keys[k]: v for k, v in vars(override.quota).items() if v is not None and k in quota_keys}
            rows.append(SettingRow(f"{base}.quota", quota, config.source_of(f"{base}.quota")))
        for json_key, field_name in OVERRIDE_HTTP_KEYS.items():
            value = getattr(override, field_name)
            if value:
                key = f"{base}.http.{json_key}"
                rows.append(SettingRow(key, list(value), config.source_of(key)))
        if override.sandbox.network or override.sandbox.unix_sockets:
            key = f"{base}.sandbox"
            rows.append(SettingRow(key, {"network": override.sandbox.network,
                                         "unixSockets": list(override.sandbox.unix_sockets)}, config.source_of(key)))
    if config.extensions:
        rows.append(SettingRow("extensions", [str(p) for p in config.extensions], "settings files"))
    return rows


def describe_config(config: SecurityConfig) -> dict[str, Any]:
    """``config show --json``: where things are, every setting with its source, and what was refused."""
    return {
        "agent_dir": str(config.agent_dir),
        "state_dir": str(config.state_dir),
        "project_dir": str(config.project_dir),
        "settings_files": [str(p) for p in config.settings_files],
        "settings": [row.to_dict() for row in effective_settings(config)],
        "warnings": list(config.warnings),
        "refused_loosenings": list(config.refused_loosenings),
    }
