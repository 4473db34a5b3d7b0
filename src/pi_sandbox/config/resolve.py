"""Resolve settings files, environment variables and CLI options into one :class:`SecurityConfig`.

Order: ``--extension-policy`` > ``PI_EXTENSION_POLICY`` > settings > ``safe``. The project's
``.pi/settings.json`` may only tighten what the global settings say (ARCHITECTURE §3.2): a loosening
there is refused, reported as a warning and listed in ``refused_loosenings``.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import fields
from pathlib import Path
from types import MappingProxyType
from typing import Any

from pi_sandbox.config.model import (
    DEFAULT_HOSTCALL_DEADLINES_MS,
    DEFAULT_PROFILE,
    LONGEST_DEFAULT_DEADLINE_MS,
    MODES,
    PROFILE_ALIASES,
    PROFILES,
    RISK_TIERS,
    STRICTEST_PRESET_DENY_TIER,
    ExecMediationSettings,
    ExtensionOverride,
    ExtensionSandbox,
    HttpSettings,
    LedgerSettings,
    QuotaSettings,
    RiskSettings,
    RuntimeSettings,
    SandboxSettings,
    SecretBrokerSettings,
    SecurityConfig,
    TrustSettings,
)
from pi_sandbox.config.paths import resolve_paths
from pi_sandbox.config.settings_file import ParsedSettings, load_settings_file
from pi_sandbox.errors import ConfigError

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}

# Field kinds that decide what "tighter" means when the project file sets them.
_TRUE_IS_STRICT = {
    "extensionPolicy.execMediation.enabled", "extensionPolicy.execMediation.audit_all_classified",
    "extensionPolicy.secretBroker.enabled", "extensionRisk.enabled", "extensionRisk.enforce",
    "extensionRisk.fail_closed",
}
_FALSE_IS_STRICT = {"extensionPolicy.allow_dangerous", "extensionPolicy.http.allow_loopback",
                    "extensionTrust.auto_promote"}
_UNION = {
    "extensionPolicy.execMediation.deny_patterns", "extensionPolicy.secretBroker.extra_names",
    "extensionPolicy.secretBroker.extra_suffixes", "extensionPolicy.secretBroker.extra_prefixes",
    "extensionPolicy.http.deny_hosts", "extensionPolicy.sandbox.protected_paths",
    "extensionPolicy.sandbox.hidden_paths", "extensionPolicy.secretBroker.extra_secret_files",
}
_SMALLER_IS_STRICT_SECTIONS = {"extensionPolicy.quota", "extensionRuntime"}
_SMALLER_IS_STRICT = {
    "extensionPolicy.http.max_response_bytes", "extensionPolicy.http.timeout_ms",
    "extensionPolicy.http.connect_timeout_ms", "extensionPolicy.http.read_timeout_ms",
    "extensionPolicy.http.max_redirects",
    "extensionTrust.quarantine_after_quota_breaches", "extensionTrust.quarantine_after_risk_denials",
    "extensionTrust.quarantine_after_integrity_failures", "extensionTrust.probation_quota_factor",
}
_LARGER_IS_STRICT = {"extensionTrust.promote_after_hostcalls", "extensionTrust.promote_after_hours"}
#: Per-method maps where each entry is tightened on its own (the smaller deadline wins).
_SMALLER_PER_KEY = {"extensionRuntime.hostcall_deadline_ms"}


def normalize_profile(token: str) -> str | None:
    """Fold a profile name (``standard`` → ``balanced``); ``None`` when unknown."""
    name = token.strip().lower()
    name = PROFILE_ALIASES.get(name, name)
    return name if name in PROFILES else None


def _env_bool(env: Mapping[str, str], name: str) -> bool | None:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return None
    token = raw.strip().lower()
    if token in _TRUE:
        return True
    if token in _FALSE:
        return False
    raise ConfigError(f"expected 1/true/yes/on or 0/false/no/off, got '{raw}'", source=f"environment {name}")


def _env_number(env: Mapping[str, str], name: str, kind: type) -> Any:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return None
    try:
        value = kind(raw.strip())
    except ValueError:
        raise ConfigError(f"expected a {kind.__name__}, got '{raw}'", source=f"environment {name}") from None
    if not math.isfinite(value) or value <= 0:
        raise ConfigError(f"expected a positive value, got '{raw}'", source=f"environment {name}")
    return value


class _Merger:
    """Accumulates values per ``section.field`` with their source, enforcing tighten-only."""

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}
        self.provenance: dict[str, str] = {}
        self.warnings: list[str] = []
        self.refused: list[str] = []

    def set(self, key: str, value: Any, source: str) -> None:
        self.values[key] = value
        self.provenance[key] = source

    def refuse(self, key: str, source: str, why: str) -> None:
        self.refused.append(key)
        self.warnings.append(f"{source}: '{key}' ignored: project settings may only tighten security ({why})")

    def tighten(self, key: str, value: Any, source: str, current: Any) -> None:
        section = key.rsplit(".", 1)[0]
        if key in _TRUE_IS_STRICT:
            ok = bool(value) or current is False  # None = the profile preset, which may be True
        elif key in _FALSE_IS_STRICT:
            ok = (not value) or bool(current)
        elif key in _UNION:
            self.set(key, tuple(dict.fromkeys((*current, *value))), source)
            return
        elif key in _SMALLER_PER_KEY:
            longer = sorted(k for k, v in value.items()
                            if v > current.get(k, DEFAULT_HOSTCALL_DEADLINES_MS.get(k, LONGEST_DEFAULT_DEADLINE_MS)))
            if longer:
                self.refuse(key, source, f"it would lengthen the deadline of {', '.join(longer)}")
            tightened = {k: v for k, v in value.items() if k not in longer}
            self.set(key, MappingProxyType({**current, **tightened}), source)
            return
        elif section in _SMALLER_IS_STRICT_SECTIONS or key in _SMALLER_IS_STRICT:
            ok = current is None or value <= current
        elif key in _LARGER_IS_STRICT:
            ok = current is None or value >= current
        elif key == "extensionPolicy.execMediation.deny_threshold":
            ok = RISK_TIERS.index(value) <= RISK_TIERS.index(current or STRICTEST_PRESET_DENY_TIER)
        elif key == "extensionPolicy.http.allow_hosts":
            # A project may only keep hosts the user allowed: with no global list it may add none (in
            # `safe` that would open hosts), and emptying a list is refused (in `permissive` an empty
            # list means any public host).
            narrowed = tuple(h for h in value if h in current)
            if not narrowed and (value or current):
                self.refuse(key, source, f"it may only keep hosts of the user's list {current!r}")
            else:
                self.set(key, narrowed, source)
            return
        else:
            ok = value == current
        if ok:
            self.set(key, value, source)
        else:
            self.refuse(key, source, f"it would change {current!r} to {value!r}")


def _apply_file(merger: _Merger, parsed: ParsedSettings, defaults: Mapping[str, Any], project: bool) -> None:
    for section, values in parsed.values.items():
        for field_name, value in values.items():
            key = f"{section}.{field_name}"
            if key == "extensionPolicy.profile":
                continue  # resolved separately (aliases, unknown names)
            if project:
                merger.tighten(key, value, parsed.source, merger.values.get(key, defaults.get(key)))
            else:
                merger.set(key, value, parsed.source)


def _defaults() -> dict[str, Any]:
    out: dict[str, Any] = {"extensionPolicy.allow_dangerous": False, "extensionPolicy.default_permissive": None}
    for section, cls in (
        ("extensionPolicy.execMediation", ExecMediationSettings),
        ("extensionPolicy.secretBroker", SecretBrokerSettings),
        ("extensionPolicy.http", HttpSettings),
        ("extensionPolicy.sandbox", SandboxSettings),
        ("extensionPolicy.quota", QuotaSettings),
        ("extensionPolicy.ledger", LedgerSettings),
        ("extensionRisk", RiskSettings),
        ("extensionTrust", TrustSettings),
        ("extensionRuntime", RuntimeSettings),
    ):
        instance = cls()
        for f in fields(cls):
            out[f"{section}.{f.name}"] = getattr(instance, f.name)
    return out


def _build(cls: type, section: str, values: Mapping[str, Any]) -> Any:
    return cls(**{f.name: values[f"{section}.{f.name}"] for f in fields(cls) if f"{section}.{f.name}" in values})


def _merge_overrides(
    global_file: ParsedSettings | None, project_file: ParsedSettings | None, merger: _Merger
) -> dict[str, ExtensionOverride]:
    result: dict[str, ExtensionOverride] = {}
    for parsed, is_project in ((global_file, False), (project_file, True)):
        if parsed is None:
            continue
        for ext_id, raw in parsed.per_extension.items():
            base = result.get(ext_id, ExtensionOverride())
            key = f"extensionPolicy.perExtension.{ext_id}"
            allow, deny, mode, quota, box = base.allow, base.deny, base.mode, base.quota, base.sandbox
            http_allow, http_deny = base.http_allow_hosts, base.http_deny_hosts
            secret_files, sources = base.read_secret_files, base.sources
            if raw.sources is not None:
                if is_project and not raw.sources <= base.sources:
                    merger.refuse(f"{key}.sources", parsed.source, "it would grant to more identity sources")
                else:
                    sources = raw.sources
                    merger.provenance[f"{key}.sources"] = parsed.source
            if raw.read_secret_files is not None:
                if is_project and set(raw.read_secret_files) - set(secret_files):
                    merger.refuse(f"{key}.readSecretFiles", parsed.source, "it would expose more secret files")
                else:
                    secret_files = raw.read_secret_files
                    merger.provenance[f"{key}.readSecretFiles"] = parsed.source
            if raw.http_deny_hosts is not None:
                http_deny = tuple(dict.fromkeys((*http_deny, *raw.http_deny_hosts))) if is_project \
                    else raw.http_deny_hosts
                merger.provenance[f"{key}.http.denyHosts"] = parsed.source
            if raw.http_allow_hosts is not None:
                if is_project and set(raw.http_allow_hosts) - set(http_allow):
                    merger.refuse(f"{key}.http.allowHosts", parsed.source, "it would allow more hosts")
                else:
                    http_allow = raw.http_allow_hosts
                    merger.provenance[f"{key}.http.allowHosts"] = parsed.source
            if raw.deny is not None:
                deny = deny | raw.deny if is_project else raw.deny
                merger.provenance[f"{key}.deny"] = parsed.source
            if raw.allow is not None:
                if is_project and not raw.allow <= base.allow:
                    merger.refuse(f"{key}.allow", parsed.source, "it would allow more capabilities")
                else:
                    allow = raw.allow
                    merger.provenance[f"{key}.allow"] = parsed.source
            if raw.mode is not None:
                if is_project and base.mode is not None and MODES.index(raw.mode) > MODES.index(base.mode):
                    merger.refuse(f"{key}.mode", parsed.source, f"'{raw.mode}' is looser than '{base.mode}'")
                elif is_project and base.mode is None and raw.mode != "strict":
                    merger.refuse(f"{key}.mode", parsed.source, "only 'strict' may be set by a project")
                else:
                    mode = raw.mode
                    merger.provenance[f"{key}.mode"] = parsed.source
            if raw.quota is not None:
                # An extension's quota starts from the global quota, so a project file naming one
                # limit can neither raise it above the global value nor reset the others to defaults.
                current = dict(vars(quota)) if quota is not None else {
                    f.name: merger.values.get(f"extensionPolicy.quota.{f.name}") for f in fields(QuotaSettings)
                }
                for name, value in raw.quota.items():
                    old = current.get(name)
                    current[name] = min(value, old) if (is_project and old is not None) else value
                quota = QuotaSettings(**current)
                merger.provenance[f"{key}.quota"] = parsed.source
            if raw.sandbox is not None:
                box = _merge_ext_sandbox(box, raw.sandbox, is_project, f"{key}.sandbox", parsed.source, merger)
            result[ext_id] = ExtensionOverride(allow=allow, deny=deny, mode=mode, quota=quota,
                                               http_allow_hosts=http_allow, http_deny_hosts=http_deny, sandbox=box,
                                               read_secret_files=secret_files, sources=sources)
    return result


def _merge_ext_sandbox(base: ExtensionSandbox, raw: Mapping[str, Any], is_project: bool, key: str, source: str,
                       merger: _Merger) -> ExtensionSandbox:
    """A project may turn the network off and drop sockets, never open more than the global file did."""
    network = raw.get("network", base.network)
    sockets = tuple(raw.get("unix_sockets", base.unix_sockets))
    if is_project and network and not base.network:
        merger.refuse(f"{key}.network", source, "it would open the network to exec children")
        network = base.network
    if is_project and not set(sockets) <= set(base.unix_sockets):
        merger.refuse(f"{key}.unixSockets", source, "it would expose more unix sockets to exec children")
        sockets = base.unix_sockets
    merger.provenance[key] = source
    return ExtensionSandbox(network=bool(network), unix_sockets=sockets)


def _resolve_profile(
    cli_profile: str | None,
    env: Mapping[str, str],
    global_file: ParsedSettings | None,
    project_file: ParsedSettings | None,
    merger: _Merger,
) -> tuple[str, str | None, str]:
    candidates: list[tuple[str, str]] = []
    if cli_profile is not None:
        candidates.append((cli_profile, "cli"))
    if env.get("PI_EXTENSION_POLICY", "").strip():
        candidates.append((env["PI_EXTENSION_POLICY"], "env:PI_EXTENSION_POLICY"))
    settings_profile: tuple[str, str] | None = None
    if global_file is not None:
        policy = global_file.values.get("extensionPolicy", {})
        if "profile" in policy:
            settings_profile = (policy["profile"], global_file.source)
        elif policy.get("default_permissive") is not None:
            settings_profile = ("permissive" if policy["default_permissive"] else "safe", global_file.source)
    if project_file is not None:
        wanted = project_file.values.get("extensionPolicy", {}).get("profile")
        if wanted is not None:
            base = normalize_profile(settings_profile[0]) if settings_profile else DEFAULT_PROFILE
            folded = normalize_profile(wanted)
            if folded is not None and PROFILES.index(folded) <= PROFILES.index(base or DEFAULT_PROFILE):
                settings_profile = (wanted, project_file.source)
            else:
                merger.refuse("extensionPolicy.profile", project_file.source,
                              f"'{wanted}' is not stricter than '{base}'")
    if settings_profile is not None:
        candidates.append(settings_profile)
    if not candidates:
        return DEFAULT_PROFILE, None, "default"
    requested, source = candidates[0]
    folded = normalize_profile(requested)
    if folded is None:
        merger.warnings.append(unknown_profile_message(requested, source))
        return DEFAULT_PROFILE, requested, source
    return folded, requested, source


def unknown_profile_message(requested: str, source: str) -> str:
    """What is said about an unknown profile name: it resolves to ``safe``; the closest known name."""
    import difflib

    known = ("safe", "balanced", "standard", "permissive")
    close = difflib.get_close_matches(str(requested).strip().lower(), known, n=1, cutoff=0.6)
    hint = f"did you mean '{close[0]}'? " if close else ""
    return (f"unknown extension policy profile '{requested}' (from {source}); using 'safe' "
            f"({hint}known: {', '.join(known)})")


def resolve_config(
    *,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    cli_profile: str | None = None,
) -> SecurityConfig:
    """Resolve the effective security configuration. Raises :class:`ConfigError` on bad input."""
    env = dict(os.environ if env is None else env)
    project_dir = (cwd or Path.cwd()).resolve()
    paths = resolve_paths(env)
    agent_dir, state_dir, global_path = paths.agent_dir, paths.state_dir, paths.global_settings
    project_path = project_dir / ".pi" / "settings.json"

    global_file = load_settings_file(global_path, "global")
    project_file = None if project_path.resolve() == global_path.resolve() else load_settings_file(
        project_path, "project"
    )
    merger = _Merger()
    defaults = _defaults()
    for key, value in defaults.items():
        merger.values[key] = value
    if global_file is not None:
        _apply_file(merger, global_file, defaults, project=False)
    if project_file is not None:
        _apply_file(merger, project_file, defaults, project=True)

    profile, requested, profile_source = _resolve_profile(cli_profile, env, global_file, project_file, merger)
    merger.provenance["extensionPolicy.profile"] = profile_source

    dangerous_env = _env_bool(env, "PI_EXTENSION_ALLOW_DANGEROUS")
    if dangerous_env is not None:
        merger.set("extensionPolicy.allow_dangerous", dangerous_env, "env:PI_EXTENSION_ALLOW_DANGEROUS")
    for name, key, kind in (
        ("PI_EXTENSION_RISK_ENABLED", "extensionRisk.enabled", bool),
        ("PI_EXTENSION_RISK_ENFORCE", "extensionRisk.enforce", bool),
        ("PI_EXTENSION_RISK_FAIL_CLOSED", "extensionRisk.fail_closed", bool),
        ("PI_EXTENSION_RISK_ALPHA", "extensionRisk.alpha", float),
        ("PI_EXTENSION_RISK_WINDOW", "extensionRisk.window_size", int),
        ("PI_EXTENSION_RISK_LEDGER_LIMIT", "extensionRisk.ledger_limit", int),
        ("PI_EXTENSION_RISK_DECISION_TIMEOUT_MS", "extensionRisk.decision_timeout_ms", int),
    ):
        value = _env_bool(env, name) if kind is bool else _env_number(env, name, kind)
        if key == "extensionRisk.alpha" and value is not None and not 0 < value < 1:
            # the same range extensionRisk.alpha has in settings files
            raise ConfigError(f"expected a number between 0 and 1, got '{env[name]}'", source=f"environment {name}")
        if value is not None:
            merger.set(key, value, f"env:{name}")
    if env.get("PI_HTTP_ALLOW_LOOPBACK") == "1":
        merger.set("extensionPolicy.http.allow_loopback", True, "env:PI_HTTP_ALLOW_LOOPBACK")

    values = merger.values
    extensions: tuple[Path, ...] = ()
    for parsed in (global_file, project_file):
        if parsed is not None and parsed.extensions is not None:
            extensions = tuple(dict.fromkeys((*extensions, *parsed.extensions)))
    # Paths only the project file names are the project's code, wherever they point (identity source).
    own = set(global_file.extensions or ()) if global_file is not None else set()
    from_project = tuple(p for p in (project_file.extensions or ()) if p not in own) if project_file else ()
    return SecurityConfig(
        agent_dir=agent_dir,
        state_dir=state_dir,
        project_dir=project_dir,
        profile=profile,
        requested_profile=requested,
        profile_source=profile_source,
        allow_dangerous=bool(values["extensionPolicy.allow_dangerous"]),
        allow_dangerous_source=merger.provenance.get("extensionPolicy.allow_dangerous", "default"),
        per_extension=MappingProxyType(_merge_overrides(global_file, project_file, merger)),
        exec_mediation=_build(ExecMediationSettings, "extensionPolicy.execMediation", values),
        secret_broker=_build(SecretBrokerSettings, "extensionPolicy.secretBroker", values),
        http=_build(HttpSettings, "extensionPolicy.http", values),
        sandbox=_build(SandboxSettings, "extensionPolicy.sandbox", values),
        quota=_build(QuotaSettings, "extensionPolicy.quota", values),
        trust=_build(TrustSettings, "extensionTrust", values),
        risk=_build(RiskSettings, "extensionRisk", values),
        ledger=_build(LedgerSettings, "extensionPolicy.ledger", values),
        runtime=_build(RuntimeSettings, "extensionRuntime", values),
        extensions=extensions,
        project_extensions=from_project,
        settings_files=tuple(p.path for p in (global_file, project_file) if p is not None and p.path),
        environ=MappingProxyType(env),
        provenance=MappingProxyType(dict(merger.provenance)),
        warnings=tuple(merger.warnings),
        refused_loosenings=tuple(merger.refused),
    )
