"""The resolved, immutable security configuration and its parts."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Final

#: Profile names after alias folding, from least to most permissive.
PROFILES: Final[tuple[str, ...]] = ("safe", "balanced", "permissive")
PROFILE_ALIASES: Final[Mapping[str, str]] = {"standard": "balanced"}
DEFAULT_PROFILE: Final = "safe"
#: Per-extension policy modes, from most to least strict.
MODES: Final[tuple[str, ...]] = ("strict", "prompt", "permissive")
RISK_TIERS: Final[tuple[str, ...]] = ("low", "medium", "high", "critical")
#: Loader variables no setting can let an extension set for a child (``execMediation.allowEnv`` refuses them):
#: they load a shared object into every program, the sandbox's own helpers included (ARCHITECTURE §3.9).
LOADER_ENV_PREFIXES: Final[tuple[str, ...]] = ("LD_", "DYLD_", "BASH_FUNC_")
#: The strictest profile preset of ``execMediation.denyThreshold`` (``safe``: see policy/profiles.py).
#: While the global settings leave the preset, a project may not set a threshold above this one.
STRICTEST_PRESET_DENY_TIER: Final = "high"


def _frozen_map(value: Mapping[str, object] | None = None) -> Mapping[str, object]:
    return MappingProxyType(dict(value or {}))


@dataclass(frozen=True)
class QuotaSettings:
    """Resource limits of one extension for one session (``docs/configuration.md`` states the defaults).

    Rates are per second; totals count from the start of the session (a new session starts from zero).
    """

    max_memory_mb: int = 256
    max_cpu_time_ms: int = 10 * 60 * 1000
    max_hostcalls_per_second: int = 500
    hostcall_burst: int = 1000
    max_subprocesses: int = 8
    max_subprocesses_total: int = 2000
    max_write_bytes: int = 256 * 1024 * 1024
    max_read_bytes: int = 2 * 1024 * 1024 * 1024
    max_http_requests: int = 2000
    max_http_bytes: int = 512 * 1024 * 1024
    max_exec_wall_ms: int = 60 * 60 * 1000


@dataclass(frozen=True)
class TrustSettings:
    """The trust lifecycle (``extensionTrust.*``): promotion from probation, automatic quarantine."""

    #: Promote ``probation`` → ``trusted`` by itself after a clean record (no denials).
    auto_promote: bool = True
    promote_after_hostcalls: int = 500
    promote_after_hours: int = 24
    #: Quarantine automatically after this many events since the last transition.
    quarantine_after_quota_breaches: int = 20
    quarantine_after_risk_denials: int = 3
    quarantine_after_integrity_failures: int = 1
    #: Quotas of an extension in probation are the normal ones times this factor.
    probation_quota_factor: float = 0.5


@dataclass(frozen=True)
class ExtensionSandbox:
    """What one extension's exec children may reach beyond the default sandbox.

    ``network``: outbound TCP through the filtering proxy (``http`` host rules apply); ``unix_sockets``:
    socket files bound into the sandbox, which also lifts the seccomp block on ``socket(AF_UNIX)``.
    """

    network: bool = False
    unix_sockets: tuple[str, ...] = ()


#: Identity sources (``pi_sandbox.identity.SourceKind`` values) a ``perExtension.<id>`` entry can grant to.
GRANT_SOURCES: Final[tuple[str, ...]] = ("installed", "global", "path", "project")
#: ... and those it grants to unless it names ``sources``: the user's own. A project's extension under the
#: same id (a cloned repository's) gets only the entry's restrictions.
DEFAULT_GRANT_SOURCES: Final = frozenset({"installed", "global", "path"})


@dataclass(frozen=True)
class ExtensionOverride:
    """Policy rules that apply to one extension id only (INV-005), for the identity sources in ``sources``."""

    allow: frozenset[str] = frozenset()
    deny: frozenset[str] = frozenset()
    mode: str | None = None
    quota: QuotaSettings | None = None
    #: ``perExtension.<id>.http.allowHosts`` / ``.denyHosts``: added to the global lists for this extension.
    http_allow_hosts: tuple[str, ...] = ()
    http_deny_hosts: tuple[str, ...] = ()
    sandbox: ExtensionSandbox = ExtensionSandbox()
    #: ``perExtension.<id>.readSecretFiles``: secret files (globs) this extension may read and write.
    read_secret_files: tuple[str, ...] = ()
    #: ``perExtension.<id>.sources``: the identity sources the grants above are for.
    sources: frozenset[str] = DEFAULT_GRANT_SOURCES

    def for_source(self, source: str, base_quota: QuotaSettings) -> ExtensionOverride:
        """The entry as it applies to an extension from ``source``: all of it where it grants to that source;
        elsewhere only what restricts (``deny``, ``http.denyHosts``, a ``strict`` mode, each quota limit no
        higher than ``base_quota``). Grants never move to another source's code under the same id."""
        if source in self.sources:
            return self
        quota = None if self.quota is None else QuotaSettings(**{
            f: min(getattr(self.quota, f), getattr(base_quota, f)) for f in vars(base_quota)})
        return ExtensionOverride(deny=self.deny, mode="strict" if self.mode == "strict" else None, quota=quota,
                                 http_deny_hosts=self.http_deny_hosts, sources=self.sources)


