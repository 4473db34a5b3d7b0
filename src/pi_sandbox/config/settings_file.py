"""Reading and validating one ``settings.json``: every key we own is checked, none silently dropped.

pi's settings files also hold keys that belong to the agent (model, theme, ...): unknown *top-level*
keys are left alone, but inside the sections pi-sandbox owns (``extensionPolicy``, ``extensionRisk``,
``extensionTrust``, ``extensionRuntime``, ``extensions``) an unknown key or a wrong type is a :class:`ConfigError` that
names the file and the dotted key.
"""

from __future__ import annotations

import difflib
import json
import os
import re
import stat
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

from pi_sandbox.capabilities import ALL_CAPABILITIES, KNOWN_METHODS
from pi_sandbox.config.hosts import parse_host_pattern
from pi_sandbox.config.model import GRANT_SOURCES, LOADER_ENV_PREFIXES, MODES, RISK_TIERS
from pi_sandbox.errors import ConfigError

Validator = Callable[[Any, str, str], Any]
_CAPS = {c.value for c in ALL_CAPABILITIES}


def _type_name(value: Any) -> str:
    return {dict: "object", list: "array", str: "string", bool: "boolean", type(None): "null"}.get(
        type(value), "number"
    )


def _bool(value: Any, src: str, key: str) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(f"expected true or false, got {_type_name(value)}", source=src, key=key)
    return value


def _str(value: Any, src: str, key: str) -> str:
    if not isinstance(value, str):
        raise ConfigError(f"expected a string, got {_type_name(value)}", source=src, key=key)
    return value


