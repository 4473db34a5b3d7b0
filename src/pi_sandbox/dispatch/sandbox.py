"""``Sandbox``: holds all authority for one agent session and wires the hostcall pipeline.

It builds the one ordered list of stages (``dispatch.pipeline``) from the resolved configuration,
installs the connectors, keeps each extension's path rules, and records configuration events
(``allowDangerous`` opt-in, loosened settings) when it opens. Stages and connectors see the
configuration without the supervisor's environment, and record through the narrow evidence port.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

from pi_sandbox.audit import AuditStore, LedgerEntryDraft
from pi_sandbox.audit.port import EvidenceLimits, StoreEvidence
from pi_sandbox.audit.telemetry import TelemetrySink
from pi_sandbox.config.locations import pi_extension_folders, sandboxed_extension_folders
from pi_sandbox.config.model import QuotaSettings, SecurityConfig
from pi_sandbox.config.posture import loosened_fields, security_posture
from pi_sandbox.config.snapshot import snapshot, snapshot_digest
from pi_sandbox.connectors.base import Connector, ConnectorContext
from pi_sandbox.connectors.env import EnvConnector
from pi_sandbox.connectors.events import (
    EventBus,
    EventsConnector,
    HeadlessUiConnector,
    SessionConnector,
    SessionStore,
)
from pi_sandbox.connectors.exec import ExecConnector
from pi_sandbox.connectors.fs import FsConnector
from pi_sandbox.connectors.http import HttpConnector
from pi_sandbox.connectors.log import LogConnector
from pi_sandbox.connectors.net import NetConnector
from pi_sandbox.connectors.output import OperatorOutput
from pi_sandbox.connectors.tools import ToolConnector
from pi_sandbox.dispatch.call import CallInfo, Stage, instance_with, plain_frozen
from pi_sandbox.dispatch.pipeline import NoRedaction, Pipeline, Redactor, record_timeout
from pi_sandbox.dispatch.request import HostcallRequest, HostcallResult
from pi_sandbox.dispatch.stages import CapabilityStage, MediationStage, PolicyStage, QuotaStage, RiskStage, TrustStage
from pi_sandbox.hashing import sha256_hex
from pi_sandbox.identity import ExtensionIdentity, SourceKind, kind_of_source_key
from pi_sandbox.mediation.exec_mediation import ExecMediator
from pi_sandbox.mediation.paths import PathRules
from pi_sandbox.mediation.secret_broker import SecretBroker
from pi_sandbox.mediation.secret_files import SECRET_FILE_PATTERNS, SecretFiles
from pi_sandbox.policy import CompiledPolicy, PermissionStore, Prompter, PromptResolver
from pi_sandbox.quota import QuotaBreach, QuotaMeter, scaled
from pi_sandbox.risk import Observer, RiskController
from pi_sandbox.risk.calibrate import for_window as risk_calibration
from pi_sandbox.sandbox.host_code import host_code, inside
from pi_sandbox.sandbox.launch import ExecSandbox
from pi_sandbox.sandbox.protected import ProtectedNames
from pi_sandbox.trust import Controls, TransitionReason, TrustState
from pi_sandbox.vocabulary import Reason, StageName

_POSTURE_RECORD = "config_posture"
_PLAIN_CONTEXT = plain_frozen(ConnectorContext, ("extension_id", "call_id", "method", "capability", "paths", "config",
                                                 "evidence", "timeout_ms", "durable"))
_IDENTITY_MIGRATION_RECORD = "identity_migration"


class Sandbox:
    """Holds all authority: decides, records and carries out hostcalls for extensions."""

    def __init__(
        self,
        config: SecurityConfig,
        store: AuditStore,
        *,
        prompter: Prompter | None = None,
        connectors: Mapping[str, Connector] | None = None,
        stages: Mapping[StageName, Stage] | None = None,
        redactor: Redactor | None = None,
    ) -> None:
        self.config = config
        #: What stages and connectors see: the settings without the supervisor's environment.
        self.public_config = dataclasses.replace(config, environ=MappingProxyType({}))
        self.store = store
        self.evidence = StoreEvidence(store, EvidenceLimits(config.runtime.max_alerts_per_minute,
                                                            config.runtime.max_records_per_minute))
        self.policy = CompiledPolicy.from_config(config)
        self.prompts = PromptResolver(PermissionStore(config.state_dir), prompter)
        self.bus = EventBus()
        self.session = SessionStore()
        fs = FsConnector()
        self.broker = SecretBroker(config.secret_broker, config.environ)
        # grep matches what a read returns (withheld values redacted), never the raw bytes: no match oracle.
        values = self.broker.redactor
        broker_on = config.secret_broker.enabled and bool(values)
        self.tools = ToolConnector(fs, (lambda data: values.redact_bytes(data, keep_lines=True))
                                   if broker_on else None, values if broker_on else None)
        self.exec_sandbox = ExecSandbox(config)
        http = HttpConnector(self.broker)
        # Exec children with network reach only what the http connector's host policy allows.
        self.exec = ExecConnector(self.broker, self.exec_sandbox, destinations=http.destinations)
        #: Extension console and UI output for the operator (stderr; ``pi rpc`` adds a listener).
        self.output = OperatorOutput()
        self.connectors: dict[str, Connector] = {
            "fs": fs,
            "log": LogConnector(self.broker, self.output),
            "events": EventsConnector(self.bus),
            "session": SessionConnector(self.session),
            "ui": HeadlessUiConnector(self.output, self.broker),
            "tool": self.tools,
            "exec": self.exec,
            "env": EnvConnector(self.broker),
            "http": http,
            "net": NetConnector(),
        }
        self.connectors.update(connectors or {})
        self._lock = threading.Lock()
        self._closed = False
        # PI_CONFIG_PATH may name the global settings file anywhere, even inside the workspace;
        # it is not tighten-only, so an extension able to write it could loosen everything.
        config_path = config.environ.get("PI_CONFIG_PATH", "").strip()
        self._protected = (config.state_dir, config.agent_dir / "settings.json",
                           config.project_dir / ".pi" / "settings.json",
                           *((Path(config_path).expanduser(),) if config_path else ()))
        self._extension_dirs = (*pi_extension_folders(config.agent_dir, config.project_dir),
                                *sandboxed_extension_folders(config.agent_dir, config.project_dir))
        self._secret_files = SecretFiles((*SECRET_FILE_PATTERNS, *config.secret_broker.extra_secret_files),
                                         locations=self.exec_sandbox.credential_locations) \
            if config.secret_broker.enabled else None
        project = Path(config.project_dir).resolve()
        self._default_rules = PathRules((project,), self._protected, self._extension_dirs,
                                        names=ProtectedNames(config.sandbox.protected_paths),
                                        secret_files=self._secret_files,
                                        host_code=inside(host_code(self.exec_sandbox.host_code_extra), (project,)))
        self._rules: dict[str, PathRules] = {}
        self._identities: dict[str, ExtensionIdentity] = {}
        #: The configuration quotas are computed from and its cache: quota per extension, with the trust version it
        #: was computed under (probation scales it). One attribute, so that one read gets both (no lock).
        self._quota_limits: tuple[SecurityConfig, dict[str, tuple[int, QuotaSettings]]] = (config, {})
        self.controls = Controls(store, config.trust, config.state_dir)
        self._bind_unscoped_decisions()
        self.controls.subscribe(self._stop_blocked_children)
        self.quota = QuotaMeter(self.quota_limits)
        self.telemetry = TelemetrySink(store)
        self.quota_stage = QuotaStage(self.quota, self.evidence, on_breach=self._breach_feeds_trust)
        self.risk_stage = RiskStage(self._risk_controller(config))
        chosen: dict[StageName, Stage | None] = dict(stages or {})
        self._policy_stage = PolicyStage(self.policy, self.prompts, self.public_config, self.in_probation,
                                         self.identity_of)
        # The pipeline, in order. Each stage's module says what it decides; docs/pipeline.md is
        # generated from this list.
        self.pipeline = Pipeline(
            CapabilityStage(),
            (
                chosen.pop(StageName.TRUST, None) or TrustStage(self.controls),
                chosen.pop(StageName.POLICY, None) or self._policy_stage,
                chosen.pop(StageName.QUOTA, None) or self.quota_stage,
                chosen.pop(StageName.RISK, None) or self.risk_stage,
                chosen.pop(StageName.MEDIATION, None) or MediationStage(
                    ExecMediator(config.exec_mediation, config.profile), self.broker, self.evidence,
                    self.rules_for, self.exec_sandbox.support),
            ),
            self.connectors,
            self.evidence,
            self._context,
            redactor or (self.broker if config.secret_broker.enabled else NoRedaction()),
            self.telemetry,
        )
        if chosen:
            raise ValueError(f"no pipeline stage slot named {sorted(chosen)}")
        # Every entry names the configuration it was decided under; the store keeps each version once.
        self.config_snapshot = snapshot(config)
        self.config_digest = snapshot_digest(self.config_snapshot)
        store.put_config_version(self.config_digest, self.config_snapshot)
        self.pipeline.config_digest = self.config_digest

    @classmethod
    def open(cls, config: SecurityConfig, *, prompter: Prompter | None = None) -> Sandbox:
        """Open the audit store for ``config`` and record config opt-ins and loosening changes."""
        store = AuditStore.open(config.state_dir, anchor_copy=config.ledger.anchor_copy)
        sandbox = cls(config, store, prompter=prompter)
        sandbox.record_config_events()
        return sandbox

    # --- set-up ------------------------------------------------------------------------------

    def register_extension(self, extension_id: str, root: Path, read_only: tuple[Path, ...] = (),
                           writable: tuple[Path, ...] = (), *, identity: ExtensionIdentity | None = None) -> None:
        """Make ``root`` (the extension's own folder) and ``writable`` (its data/tmp dirs) fs roots for that
        extension only, and ``read_only`` (its dependency packages) readable but never writable by it.

        ``identity`` (id + source + content hash) keys its remembered prompt decisions; an ``installed``
        extension's own folder is read-only to it (fs and exec children), like every other extension's."""
        own = Path(root).resolve()
        deps = tuple(Path(p).resolve() for p in read_only)
        if identity is not None:
            self._scope_grants(identity)
        override = self.config.per_extension.get(extension_id)
        secret_files = self._secret_files
        if secret_files is not None and override is not None and override.read_secret_files:
            secret_files = secret_files.with_allowed(override.read_secret_files)
        roots = (*self._default_rules.roots, own, *deps, *(Path(w).resolve() for w in writable))
        installed = identity is not None and identity.kind is SourceKind.INSTALLED
        rules = dataclasses.replace(self._default_rules, roots=roots, own_root=own, own_read_only=installed,
                                    read_only=(*self._default_rules.read_only, *deps), secret_files=secret_files)
        with self._lock:
            self._rules[extension_id] = rules
            if identity is not None:
                self._identities[extension_id] = identity

    def _scope_grants(self, identity: ExtensionIdentity) -> None:
        """Apply ``perExtension.<id>`` to ``identity`` only as far as it grants to its source.

        An entry grants to the sources it names (by default the user's own: installed, global, path); to a
        project's extension under the same id only its restrictions apply. When that changes anything, the
        session goes on under a new configuration version (so every later entry names what it was decided
        under) and a ``config`` ledger entry says which grants were withheld from which source.
        """
        with self._lock:
            override = self.config.per_extension.get(identity.extension_id)
            if override is None:
                return
            scoped = override.for_source(str(identity.kind), self.config.quota)
            if scoped == override:
                return
            overrides = {**self.config.per_extension, identity.extension_id: scoped}
            self._use_config(dataclasses.replace(self.config, per_extension=MappingProxyType(overrides)))
        withheld = sorted(f.name for f in dataclasses.fields(override)
                          if f.name != "sources" and getattr(override, f.name) != getattr(scoped, f.name))
        self.store.append(LedgerEntryDraft(
            kind="config", extension_id=identity.extension_id, decision="deny", reason=Reason.GRANTS_NOT_FOR_SOURCE,
            detail={"source": str(identity.kind), "granted_to": sorted(override.sources), "withheld": withheld,
                    "config_digest": self.config_digest},
        ))

    def _use_config(self, config: SecurityConfig) -> None:
        """Decide from now on under ``config`` (caller holds the lock): policy, connectors, exec sandbox and the
        configuration version every entry names."""
        self.config = config
        self.public_config = dataclasses.replace(config, environ=MappingProxyType({}))
        self.policy = CompiledPolicy.from_config(config)
        self._policy_stage.policy, self._policy_stage.config = self.policy, self.public_config
        self.exec_sandbox.config = config
        # the cache was computed under the old configuration (a withheld quota raise must not stay): replaced with it
        self._quota_limits = (config, {})
        self.config_snapshot = snapshot(config)
        self.config_digest = snapshot_digest(self.config_snapshot)
        self.store.put_config_version(self.config_digest, self.config_snapshot)
        self.pipeline.config_digest = self.config_digest

    def identity_of(self, extension_id: str) -> ExtensionIdentity | None:
        """The registered identity of ``extension_id`` (None: called without a loaded extension behind it)."""
        with self._lock:
            return self._identities.get(extension_id)

    def rules_for(self, extension_id: str) -> PathRules:
        """Where ``extension_id`` may act (the workspace only, until its folder is registered)."""
        with self._lock:
            return self._rules.get(extension_id, self._default_rules)

    def roots_for(self, extension_id: str) -> tuple[Path, ...]:
        """The allowed fs roots of ``extension_id``."""
        return self.rules_for(extension_id).roots

    def _bind_unscoped_decisions(self) -> None:
        """Remembered decisions from before identities keep the meaning they had for their source: those of
        an extension trust last recorded as a project's are bound to ``project`` (recorded once)."""
        registry = self.controls.registry
        bound = self.prompts.store.bind_unscoped(lambda ext: kind_of_source_key(registry.recorded_source(ext)))
        if bound:
            self.store.record(_IDENTITY_MIGRATION_RECORD, {"decisions_bound_to_project": bound})

    def in_probation(self, extension_id: str) -> bool:
        """Whether ``extension_id`` is in probation (new or changed code)."""
        return self.controls.registry.state(extension_id) is TrustState.PROBATION

    def quota_limits(self, extension_id: str) -> QuotaSettings:
        """The extension's quota for this session (tighter while it is in probation)."""
        # Read before the state: a trust change meanwhile bumps it, so what is stored below is not reused.
        version = self.controls.registry.version
        # One configuration and its cache, read together (one attribute): ``_use_config`` (another thread) replaces
        # both at once, so a limit computed under an old configuration is never stored in the new one's cache.
        config, cache = self._quota_limits
        cached = cache.get(extension_id)
        if cached is not None and cached[0] == version:
            return cached[1]
        limits = config.quota_for(extension_id)
        if self.in_probation(extension_id):
            limits = scaled(limits, config.trust.probation_quota_factor)
        cache[extension_id] = (version, limits)
        return limits

    def _breach_feeds_trust(self, breach: QuotaBreach) -> None:
        self.controls.registry.note_event(breach.extension_id, TransitionReason.QUOTA_BREACHES)

    def _risk_controller(self, config: SecurityConfig) -> RiskController | None:
        """The runtime risk controller (None when ``extensionRisk.enabled`` is false)."""
        if not config.risk.enabled:
            return None
        secret_files = self._secret_files or SecretFiles((*SECRET_FILE_PATTERNS,
                                                          *config.secret_broker.extra_secret_files))
        return RiskController(config.risk, Observer(_RiskWorkspace(self), secret_files, config.secret_broker),
                              risk_calibration(config.risk.window_size), evidence=self.evidence,
                              on_denial=self._risk_denial_feeds_trust)

    def _risk_denial_feeds_trust(self, extension_id: str) -> None:
        self.controls.registry.note_event(extension_id, TransitionReason.RISK_DENIALS)

    def _stop_blocked_children(self) -> None:
        """A kill switch or quarantine terminates the extension's running commands at once."""
        for extension_id in self.exec.running_extensions():
            if self.controls.blocked(extension_id) is not None:
                self.exec.cancel(extension_id)

    def _context(self, call: CallInfo, method: str) -> ConnectorContext:
        # one dict lookup (atomic) without the lock, as in ``_RiskWorkspace.base``: every allowed call comes here
        rules = self._rules.get(call.extension_id, self._default_rules)
        if _PLAIN_CONTEXT:  # what the class makes, in a fifth of the instructions (``call.plain_frozen``)
            return instance_with(ConnectorContext, {
                "extension_id": call.extension_id, "call_id": call.call_id, "method": method,
                "capability": call.capability, "paths": rules, "config": self.public_config,
                "evidence": self.evidence, "timeout_ms": call.timeout_ms, "durable": None})
        return ConnectorContext(call.extension_id, call.call_id, method, call.capability, rules, self.public_config,
                                self.evidence, call.timeout_ms)

    def record_config_events(self) -> None:
        """Ledger the ``allowDangerous`` opt-in and every loosening since the last recorded posture."""
        posture = security_posture(self.config)
        if self.policy.dangerous_unblocked:
            self.store.append(LedgerEntryDraft(
                kind="config", extension_id=None, decision="allow", reason="allow_dangerous_opt_in",
                detail={"source": self.config.allow_dangerous_source, "profile": self.config.profile,
                        "capabilities_unblocked": sorted(c.value for c in self.policy.dangerous_unblocked)},
            ))
        previous = self.store.query_records(kind=_POSTURE_RECORD)
        before = dict(previous[-1].payload) if previous else None
        if before != posture:
            # First open: compare with the built-in defaults, so a config that starts out loose
            # (mediation off, allow patterns, ...) is recorded too.
            defaults = security_posture(SecurityConfig(self.config.agent_dir, self.config.state_dir,
                                                       self.config.project_dir))
            try:
                changed = loosened_fields(before or defaults, posture)
            except (TypeError, ValueError, AttributeError):  # a damaged record: compare with the defaults
                changed = loosened_fields(defaults, posture)
            if changed:
                sources = sorted({self.config.source_of(p) for p in self.config.provenance})
                self.store.append(LedgerEntryDraft(
                    kind="config", extension_id=None, decision="allow", reason="settings_loosened",
                    detail={"fields": changed, "sources_hash": sha256_hex("\n".join(sources))},
                ))
            self.store.record(_POSTURE_RECORD, posture)
        for key in self.config.refused_loosenings:
            self.store.append(LedgerEntryDraft(
                kind="config", extension_id=None, decision="deny", reason="project_loosening_refused",
                detail={"key": key},
            ))

    def close(self) -> None:
        """Stop watching controls, write the last usage and telemetry, seal the ledger (idempotent)."""
        if self._closed:
            return
        self._closed = True
        self.controls.close()
        try:
            self.quota_stage.flush()
            self.risk_stage.flush()
            self.telemetry.close()
            self.evidence.flush()  # nothing folded is left unwritten
        finally:
            self.store.close()

    # --- the pipeline ------------------------------------------------------------------------

    def hostcall(self, extension_id: str, request: HostcallRequest | Mapping[str, Any], *,
                 dry_run: bool = False) -> HostcallResult:
        """Decide, record and (if allowed and not ``dry_run``) carry out one hostcall for ``extension_id``."""
        try:
            return self.pipeline.run(extension_id, request, dry_run=dry_run)
        finally:
            # Side records noted after the call's entry (usage snapshots when it settled) are committed
            # before its result is returned; those noted while it was decided rode in the entry's commit.
            self.evidence.write_notes()

    def record_hostcall_timeout(self, extension_id: str, call_id: str, method: str,
                                params: Mapping[str, Any] | None, deadline_ms: int, *, started: bool,
                                flooded: bool = False) -> None:
        """The caller got ``timeout``: one ledger entry and one alert, naming ``extension_id`` only."""
        record_timeout(self.evidence, extension_id, call_id, method, params, deadline_ms, started=started,
                       flooded=flooded, redact=self.pipeline.redactor.redact_value,
                       config_digest=self.pipeline.config_digest)

    def record_late_completion(self, extension_id: str, call_id: str, method: str, ok: bool) -> None:
        """A call answered ``timeout`` finished after all (its effect, if any, happened late)."""
        self.evidence.note(Reason.HOSTCALL_LATE, {"call_id": call_id, "method": method[:40], "ok": ok}, extension_id)
        self.evidence.write_notes()


class _RiskWorkspace:
    """What the risk controller needs of an extension's path rules."""

    def __init__(self, sandbox: Sandbox) -> None:
        self._sandbox = sandbox

    def base(self, extension_id: str) -> str:
        # read on every risk decision: one dict lookup (atomic) without the sandbox's lock, as ``rules_for``
        # would only add the lock around it
        sandbox = self._sandbox
        return sandbox._rules.get(extension_id, sandbox._default_rules).base

    def may_read_secret(self, extension_id: str, path: str) -> bool:
        secret_files = self._sandbox.rules_for(extension_id).secret_files
        return secret_files is None or not secret_files.refused(path)