@dataclass(frozen=True)
class ExecMediationSettings:
    """Exec mediation knobs; ``None`` means "use the profile preset"."""

    enabled: bool = True
    deny_threshold: str | None = None
    deny_patterns: tuple[str, ...] = ()
    allow_patterns: tuple[str, ...] = ()
    audit_all_classified: bool | None = None
    #: variable names an exec call's ``env`` may set although they inject code (``LD_PRELOAD``, ``GIT_*``...)
    allow_env: tuple[str, ...] = ()


@dataclass(frozen=True)
class SecretBrokerSettings:
    """Which environment variables are withheld from extensions, children and requests."""

    enabled: bool = True
    redaction_placeholder: str = "[REDACTED]"
    disclosure_allowlist: tuple[str, ...] = ()
    extra_names: tuple[str, ...] = ()
    extra_suffixes: tuple[str, ...] = ()
    extra_prefixes: tuple[str, ...] = ()
    #: Globs added to the built-in secret-file table (mediation/secret_files.py).
    extra_secret_files: tuple[str, ...] = ()


@dataclass(frozen=True)
class HttpSettings:
    """Outbound HTTP: which hosts (config/hosts.py patterns; empty = none in ``safe``) and limits."""

    allow_hosts: tuple[str, ...] = ()
    deny_hosts: tuple[str, ...] = ()
    allow_loopback: bool = False
    max_response_bytes: int = 10 * 1024 * 1024
    #: Whole request, redirects included (a slow-drip server cannot hold a call past it).
    timeout_ms: int = 30_000
    connect_timeout_ms: int = 5_000
    #: Longest wait for the next bytes of a response.
    read_timeout_ms: int = 10_000
    max_redirects: int = 5


@dataclass(frozen=True)
class LedgerSettings:
    """Where the ledger's head anchor is copied besides the state dir (``extensionPolicy.ledger``)."""

    #: A file every seal of the head anchor is appended to (another mount, an append-only file);
    #: global settings only.
    anchor_copy: Path | None = None


@dataclass(frozen=True)
class SandboxSettings:
    """Additions to the exec sandbox's built-in tables (``extensionPolicy.sandbox.*``); never removals.

    ``protected_paths``: workspace-relative names kept read-only (``.terraformrc``, ``deploy/hooks``);
    ``hidden_paths``: host paths (absolute or ``~/``) exec children never see; ``read_only_paths``:
    host paths inside a hidden folder (the home directory) that children may read, e.g. ``~/.nvm``.
    """

    protected_paths: tuple[str, ...] = ()
    hidden_paths: tuple[str, ...] = ()
    read_only_paths: tuple[str, ...] = ()


@dataclass(frozen=True)
class RiskSettings:
    """Runtime risk controller settings (``extensionRisk.*``): on and enforcing by default (issue 10);
    the runbook's rollback turns enforcement off (shadow mode) or the controller off."""

    enabled: bool = True
    enforce: bool = True
    alpha: float = 0.01
    window_size: int = 128
    ledger_limit: int = 2048
    decision_timeout_ms: int = 50
    fail_closed: bool = True


