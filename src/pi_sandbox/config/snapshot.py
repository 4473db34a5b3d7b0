"""A resolved configuration as plain JSON (a *snapshot*), its content digest, and back.

Every ledger entry names the digest of the configuration it was decided under, and the audit store
keeps each snapshot once under its digest, so forensic replay can re-evaluate an old call under the
rules that were in force then. The snapshot is generic over the frozen dataclasses of
:mod:`.model` (a new setting is captured without touching this module) and leaves out the
supervisor's environment: it would carry secret values.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

from pi_sandbox.config.model import SecurityConfig
from pi_sandbox.errors import ConfigError
from pi_sandbox.hashing import canonical_json, sha256_hex

#: Fields never captured: the environment holds secret values; warnings are about this run only.
_EXCLUDED: Final = frozenset({"environ", "warnings"})


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value) if f.name not in _EXCLUDED}
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (frozenset, set)):
        return sorted(_plain(v) for v in value)
    if isinstance(value, (tuple, list)):
        return [_plain(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    return value


def plain(value: Any) -> Any:
    """Any settings value (a dataclass, mapping, set ...) as the JSON values a snapshot holds."""
    return _plain(value)


def snapshot(config: SecurityConfig) -> dict[str, Any]:
    """The resolved configuration as JSON values (no environment, no secrets)."""
    data: dict[str, Any] = _plain(config)
    return data


def snapshot_digest(data: Mapping[str, Any]) -> str:
    """SHA-256 of the snapshot's canonical JSON: the id of a configuration version."""
    return sha256_hex(canonical_json(dict(data)))


def _build(hint: Any, value: Any) -> Any:
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None:
            return None
        return _build(next(a for a in typing.get_args(hint) if a is not type(None)), value)
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        hints = typing.get_type_hints(hint)
        known = {f.name for f in dataclasses.fields(hint)}
        return hint(**{k: _build(hints[k], v) for k, v in dict(value).items() if k in known})
    if hint is Path:
        return Path(value)
    if origin is tuple:
        item = typing.get_args(hint)[0]
        return tuple(_build(item, v) for v in value)
    if origin is frozenset:
        return frozenset(_build(typing.get_args(hint)[0], v) for v in value)
    if origin in (Mapping, dict, typing.Mapping):
        item = typing.get_args(hint)[1]
        return types.MappingProxyType({k: _build(item, v) for k, v in dict(value).items()})
    if hint is float and isinstance(value, int):
        return float(value)
    return value


def from_snapshot(data: Mapping[str, Any]) -> SecurityConfig:
    """The configuration a snapshot describes (its environment empty); ``ConfigError`` when malformed."""
    try:
        config = _build(SecurityConfig, data)
    except (TypeError, ValueError, KeyError, AttributeError, StopIteration) as exc:
        raise ConfigError(f"configuration snapshot cannot be read back ({exc})") from None
    assert isinstance(config, SecurityConfig)
    return config
