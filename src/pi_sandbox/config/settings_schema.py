"""The JSON Schema of pi-sandbox's part of ``settings.json``, built from the parser's own key tables.

Built rather than hand-written so it cannot drift from what ``settings_file`` accepts; the published
copy is ``docs/schemas/settings.schema.json`` (regenerate it with
``python -m pi_sandbox.config.settings_schema > docs/schemas/settings.schema.json``; a test compares
them). Keys are given in their canonical camelCase spelling; the parser also accepts snake_case.
Other top-level keys belong to pi itself and are left open.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from pi_sandbox.capabilities import ALL_CAPABILITIES, KNOWN_METHODS
from pi_sandbox.config import settings_file as sf
from pi_sandbox.config.model import GRANT_SOURCES, MODES, RISK_TIERS, RiskSettings, RuntimeSettings, TrustSettings

SCHEMA_ID = "https://pi-sandbox.invalid/schemas/settings.schema.json"
_STRINGS: dict[str, Any] = {"type": "array", "items": {"type": "string"}}
_CAPS: dict[str, Any] = {"type": "array", "items": {"enum": sorted(c.value for c in ALL_CAPABILITIES)}}


def _value_schema(validate: sf.Validator) -> dict[str, Any]:
    """The JSON Schema of what one validator accepts."""
    known: dict[Any, dict[str, Any]] = {
        sf._bool: {"type": "boolean"},
        sf._str: {"type": "string"},
        sf._pos_int: {"type": "integer", "minimum": 1},
        sf._unit_float: {"type": "number", "minimum": 0, "maximum": 1},
        sf._abs_path: {"type": "string", "description": "absolute path (~ expanded)"},
        sf._caps: _CAPS,
        sf.RISK_TIER: {"enum": list(RISK_TIERS)},
        sf.MODE: {"enum": list(MODES)},
        sf._deadlines: {"type": "object", "description": "hostcall method -> deadline in ms",
                        "properties": {m: {"type": "integer", "minimum": 1} for m in sorted(KNOWN_METHODS)},
                        "additionalProperties": False},
    }
    for lists in (sf._str_list, sf._hosts, sf._globs, sf._relative_names, sf._host_paths, sf._env_names):
        known[lists] = _STRINGS
    if validate not in known:
        raise KeyError(f"no JSON Schema for validator {validate!r}; add it to settings_schema")
    return dict(known[validate])


def _section(spec: Mapping[str, tuple[str, sf.Validator]], extra: Mapping[str, Any] | None = None,
             defaults: object | None = None) -> dict[str, Any]:
    """One object of the schema; ``defaults`` (the settings dataclass) gives each scalar key its ``default``."""
    properties = {key: _value_schema(validate) for key, (_field, validate) in spec.items()}
    if defaults is not None:
        for key, (field_name, _validate) in spec.items():
            value = getattr(defaults, field_name)
            if isinstance(value, (bool, int, float, str)):
                properties[key]["default"] = value
    properties.update(extra or {})
    return {"type": "object", "properties": dict(sorted(properties.items())), "additionalProperties": False}


def settings_schema() -> dict[str, Any]:
    """JSON Schema (draft 2020-12) of the pi-sandbox keys of a settings file."""
    override = {
        "allow": _CAPS,
        "deny": _CAPS,
        "mode": _value_schema(sf.MODE),
        "readSecretFiles": _STRINGS,
        "sources": {"type": "array", "minItems": 1, "items": {"enum": list(GRANT_SOURCES)},
                    "description": "identity sources the grants are for (default: installed, global, path)"},
        "quota": _section(sf.QUOTA_KEYS),
        "http": {"type": "object", "additionalProperties": False,
                 "properties": {key: _STRINGS for key in sorted(sf.OVERRIDE_HTTP_KEYS)}},
        "sandbox": _section(sf.EXT_SANDBOX_KEYS),
    }
    subsections = {name.split(".", 1)[1]: _section(spec) for name, spec in sf.SECTIONS.items()
                   if name.startswith("extensionPolicy.")}
    subsections["perExtension"] = {
        "type": "object",
        "propertyNames": {"minLength": 1, "pattern": r"\S"},
        "additionalProperties": {"type": "object", "additionalProperties": False,
                                 "properties": dict(sorted(override.items()))},
    }
    top = {
        "extensionPolicy": _section(sf.SECTIONS["extensionPolicy"], subsections),
        **{name: _section(sf.SECTIONS[name], defaults=defaults) for name, defaults in (
            ("extensionRisk", RiskSettings()), ("extensionTrust", TrustSettings()),
            ("extensionRuntime", RuntimeSettings()))},
        "extensions": _STRINGS,
    }
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "pi-sandbox settings (the pi-sandbox keys of pi's settings.json)",
        "type": "object",
        "properties": top,
        "additionalProperties": True,
    }


def render() -> str:
    """The published text of the schema (stable key order, trailing newline)."""
    return json.dumps(settings_schema(), indent=2) + "\n"


if __name__ == "__main__":
    print(render(), end="")
