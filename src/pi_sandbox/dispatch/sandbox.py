"""The hostcall pipeline: every effect an extension has passes through :meth:`Sandbox.hostcall`.

Stage order (ARCHITECTURE §1): validate → derive capability → trust / kill switch → policy
(+ prompt) → quota → risk → mediation → connector → redact → record. Every decision — allowed,
denied at any stage, or invalid — appends exactly one ledger entry, carrying hashes and reason
codes only (INV-012). An allowed call is recorded *before* its connector runs, so an effect can
never happen without durable evidence of the decision that permitted it.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pi_sandbox.audit import AlertDraft, AuditStore, LedgerEntryDraft
from pi_sandbox.capabilities import KNOWN_METHODS, Capability
from pi_sandbox.config.model import SecurityConfig
from pi_sandbox.config.posture import loosened_fields, security_posture
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
from pi_sandbox.connectors.tools import ToolConnector
from pi_sandbox.dispatch.mediation_gate import ExecMediationGate, RedactingConnector, exec_argv
from pi_sandbox.dispatch.request import HostcallRequest, HostcallResult, coerce_request, derive_and_check
from pi_sandbox.dispatch.stages import CallInfo, Gate, GateDenial, NoRedaction, PassThroughGate, Redactor
from pi_sandbox.errors import ConnectorError, InvalidRequestError
from pi_sandbox.hashing import is_unicode_text, params_hash, sha256_hex
from pi_sandbox.mediation.exec_mediation import ExecMediator, command_hash
from pi_sandbox.mediation.secret_broker import SecretBroker
from pi_sandbox.policy import (
    DENY,
    PROMPT,
    CompiledPolicy,
    PermissionStore,
    Prompter,
    PromptRequest,
    PromptResolver,
)
from pi_sandbox.policy.explain import remediation

_POSTURE_RECORD = "config_posture"


@dataclass
class Gates:
    """The pipeline's replaceable stage slots, in the order they run."""

    trust: Gate
    quota: Gate
    risk: Gate
    mediation: Gate

    def in_order(self) -> tuple[Gate, ...]:
        return (self.quota, self.risk, self.mediation)