#: The most host time one hostcall of each method may take before its caller gets ``timeout``
#: (``extensionRuntime.hostcallDeadlineMs`` overrides single methods). ``exec`` covers the exec
#: connector's own 10-minute maximum; ``http`` the default ``http.timeoutMs`` plus DNS.
DEFAULT_HOSTCALL_DEADLINES_MS: Final[Mapping[str, int]] = MappingProxyType({
    "fs": 10_000, "tool": 30_000, "exec": 610_000, "http": 35_000, "env": 2_000,
    "session": 2_000, "events": 5_000, "ui": 5_000, "log": 2_000, "net": 2_000,
})
#: The deadline of a method the table does not name (the longest: an unknown method is refused by the
#: pipeline anyway, and its refusal must not be cut short).
LONGEST_DEFAULT_DEADLINE_MS: Final = max(DEFAULT_HOSTCALL_DEADLINES_MS.values())


@dataclass(frozen=True)
class RuntimeSettings:
    """Limits of the worker that hosts an extension, and of the host work done for it."""

    call_timeout_ms: int = 30_000
    max_memory_mb: int = 256
    max_stack_kb: int = 1024
    #: Per-method overrides of ``DEFAULT_HOSTCALL_DEADLINES_MS`` (see :meth:`deadline_ms`).
    hostcall_deadline_ms: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))
    #: Bytes one fs read or write (and the file tools built on them) may move.
    max_fs_io_bytes: int = 16 * 1024 * 1024
    #: Session entries one extension may keep, and their total size (canonical JSON bytes).
    session_max_entries: int = 1_000
    session_max_bytes: int = 1024 * 1024
    #: Alerts per extension and category, side records per extension and kind, per minute; the
    #: rest is folded into one summarizing ledger entry per minute (hostcall decisions never are).
    max_alerts_per_minute: int = 30
    max_records_per_minute: int = 300

    def deadline_ms(self, method: str) -> int:
        """The deadline of one hostcall method: the setting, else the default (the longest for an unknown one)."""
        given = self.hostcall_deadline_ms.get(method)
        if given is not None:
            return given
        return DEFAULT_HOSTCALL_DEADLINES_MS.get(method, LONGEST_DEFAULT_DEADLINE_MS)


@dataclass(frozen=True)
class SecurityConfig:
    """Everything the security layers need, resolved once from files, environment and CLI.

    ``provenance`` maps each dotted setting path to the source that set it (``default``, ``cli``,
    ``env:NAME``, ``global:<file>``, ``project:<file>``).
    """

    agent_dir: Path
    state_dir: Path
    project_dir: Path
    profile: str = DEFAULT_PROFILE
    requested_profile: str | None = None
    profile_source: str = "default"
    allow_dangerous: bool = False
    allow_dangerous_source: str = "default"
    per_extension: Mapping[str, ExtensionOverride] = field(default_factory=_frozen_map)  # type: ignore[arg-type]
    exec_mediation: ExecMediationSettings = ExecMediationSettings()
    secret_broker: SecretBrokerSettings = SecretBrokerSettings()
    http: HttpSettings = HttpSettings()
    sandbox: SandboxSettings = SandboxSettings()
    quota: QuotaSettings = QuotaSettings()
    trust: TrustSettings = TrustSettings()
    risk: RiskSettings = RiskSettings()
    ledger: LedgerSettings = LedgerSettings()
    runtime: RuntimeSettings = RuntimeSettings()
    extensions: tuple[Path, ...] = ()
    #: The ``extensions`` only the project settings file names (their code is the project's, wherever it is).
    project_extensions: tuple[Path, ...] = ()
    settings_files: tuple[Path, ...] = ()
    environ: Mapping[str, str] = field(default_factory=_frozen_map)  # type: ignore[arg-type]
    provenance: Mapping[str, str] = field(default_factory=_frozen_map)  # type: ignore[arg-type]
    warnings: tuple[str, ...] = ()
    refused_loosenings: tuple[str, ...] = ()

    def quota_for(self, extension_id: str) -> QuotaSettings:
        """The quota of one extension: its override if set, else the global quota."""
        override = self.per_extension.get(extension_id)
        if override is not None and override.quota is not None:
            return override.quota
        return self.quota

    def sandbox_for(self, extension_id: str) -> ExtensionSandbox:
        """What ``extension_id``'s exec children may reach beyond the default sandbox."""
        override = self.per_extension.get(extension_id)
        return override.sandbox if override is not None else ExtensionSandbox()

    def source_of(self, path: str) -> str:
        """Which source set the dotted setting ``path`` (``default`` when nothing did)."""
        return self.provenance.get(path, "default")