def _pos_int(value: Any, src: str, key: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ConfigError(f"expected a positive integer, got {json.dumps(value)}", source=src, key=key)
    return int(value)


def _unit_float(value: Any, src: str, key: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < 1:
        raise ConfigError(f"expected a number between 0 and 1, got {json.dumps(value)}", source=src, key=key)
    return float(value)


def _str_list(value: Any, src: str, key: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError("expected an array of strings", source=src, key=key)
    return tuple(value)


def _grant_sources(value: Any, src: str, key: str) -> frozenset[str]:
    """``perExtension.<id>.sources``: a non-empty list of identity sources."""
    items = _str_list(value, src, key)
    unknown = [i for i in items if i not in GRANT_SOURCES]
    if unknown or not items:
        raise ConfigError(f"expected a non-empty array of identity sources ({', '.join(GRANT_SOURCES)})"
                          + (f"; unknown: {', '.join(unknown)}" if unknown else ""), source=src, key=key)
    return frozenset(items)


def _hosts(value: Any, src: str, key: str) -> tuple[str, ...]:
    items = _str_list(value, src, key)
    for item in items:
        try:
            parse_host_pattern(item)
        except ValueError as exc:
            raise ConfigError(f"'{item}': {exc}", source=src, key=key) from None
    return tuple(dict.fromkeys(item.strip() for item in items))


def _globs(value: Any, src: str, key: str) -> tuple[str, ...]:
    items = _str_list(value, src, key)
    for item in items:
        if not item.strip() or "\x00" in item:
            raise ConfigError(f"expected file-name globs (like '.env.example' or 'config/*.pem'), got "
                              f"{json.dumps(item)}", source=src, key=key)
    return tuple(dict.fromkeys(item.strip() for item in items))


def _abs_path(value: Any, src: str, key: str) -> Path:
    text = _str(value, src, key).strip()
    try:
        path = Path(text).expanduser() if text else None
    except RuntimeError:  # an unknown ~user
        path = None
    if path is None or not path.is_absolute():
        raise ConfigError(f"expected an absolute file path, got {json.dumps(value)}", source=src, key=key)
    return path


def relative_name(raw: str) -> str | None:
    """A protected-path entry in canonical form (``./.Tool/rc/`` → ``.tool/rc``); None when invalid.

    Entries name files or folders inside a writable root, so they are relative, without ``..``, and
    compared case-insensitively (casefolded here, once).
    """
    parts = [p for p in raw.strip().replace("\\", "/").split("/") if p not in ("", ".")]
    if not parts or raw.strip().startswith(("/", "~")) or ".." in parts or "\0" in raw:
        return None
    return "/".join(parts).casefold()


def _relative_names(value: Any, src: str, key: str) -> tuple[str, ...]:
    out = []
    for item in _str_list(value, src, key):
        name = relative_name(item)
        if name is None:
            raise ConfigError(f"'{item}' must be a relative path inside the workspace (no '/', '~' or '..' "
                              "at the start)", source=src, key=key)
        out.append(name)
    return tuple(dict.fromkeys(out))


def _host_paths(value: Any, src: str, key: str) -> tuple[str, ...]:
    items = _str_list(value, src, key)
    for item in items:
        if not item.startswith(("/", "~/")) or "\0" in item or ".." in item.split("/"):
            raise ConfigError(f"'{item}' must be an absolute path or start with '~/' (no '..')", source=src, key=key)
    return tuple(dict.fromkeys(items))


def _env_names(value: Any, src: str, key: str) -> tuple[str, ...]:
    items = _str_list(value, src, key)
    for item in items:
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", item):
            raise ConfigError(f"'{item}' is not an environment variable name", source=src, key=key)
        if item.upper().startswith(LOADER_ENV_PREFIXES):
            raise ConfigError(f"'{item}' is a loader variable; no setting lets an extension set it for a child",
                              source=src, key=key)
    return items


def _caps(value: Any, src: str, key: str) -> frozenset[str]:
    items = _str_list(value, src, key)
    out = set()
    for item in items:
        token = item.strip().lower()
        if token not in _CAPS:
            close = difflib.get_close_matches(token, sorted(_CAPS), n=1, cutoff=0.6)
            hint = f"did you mean '{close[0]}'? " if close else ""
            raise ConfigError(
                f"unknown capability '{item}' ({hint}known: {', '.join(sorted(_CAPS))})", source=src, key=key
            )
        out.add(token)
    return frozenset(out)


def _deadlines(value: Any, src: str, key: str) -> Mapping[str, int]:
    """``{method: ms}`` for the methods given; an unknown method or a non-positive value is an error."""
    if not isinstance(value, dict):
        raise ConfigError(f"expected an object of method: milliseconds, got {_type_name(value)}", source=src, key=key)
    out: dict[str, int] = {}
    for method, ms in value.items():
        if method not in KNOWN_METHODS:
            raise ConfigError(f"unknown hostcall method (known: {', '.join(sorted(KNOWN_METHODS))})",
                              source=src, key=f"{key}.{method}")
        out[method] = _pos_int(ms, src, f"{key}.{method}")
    return MappingProxyType(out)


def _one_of(choices: tuple[str, ...]) -> Validator:
    def check(value: Any, src: str, key: str) -> str:
        token = _str(value, src, key).strip().lower()
        if token not in choices:
            raise ConfigError(f"expected one of {', '.join(choices)}, got '{value}'", source=src, key=key)
        return token

    return check


#: ``execMediation.denyThreshold`` (named so the published JSON Schema can state its choices).
RISK_TIER = _one_of(RISK_TIERS)
MODE = _one_of(MODES)

QUOTA_KEYS: Mapping[str, tuple[str, Validator]] = {
    "maxMemoryMb": ("max_memory_mb", _pos_int),
    "maxCpuTimeMs": ("max_cpu_time_ms", _pos_int),
    "maxHostcallsPerSecond": ("max_hostcalls_per_second", _pos_int),
    "hostcallBurst": ("hostcall_burst", _pos_int),
    "maxSubprocesses": ("max_subprocesses", _pos_int),
    "maxSubprocessesTotal": ("max_subprocesses_total", _pos_int),
    "maxWriteBytes": ("max_write_bytes", _pos_int),
    "maxReadBytes": ("max_read_bytes", _pos_int),
    "maxHttpRequests": ("max_http_requests", _pos_int),
    "maxHttpBytes": ("max_http_bytes", _pos_int),
    "maxExecWallMs": ("max_exec_wall_ms", _pos_int),
}

#: section path → {json key: (dataclass field, validator)}
SECTIONS: Mapping[str, Mapping[str, tuple[str, Validator]]] = {
    "extensionPolicy": {
        "profile": ("profile", _str),
        "allowDangerous": ("allow_dangerous", _bool),
        "defaultPermissive": ("default_permissive", _bool),
    },
    "extensionPolicy.execMediation": {
        "enabled": ("enabled", _bool),
        "denyThreshold": ("deny_threshold", RISK_TIER),
        "denyPatterns": ("deny_patterns", _str_list),
        "allowPatterns": ("allow_patterns", _str_list),
        "auditAllClassified": ("audit_all_classified", _bool),
        "allowEnv": ("allow_env", _env_names),
    },
    "extensionPolicy.secretBroker": {
        "enabled": ("enabled", _bool),
        "redactionPlaceholder": ("redaction_placeholder", _str),
        "disclosureAllowlist": ("disclosure_allowlist", _str_list),
        "extraNames": ("extra_names", _str_list),
        "extraSuffixes": ("extra_suffixes", _str_list),
        "extraPrefixes": ("extra_prefixes", _str_list),
        "extraSecretFiles": ("extra_secret_files", _globs),
    },
    "extensionPolicy.http": {
        "allowHosts": ("allow_hosts", _hosts),
        "denyHosts": ("deny_hosts", _hosts),
        "allowLoopback": ("allow_loopback", _bool),
        "maxResponseBytes": ("max_response_bytes", _pos_int),
        "timeoutMs": ("timeout_ms", _pos_int),
        "connectTimeoutMs": ("connect_timeout_ms", _pos_int),
        "readTimeoutMs": ("read_timeout_ms", _pos_int),
        "maxRedirects": ("max_redirects", _pos_int),
    },
    "extensionPolicy.sandbox": {
        "protectedPaths": ("protected_paths", _relative_names),
        "hiddenPaths": ("hidden_paths", _host_paths),
        "readOnlyPaths": ("read_only_paths", _host_paths),
    },
    "extensionPolicy.quota": QUOTA_KEYS,
    "extensionPolicy.ledger": {
        "anchorCopy": ("anchor_copy", _abs_path),
    },
    "extensionRisk": {
        "enabled": ("enabled", _bool),
        "enforce": ("enforce", _bool),
        "alpha": ("alpha", _unit_float),
        "windowSize": ("window_size", _pos_int),
        "ledgerLimit": ("ledger_limit", _pos_int),
        "decisionTimeoutMs": ("decision_timeout_ms", _pos_int),
        "failClosed": ("fail_closed", _bool),
    },
    "extensionTrust": {
        "autoPromote": ("auto_promote", _bool),
        "promoteAfterHostcalls": ("promote_after_hostcalls", _pos_int),
        "promoteAfterHours": ("promote_after_hours", _pos_int),
        "quarantineAfterQuotaBreaches": ("quarantine_after_quota_breaches", _pos_int),
        "quarantineAfterRiskDenials": ("quarantine_after_risk_denials", _pos_int),
        "quarantineAfterIntegrityFailures": ("quarantine_after_integrity_failures", _pos_int),
        "probationQuotaFactor": ("probation_quota_factor", _unit_float),
    },
    "extensionRuntime": {
        "callTimeoutMs": ("call_timeout_ms", _pos_int),
        "maxMemoryMb": ("max_memory_mb", _pos_int),
        "maxStackKb": ("max_stack_kb", _pos_int),
        "hostcallDeadlineMs": ("hostcall_deadline_ms", _deadlines),
        "maxFsIoBytes": ("max_fs_io_bytes", _pos_int),
        "sessionMaxEntries": ("session_max_entries", _pos_int),
        "sessionMaxBytes": ("session_max_bytes", _pos_int),
        "maxAlertsPerMinute": ("max_alerts_per_minute", _pos_int),
        "maxRecordsPerMinute": ("max_records_per_minute", _pos_int),
    },
}
_SUBSECTIONS = {"execMediation", "secretBroker", "http", "sandbox", "quota", "ledger", "perExtension"}
_OWN_TOP_LEVEL = {"extensionPolicy", "extensionRisk", "extensionTrust", "extensionRuntime", "extensions"}
OVERRIDE_KEYS = {"allow", "deny", "mode", "quota", "http", "sandbox", "readSecretFiles", "sources"}
#: ``perExtension.<id>.http`` keys → ParsedOverride fields.
OVERRIDE_HTTP_KEYS: Mapping[str, str] = {"allowHosts": "http_allow_hosts", "denyHosts": "http_deny_hosts"}
#: ``perExtension.<id>.sandbox`` keys → (field of ``ExtensionSandbox``, validator).
EXT_SANDBOX_KEYS: Mapping[str, tuple[str, Validator]] = {
    "network": ("network", _bool),
    "unixSockets": ("unix_sockets", _host_paths),
}
_SNAKE = re.compile(r"_([a-z])")


def _unknown(key: str, known: list[str]) -> str:
    """The message for an unknown key: the closest known key first, then all of them."""
    close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
    hint = f"did you mean '{close[0]}'? " if close else ""
    return f"unknown setting ({hint}known keys here: {', '.join(known)})"


def _camel(key: str) -> str:
    """Accept snake_case spellings of our keys (``allow_dangerous`` → ``allowDangerous``)."""
    return _SNAKE.sub(lambda m: m.group(1).upper(), key)


@dataclass(frozen=True)
class ParsedOverride:
    """One ``perExtension.<id>`` entry as written in a file."""

    allow: frozenset[str] | None = None
    deny: frozenset[str] | None = None
    mode: str | None = None
    quota: Mapping[str, int] | None = None
    http_allow_hosts: tuple[str, ...] | None = None
    http_deny_hosts: tuple[str, ...] | None = None
    sandbox: Mapping[str, Any] | None = None
    read_secret_files: tuple[str, ...] | None = None
    sources: frozenset[str] | None = None


@dataclass(frozen=True)
class ParsedSettings:
    """The pi-sandbox part of one settings file: ``values[section][field]`` plus overrides."""

    source: str
    path: Path | None
    values: Mapping[str, Mapping[str, Any]]
    per_extension: Mapping[str, ParsedOverride]
    extensions: tuple[Path, ...] | None


class _JsonObject(dict[str, Any]):
    """A decoded JSON object that remembers the keys written more than once (``json`` keeps the last)."""

    duplicates: tuple[str, ...] = ()


def _json_object(pairs: list[tuple[str, Any]]) -> _JsonObject:
    obj = _JsonObject(pairs)
    if len(obj) != len(pairs):
        counts = Counter(k for k, _ in pairs)
        obj.duplicates = tuple(k for k, n in counts.items() if n > 1)
    return obj


def _twice(value: dict[str, Any], normalise: Callable[[str], str]) -> list[str]:
    """Keys of ``value`` set more than once: JSON duplicates, or two spellings of one key."""
    counts = Counter(normalise(k) for k in (*value, *getattr(value, "duplicates", ())))
    return sorted(n for n, count in counts.items() if count > 1)


def _object(value: Any, src: str, key: str, *, ids: bool = False) -> dict[str, Any]:
    """``value`` as an object whose keys are each set once (``ids``: keys are ids, not setting names).

    A key given twice is ambiguous: a reader of the file sees one value while another takes effect.
    """
    if not isinstance(value, dict):
        raise ConfigError(f"expected an object, got {_type_name(value)}", source=src, key=key)
    for name in _twice(value, (lambda k: k) if ids else _camel):
        raise ConfigError("is set more than once (or under two spellings); keep one", source=src,
                          key=f"{key}.{name}")
    return value


def _parse_section(raw: dict[str, Any], section: str, src: str) -> dict[str, Any]:
    spec = SECTIONS[section]
    out: dict[str, Any] = {}
    for json_key, value in raw.items():
        key = _camel(json_key)
        dotted = f"{section}.{key}"
        if section == "extensionPolicy" and key in _SUBSECTIONS:
            continue
        if key not in spec:
            known = sorted(spec) + (sorted(_SUBSECTIONS) if section == "extensionPolicy" else [])
            raise ConfigError(_unknown(key, known), source=src, key=dotted)
        field_name, validate = spec[key]
        out[field_name] = validate(value, src, dotted)
    return out


def _parse_override(ext_id: str, raw: Any, src: str) -> ParsedOverride:
    base = f"extensionPolicy.perExtension.{ext_id}"
    body = _object(raw, src, base)
    fields: dict[str, Any] = {}
    for json_key, value in body.items():
        key = _camel(json_key)
        dotted = f"{base}.{key}"
        if key not in OVERRIDE_KEYS:
            raise ConfigError(_unknown(key, sorted(OVERRIDE_KEYS)), source=src, key=dotted)
        if key in ("allow", "deny"):
            fields[key] = _caps(value, src, dotted)
        elif key == "mode":
            fields["mode"] = MODE(value, src, dotted)
        elif key == "sources":
            fields["sources"] = _grant_sources(value, src, dotted)
        elif key == "readSecretFiles":
            fields["read_secret_files"] = _globs(value, src, dotted)
        elif key == "http":
            for h_key, h_value in _object(value, src, dotted).items():
                h = _camel(h_key)
                if h not in OVERRIDE_HTTP_KEYS:
                    raise ConfigError(_unknown(h, sorted(OVERRIDE_HTTP_KEYS)), source=src, key=f"{dotted}.{h}")
                fields[OVERRIDE_HTTP_KEYS[h]] = _hosts(h_value, src, f"{dotted}.{h}")
        elif key == "sandbox":
            box: dict[str, Any] = {}
            for s_key, s_value in _object(value, src, dotted).items():
                name = _camel(s_key)
                if name not in EXT_SANDBOX_KEYS:
                    raise ConfigError(f"unknown sandbox setting (known: {', '.join(sorted(EXT_SANDBOX_KEYS))})",
                                      source=src, key=f"{dotted}.{name}")
                field_name, validate = EXT_SANDBOX_KEYS[name]
                box[field_name] = validate(s_value, src, f"{dotted}.{name}")
            fields["sandbox"] = box
        else:
            quota: dict[str, int] = {}
            for q_key, q_value in _object(value, src, dotted).items():
                q = _camel(q_key)
                if q not in QUOTA_KEYS:
                    raise ConfigError(_unknown(q, sorted(QUOTA_KEYS)), source=src, key=f"{dotted}.{q}")
                field_name, validate = QUOTA_KEYS[q]
                quota[field_name] = validate(q_value, src, f"{dotted}.{q}")
            fields["quota"] = quota
    return ParsedOverride(**fields)


def _edits(a: str, b: str) -> int:
    """Levenshtein distance (the keys compared are a few dozen characters)."""
    row = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        prev, row[0] = row[0], i
        for j, cb in enumerate(b, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (ca != cb))
    return row[-1]


def _misspelt_own_key(name: str) -> str | None:
    """Our top-level key that ``name`` is a misspelling of, or None.

    Other top-level keys belong to pi and are left alone, but a near miss of ours is a typo whose whole
    section would be ignored without a word (a ``deny`` the user believes is in force). Only unmistakable
    ones count, so no pi key is ever refused: the same letters in another case or with ``-``/``_``, or at most
    two edits from one of the long section names (``extensionPolcy``)."""
    if _camel(name) in _OWN_TOP_LEVEL:
        return None
    folded = name.lower().replace("_", "").replace("-", "")
    for own in sorted(_OWN_TOP_LEVEL):
        if folded == own.lower() or (len(own) >= 12 and _edits(folded, own.lower()) <= 2):
            return own
    return None


def parse_settings(data: Any, source: str, path: Path | None = None) -> ParsedSettings:
    """Validate the pi-sandbox sections of a decoded settings document."""
    if not isinstance(data, dict):
        raise ConfigError(f"expected an object, got {_type_name(data)}", source=source, key="(top level)")
    root: dict[str, Any] = data
    for name in root:
        own = _misspelt_own_key(name)
        if own is not None:
            raise ConfigError(f"unknown setting (did you mean '{own}'? keys are case-sensitive; as written, "
                              f"pi-sandbox would ignore the whole section)", source=source, key=name)
    for name in _twice(root, _camel):
        if name in _OWN_TOP_LEVEL:  # other top-level keys belong to pi itself
            raise ConfigError("is set more than once (or under two spellings); keep one", source=source, key=name)
    values: dict[str, dict[str, Any]] = {}
    per_extension: dict[str, ParsedOverride] = {}
    policy = root.get("extensionPolicy", root.get("extension_policy"))
    if policy is not None:
        policy = _object(policy, source, "extensionPolicy")
        values["extensionPolicy"] = _parse_section(policy, "extensionPolicy", source)
        for json_key, value in policy.items():
            key = _camel(json_key)
            if key == "perExtension":
                for ext_id, raw in _object(value, source, "extensionPolicy.perExtension", ids=True).items():
                    if not ext_id.strip():
                        raise ConfigError("extension id must not be empty", source=source,
                                          key="extensionPolicy.perExtension")
                    per_extension[ext_id] = _parse_override(ext_id, raw, source)
            elif key in _SUBSECTIONS:
                section = f"extensionPolicy.{key}"
                values[section] = _parse_section(_object(value, source, section), section, source)
    for section in ("extensionRisk", "extensionTrust", "extensionRuntime"):
        raw = root.get(section, root.get(re.sub(r"([A-Z])", r"_\1", section).lower()))
        if raw is not None:
            values[section] = _parse_section(_object(raw, source, section), section, source)
    extensions = None
    if "extensions" in root:
        items = _str_list(root["extensions"], source, "extensions")
        base = path.parent if path is not None else Path.cwd()
        try:
            extensions = tuple((base / Path(item).expanduser()).resolve() for item in items)
        except RuntimeError as exc:  # expanduser of an unknown ~user
            raise ConfigError(f"cannot expand a path: {exc}", source=source, key="extensions") from None
    return ParsedSettings(source, path, values, per_extension, extensions)


def _read_regular_text(path: Path) -> str:
    """The file's UTF-8 text; a pipe or device is refused without reading (a FIFO would block forever,
    and a project's ``.pi/settings.json`` comes with whatever repository was cloned)."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(f"{path} is not a regular file")
        return handle.read().decode("utf-8")


def load_settings_file(path: Path, source: str) -> ParsedSettings | None:
    """Read and validate one settings file; ``None`` when it does not exist."""
    label = f"{source} settings {path}"
    try:
        text = _read_regular_text(path)
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read settings file: {exc}", source=label) from None
    try:
        data = json.loads(text, object_pairs_hook=_json_object)
    except json.JSONDecodeError as exc:
        raise ConfigError(
            f"invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}", source=label
        ) from None
    except RecursionError:
        raise ConfigError("invalid JSON: nested too deeply to read", source=label) from None
    return parse_settings(data, label, path)