class Sandbox:
    """Holds all authority: decides, records and carries out hostcalls for extensions."""

    def __init__(
        self,
        config: SecurityConfig,
        store: AuditStore,
        *,
        prompter: Prompter | None = None,
        connectors: Mapping[str, Connector] | None = None,
        gates: Gates | None = None,
        redactor: Redactor | None = None,
    ) -> None:
        self.config = config
        self.store = store
        self.policy = CompiledPolicy.from_config(config)
        self.prompts = PromptResolver(PermissionStore(config.state_dir), prompter)
        self.bus = EventBus()
        self.session = SessionStore()
        fs = FsConnector()
        self.tools = ToolConnector(fs)
        self.broker = SecretBroker(config.secret_broker, config.environ)
        self.exec = ExecConnector(self.broker)
        self.connectors: dict[str, Connector] = {
            "fs": fs,
            "log": RedactingConnector(LogConnector(), self.broker),
            "events": EventsConnector(self.bus),
            "session": SessionConnector(self.session),
            "ui": HeadlessUiConnector(),
            "tool": self.tools,
            "exec": self.exec,
            "env": EnvConnector(self.broker),
            "http": HttpConnector(self.broker),
        }
        self.connectors.update(connectors or {})
        mediation = ExecMediationGate(ExecMediator(config.exec_mediation, config.profile), self.broker, store)
        self.gates = gates or Gates(PassThroughGate("trust"), PassThroughGate("quota"), PassThroughGate("risk"),
                                    mediation)
        self.redactor: Redactor = redactor or (self.broker if config.secret_broker.enabled else NoRedaction())
        self._roots: dict[str, tuple[Path, ...]] = {}
        self._own_roots: dict[str, Path] = {}
        # Repeated policy denials of the same (extension, capability, reason) raise one alert per sandbox
        # lifetime: every call still gets its own ledger entry, but alerts stay readable for operators.
        self._alerted: set[tuple[str, str, str, str]] = set()
        self._lock = threading.Lock()
        # PI_CONFIG_PATH may name the global settings file anywhere, even inside the workspace;
        # it is not tighten-only, so an extension able to write it could loosen everything.
        config_path = config.environ.get("PI_CONFIG_PATH", "").strip()
        self._protected = (config.state_dir, config.agent_dir / "settings.json",
                           config.project_dir / ".pi" / "settings.json",
                           *((Path(config_path).expanduser(),) if config_path else ()))
        self._extension_dirs = (config.agent_dir / "extensions", config.project_dir / ".pi" / "extensions")

    @classmethod
    def open(cls, config: SecurityConfig, *, prompter: Prompter | None = None) -> Sandbox:
        """Open the audit store for ``config`` and record config opt-ins and loosening changes."""
        store = AuditStore.open(config.state_dir)
        sandbox = cls(config, store, prompter=prompter)
        sandbox.record_config_events()
        return sandbox

    # --- set-up ------------------------------------------------------------------------------

    def register_extension(self, extension_id: str, root: Path) -> None:
        """Make ``root`` (the extension's own folder) an allowed fs root for that extension only."""
        with self._lock:
            self._roots[extension_id] = (self.config.project_dir, Path(root).resolve())
            self._own_roots[extension_id] = Path(root).resolve()

    def roots_for(self, extension_id: str) -> tuple[Path, ...]:
        with self._lock:
            return self._roots.get(extension_id, (self.config.project_dir,))

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
        self.store.close()

    # --- the pipeline ------------------------------------------------------------------------

    def hostcall(self, extension_id: str, request: HostcallRequest | Mapping[str, Any]) -> HostcallResult:
        """Decide, record and (if allowed) carry out one hostcall for ``extension_id``."""
        raw_call_id = request.call_id if isinstance(request, HostcallRequest) else (
            request.get("call_id") if isinstance(request, Mapping) else None)
        call_id = raw_call_id if isinstance(raw_call_id, str) and raw_call_id.strip() else "<missing>"
        try:
            req = coerce_request(request)
            capability = derive_and_check(req)
        except InvalidRequestError as exc:
            return self._invalid(extension_id, call_id, request, str(exc))

        call = CallInfo(extension_id, req.call_id, req.method.strip().lower(), capability, req.params,
                        params_hash(req.method, req.params))
        denial = self.gates.trust.check(call)
        if denial is not None:
            return self._deny(call, denial, layer=None, stage="trust")

        decision = self.policy.evaluate(capability, extension_id)
        reason = decision.reason
        if decision.decision == PROMPT:
            resolution = self.prompts.resolve(PromptRequest(extension_id, capability, call.method,
                                                            remediation(decision, self.config)))
            reason = resolution.reason
            if not resolution.allow:
                return self._deny(call, GateDenial(
                    "denied", reason, f"capability '{capability.value}' needs the user's approval and was "
                    f"not granted ({reason}); {remediation(decision, self.config)}", "policy_violation"),
                    layer=decision.layer, stage="prompt")
        elif decision.decision == DENY:
            return self._deny(call, GateDenial(
                "denied", reason, f"capability '{capability.value}' denied by policy ({reason}, layer "
                f"{decision.layer}); {remediation(decision, self.config)}", "policy_violation"),
                layer=decision.layer, stage="policy")

        for gate in self.gates.in_order():
            denial = gate.check(call)
            if denial is not None:
                return self._deny(call, denial, layer=decision.layer, stage=gate.name)

        entry = self.store.append(LedgerEntryDraft(
            kind="hostcall", extension_id=extension_id, decision="allow", reason=reason,
            call_id=call.call_id, capability=capability.value, method=call.method,
            params_hash=call.params_hash, layer=decision.layer, detail=self._evidence(call),
        ))
        return self._run_connector(call, req, entry.seq)

    def _evidence(self, call: CallInfo) -> dict[str, Any]:
        """Hash-only detail for an allowed call's ledger entry (runbook INC-2: env reads carry name_hash)."""
        detail: dict[str, Any] = {"stage": "connector"}
        name = call.params.get("name")
        if call.method == "env" and isinstance(name, str):
            decision = self.broker.is_secret(name)
            detail.update(name_hash=decision.name_hash, secret_verdict=decision.verdict)
        argv = exec_argv(call.method, call.capability, call.params)
        if argv is not None:
            detail["command_hash"] = command_hash(*argv)
        return detail

    def _run_connector(self, call: CallInfo, req: HostcallRequest, seq: int) -> HostcallResult:
        method = "exec" if call.method == "tool" and call.capability is Capability.EXEC else call.method
        connector = self.connectors.get(method)
        if connector is None:
            return HostcallResult.error(call.call_id, "internal", f"no connector is installed for '{method}'",
                                        "no_connector", call.capability.value, seq)
        params = req.params
        if method == "exec" and call.method == "tool":
            params = {"cmd": "sh", "args": ["-c", str(dict(req.params.get("input") or {}).get("command", ""))]}
        ctx = ConnectorContext(call.extension_id, call.call_id, method, call.capability,
                               self.roots_for(call.extension_id), self.config, self.store, req.timeout_ms,
                               self._protected, self._extension_dirs, self._own_roots.get(call.extension_id))
        try:
            result = connector.call(ctx, params)
        except ConnectorError as exc:
            message = self.redactor.redact_value(str(exc))
            # A connector that refuses for secret exposure has raised its own secret_exposure alert.
            if exc.code == "denied" and exc.reason != "secret_exposure":
                self.store.record_alert(AlertDraft(
                    category="policy_violation", severity="warning", extension_id=call.extension_id,
                    summary=f"{method} refused by connector confinement", reason_codes=(exc.reason or "denied",),
                    capability=call.capability.value, method=call.method, call_id=call.call_id,
                    context_hash=call.params_hash))
                seq = self.store.append(LedgerEntryDraft(
                    kind="hostcall", extension_id=call.extension_id, decision="deny",
                    reason=exc.reason or "connector_denied", call_id=call.call_id,
                    capability=call.capability.value, method=call.method, params_hash=call.params_hash,
                    detail={"stage": "connector", "allowed_seq": seq})).seq
            return HostcallResult.error(call.call_id, exc.code, message, exc.reason, call.capability.value, seq)
        except Exception as exc:  # a connector bug must not crash the host nor leak internals
            return HostcallResult.error(call.call_id, "internal",
                                        f"internal error in the {method} connector ({type(exc).__name__})",
                                        "connector_crash", call.capability.value, seq)
        return HostcallResult(True, call.call_id, self.redactor.redact_value(result), None, None, None,
                              call.capability.value, seq)

    def _deny(self, call: CallInfo, denial: GateDenial, *, layer: int | None, stage: str) -> HostcallResult:
        entry = self.store.append(LedgerEntryDraft(
            kind="hostcall", extension_id=call.extension_id, decision="deny", reason=denial.reason,
            call_id=call.call_id, capability=call.capability.value, method=call.method,
            params_hash=call.params_hash, layer=layer, detail={"stage": stage, **denial.detail},
        ))
        alert_key = (call.extension_id, call.capability.value, denial.reason, stage)
        repeated = stage in ("policy", "prompt") and alert_key in self._alerted
        if denial.alert_category is not None and not repeated:
            with self._lock:
                self._alerted.add(alert_key)
            self.store.record_alert(AlertDraft(
                category=denial.alert_category, severity=denial.alert_severity, extension_id=call.extension_id,
                summary=f"{call.method} call needing '{call.capability.value}' refused at {stage}: {denial.reason}",
                reason_codes=(denial.reason,), capability=call.capability.value, method=call.method,
                call_id=call.call_id, action="deny", remediation=self.redactor.redact_value(denial.message),
                context_hash=call.params_hash,
            ))
        return HostcallResult.error(call.call_id, denial.code, self.redactor.redact_value(denial.message),
                                    denial.reason, call.capability.value, entry.seq)

    def _invalid(self, extension_id: str, call_id: str, request: Any, message: str) -> HostcallResult:
        raw = request.get("method") if isinstance(request, Mapping) else getattr(request, "method", None)
        raw_method = raw if isinstance(raw, str) else None
        # Only a known method name is recorded as text: anything else is free text from the extension
        # (it could carry a secret), so the ledger gets its hash.
        token = raw_method.strip().lower() if raw_method is not None else ""
        method = token if token in KNOWN_METHODS else None
        detail: dict[str, Any] = {"stage": "validate", "capability_mismatch": "does not match" in message}
        if raw_method is not None and method is None:
            detail["method_hash"] = sha256_hex(raw_method.encode("utf-8", "surrogatepass"))
        params = request.get("params") if isinstance(request, Mapping) else getattr(request, "params", None)
        mismatch = detail["capability_mismatch"]
        # The ledger stores UTF-8 text only; the caller still gets its own call_id back.
        recorded_call_id = call_id[:200] if is_unicode_text(call_id) else "<invalid>"
        entry = self.store.append(LedgerEntryDraft(
            kind="hostcall", extension_id=extension_id, decision="invalid", reason="invalid_request",
            call_id=recorded_call_id, method=method,
            params_hash=params_hash(raw_method or "", params if isinstance(params, Mapping) else None),
            detail=detail,
        ))
        if mismatch:
            self.store.record_alert(AlertDraft(
                category="policy_violation", severity="error", extension_id=extension_id,
                summary="hostcall declared a capability other than the one its method needs",
                reason_codes=("capability_mismatch",), method=method, call_id=recorded_call_id,
            ))
        return HostcallResult.error(call_id, "invalid_request", message, "invalid_request", None, entry.seq)
