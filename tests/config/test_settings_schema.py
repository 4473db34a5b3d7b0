"""docs/schemas/settings.schema.json: published from the parser's own tables, and it agrees with the parser."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jsonschema
import pytest

from pi_sandbox.config.settings_file import parse_settings
from pi_sandbox.config.settings_schema import render, settings_schema
from pi_sandbox.errors import ConfigError

PUBLISHED = Path(__file__).resolve().parents[2] / "docs" / "schemas" / "settings.schema.json"
VALIDATOR = jsonschema.Draft202012Validator(settings_schema())

ACCEPTED: list[dict[str, Any]] = [
    {},
    {"theme": "dark", "packages": ["npm:x"]},  # pi's own keys are not ours to judge
    {"extensionPolicy": {"profile": "balanced", "allowDangerous": False,
                         "execMediation": {"denyThreshold": "high", "allowEnv": ["LANG"]},
                         "http": {"allowHosts": ["api.example.com"], "timeoutMs": 5000},
                         "quota": {"maxMemoryMb": 64},
                         "perExtension": {"a.b": {"allow": ["exec"], "mode": "prompt", "quota": {"maxHttpRequests": 3},
                                                  "http": {"allowHosts": ["x.dev"]}, "sandbox": {"network": True},
                                                  "readSecretFiles": [".env"]}}},
     "extensionRisk": {"alpha": 0.5, "enforce": True},
     "extensionRuntime": {"callTimeoutMs": 100, "hostcallDeadlineMs": {"fs": 500, "net": 10}, "maxFsIoBytes": 9},
     "extensions": ["./ext.ts"]},
]
REJECTED: list[dict[str, Any]] = [
    {"extensionPolicy": {"allowDangerus": True}},
    {"extensionPolicy": {"allowDangerous": "yes"}},
    {"extensionPolicy": {"execMediation": {"denyThreshold": "extreme"}}},
    {"extensionPolicy": {"quota": {"maxMemoryMb": 0}}},
    {"extensionPolicy": {"perExtension": {"a": {"allow": ["teleport"]}}}},
    {"extensionPolicy": {"perExtension": {"a": {"mode": "maybe"}}}},
    {"extensionPolicy": {"perExtension": {"a": {"sandbox": {"network": 1}}}}},
    {"extensionRisk": {"alpha": 2}},
    {"extensionRuntime": {"callTimeoutMs": 1.5}},
    {"extensionRuntime": {"hostcallDeadlineMs": {"fsx": 5}}},
    {"extensionRuntime": {"hostcallDeadlineMs": {"fs": 0}}},
    {"extensions": "one.ts"},
]


def test_published_schema_is_current() -> None:
    assert PUBLISHED.read_text(encoding="utf-8") == render(), (
        "regenerate: python -m pi_sandbox.config.settings_schema > docs/schemas/settings.schema.json")
    jsonschema.Draft202012Validator.check_schema(settings_schema())


@pytest.mark.parametrize("settings", ACCEPTED)
def test_schema_accepts_what_the_parser_accepts(settings: dict[str, Any]) -> None:
    parse_settings(settings, "test")
    VALIDATOR.validate(settings)


@pytest.mark.parametrize("settings", REJECTED)
def test_schema_rejects_what_the_parser_rejects(settings: dict[str, Any]) -> None:
    with pytest.raises(ConfigError):
        parse_settings(settings, "test")
    with pytest.raises(jsonschema.ValidationError):
        VALIDATOR.validate(settings)
