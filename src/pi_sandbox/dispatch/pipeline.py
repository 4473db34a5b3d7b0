"""The hostcall pipeline: one ordered list of stages, then the connector that carries the call out.

Every hostcall passes, in this order (``docs/pipeline.md`` is generated from :meth:`Pipeline.describe`):
capability → trust → policy → quota → risk → mediation → connector. Each stage returns a
:class:`Verdict`; a refusal is final, and later stages can only tighten what policy granted. Every
hostcall — allowed, refused by any stage, or invalid — appends exactly one ledger entry, naming the
stage that decided, *before* the connector runs, so an effect never happens without the evidence of
the decision that permitted it. An allowed call of an effect class (``dispatch.durability``) has its
entry synced to disk before the connector runs (or, for a connector that gates its effect itself,
before it opens the gate: the exec sandbox starts up while the entry syncs); every other entry is
written before the result is returned and synced by the ledger's group commit. Entries carry hashes,
reason codes and redacted evidence only (INV-012).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any, Protocol

from pi_sandbox.audit import AlertDraft, LedgerEntryDraft
from pi_sandbox.audit.port import EvidencePort
from pi_sandbox.audit.telemetry import CallTimes, TelemetrySink
from pi_sandbox.capabilities import KNOWN_METHODS, Capability
from pi_sandbox.connectors.base import Connector, ConnectorContext
from pi_sandbox.dispatch.call import CallInfo, Outcome, Stage, Verdict
from pi_sandbox.dispatch.durability import DURABILITY, Durability
from pi_sandbox.dispatch.forensic import (
    FORENSIC_EVIDENCE_KEYS,
    ContextHashes,
    forensic_fields,
    redacted_params,
    remediation_for,
)
from pi_sandbox.dispatch.request import HostcallRequest, HostcallResult, ParamsTooDeep
from pi_sandbox.dispatch.stages.capability import CapabilityStage
from pi_sandbox.dispatch.stages.mediation import bash_command
from pi_sandbox.errors import AuditStoreError, ConnectorError, InvalidRequestError
from pi_sandbox.hashing import is_unicode_text, params_hash, sha256_hex
from pi_sandbox.vocabulary import AlertAction, AlertCategory, Decision, ErrorCode, Reason, Severity, StageName

CONNECTOR_SUMMARY = "carry the call out (fs, exec, env, http, session, ui, events, log, tool); redact the result"
#: A stage that raises is a bug: the call is refused (fail closed) with this reason.
STAGE_FAILURE = "stage_failure"
TIMEOUT_REMEDIATION = ("the host stopped waiting and answered 'timeout'; if the work is legitimate raise "
                       "extensionRuntime.hostcallDeadlineMs for this method, else inspect or disable the extension")
_STAGE_ORDER = tuple(StageName)
#: Makes a NamedTuple from all its fields without its Python-level ``__new__`` (``dispatch.call``).
_new = tuple.__new__
#: Read once per stage of every call (an enum attribute lookup costs more than the comparison).
_ALLOW, _DENY = Decision.ALLOW, Decision.DENY
_POLICY = StageName.POLICY
#: Capabilities whose entries the group commit syncs (``durability_of`` is ``GROUP``); every other one,
#: named in the table or not, is an effect.
_GROUP_CLASS = frozenset(c for c, d in DURABILITY.items() if d is Durability.GROUP)


class Redactor(Protocol):
    """Removes withheld secret values from anything leaving the supervisor."""

    def redact_value(self, value: Any) -> Any: ...


class NoRedaction:
    """Used only when the secret broker is disabled by settings."""

    def redact_value(self, value: Any) -> Any:
        return value


class Pipeline:
    """Runs the stages in order, records the one decision, then the connector."""

    def __init__(
        self,
        capability: CapabilityStage,
        stages: Sequence[Stage],
        connectors: Mapping[str, Connector],
        evidence: EvidencePort,
        context_for: Callable[[CallInfo, str], ConnectorContext],
        redactor: Redactor,
        telemetry: TelemetrySink | None = None,
    ) -> None:
        names = [capability.name, *(s.name for s in stages)]
        if [_STAGE_ORDER.index(n) for n in names] != sorted(_STAGE_ORDER.index(n) for n in names) or \
                len(set(names)) != len(names):
            raise ValueError(f"pipeline stages out of order: {[str(n) for n in names]}")
        self.capability = capability
        self.stages = tuple(stages)
        self.connectors = connectors
        self.evidence = evidence
        self.context_for = context_for
        self.redactor = redactor
        self.telemetry = telemetry
        #: Digest of the configuration snapshot in force (``config/snapshot.py``), named by every entry.
        self.config_digest: str | None = None
        self._contexts = ContextHashes()
        self._stage_count = len(self.stages)
        self._stage_names = tuple(str(s.name) for s in self.stages)
        #: (position, settle) of the stages that keep accounting, in order.
        self._settlers: tuple[tuple[int, Callable[[CallInfo, Outcome], Mapping[str, Any] | None]], ...] = tuple(
            (i, settle) for i, s in enumerate(self.stages) if (settle := getattr(s, "settle", None)) is not None)
        #: Stages that also learn of calls refused before they judged them (the risk controller scores
        #: behaviour, and refusals are part of it).
        self._observers: tuple[tuple[int, Callable[[CallInfo, Outcome], None]], ...] = tuple(
            (i, observe) for i, s in enumerate(self.stages) if (observe := getattr(s, "observe", None)) is not None)

    def describe(self) -> list[tuple[str, str]]:
        """(stage name, what it decides) for every step, in order; the connector last."""
        steps: list[tuple[str, str]] = [(self.capability.name, self.capability.summary)]
        steps += [(s.name, str(getattr(s, "summary", ""))) for s in self.stages]
        return [*steps, (StageName.CONNECTOR, CONNECTOR_SUMMARY)]

    def stage(self, name: StageName) -> Stage:
        """The stage called ``name``."""
        return next(s for s in self.stages if s.name == name)

    # --- one hostcall ----------------------------------------------------------------------------

    def run(self, extension_id: str, request: HostcallRequest | Mapping[str, Any], *,
            dry_run: bool = False) -> HostcallResult:
        """Decide, record and (if allowed) carry out one hostcall for ``extension_id``.

        ``dry_run``: every stage decides and the decision is recorded (marked ``dry_run``), but the
        connector is never called; an allowed call returns ``{"dry_run": true, "decision": "allow"}``."""
        clock = time.perf_counter_ns
        started = clock()
        try:
            call = self.capability.derive(extension_id, request)
        except InvalidRequestError as exc:
            return self._invalid(extension_id, request, str(exc))
        granted: Verdict | None = None
        evidence: dict[str, Any] = {}
        # One clock reading per stage boundary (``stamps[i]`` .. ``stamps[i + 1]`` is stage i); the telemetry
        # writer turns them into microseconds per stage name, off this path.
        stamps = [clock()]
        mark = stamps.append
        for stage in self.stages:
            try:
                verdict = stage.decide(call)
            except Exception as exc:  # a stage bug must refuse the call, never let it through
                verdict = Verdict.deny(STAGE_FAILURE, f"internal error in the {stage.name} stage "
                                       f"({type(exc).__name__}); the call was refused", code=ErrorCode.INTERNAL)
            mark(clock())
            if verdict.evidence:
                evidence.update(verdict.evidence)
            outcome = verdict.outcome
            if outcome is _DENY:
                layer = verdict.layer if verdict.layer is not None else (granted.layer if granted else None)
                result = self._deny(call, stage.name, verdict, layer, evidence, dry_run)
                self._settle(call, len(stamps) - 1, Outcome(Decision.DENY, stage.name, str(verdict.reason), False,
                                                            verdict.code), stamps, 0, started, result.ledger_seq)
                return result
            if outcome is _ALLOW:
                granted = verdict
        ran = len(stamps) - 1
        if granted is None:  # nothing granted the call: fail closed
            verdict = Verdict.deny(STAGE_FAILURE, "no stage granted this call; it was refused", code=ErrorCode.INTERNAL)
            result = self._deny(call, StageName.POLICY, verdict, None, evidence, dry_run)
            self._settle(call, ran, Outcome(Decision.DENY, StageName.POLICY, STAGE_FAILURE, False,
                                            ErrorCode.INTERNAL), stamps, 0, started, result.ledger_seq)
            return result
        effect = not dry_run and call.capability not in _GROUP_CLASS
        # A connector that holds its effect behind a gate of its own syncs the entry itself while it
        # starts up, and opens the gate only once the sync succeeded (``ConnectorContext.durable``).
        gated = effect and self._gates(call)
        reason = str(granted.reason)
        seq = self.evidence.append_decision(LedgerEntryDraft(
            kind="hostcall", extension_id=extension_id, decision=Decision.ALLOW, reason=reason,
            call_id=call.call_id, capability=str(call.capability), method=call.method,
            params_hash=call.params_hash, layer=granted.layer,
            detail=self._detail(StageName.POLICY, evidence, dry_run),
            forensic=forensic_fields(call, self.redactor.redact_value, evidence, contexts=self._contexts),
        ), sync=effect and not gated)
        t0 = clock()
        if dry_run:
            result = self._dry_run(call, seq, reason)
        else:
            result = self._carry_out(call, seq, gated)
        connector_ns = clock() - t0
        ok = result.ok
        # every field, straight to ``tuple.__new__`` (see ``CallTimes`` below)
        self._settle(call, ran, _new(Outcome, (_ALLOW, _POLICY, reason, ok, result.error_code,
                                               result.result if ok else None, connector_ns / 1e6)),
                     stamps, connector_ns, started, seq)
        return result

    def _detail(self, stage: StageName, evidence: Mapping[str, Any], dry_run: bool = False) -> dict[str, Any]:
        """The chained detail of a decision: the stage, what the stages reported (forensic keys go to the
        forensic record instead), the configuration digest, and whether it was a dry run."""
        detail: dict[str, Any] = {"stage": stage}
        for key, value in evidence.items():
            if key not in FORENSIC_EVIDENCE_KEYS:
                detail[key] = value
        if self.config_digest is not None:
            detail["config_digest"] = self.config_digest
        if dry_run:
            detail["dry_run"] = True
        return detail

    def _settle(self, call: CallInfo, ran: int, outcome: Outcome, stamps: list[int], connector_ns: int,
                started_ns: int, seq: int | None) -> None:
        """Tell the stages that judged the call how it ended (the first ``ran``), and those after them that
        observe refusals, then queue its telemetry record."""
        counts: dict[str, Any] | None = None
        for index, settle in self._settlers:
            if index >= ran:
                break
            try:
                settled = settle(call, outcome)
                if settled:
                    if counts is None:
                        counts = {}
                    counts.update(settled)
            except Exception:  # accounting bugs must not turn a decided call into a crash
                if counts is None:
                    counts = {}
                counts["settle_error"] = True
        if ran < self._stage_count:
            for index, observe in self._observers:
                if index < ran:
                    continue
                try:
                    observe(call, outcome)
                except Exception:
                    if counts is None:
                        counts = {}
                    counts["settle_error"] = True
        if self.telemetry is not None:
            # every field, straight to ``tuple.__new__`` (``CallInfo``'s reason: one Python frame less per call)
            self.telemetry.add(call.extension_id, _new(CallTimes, (
                call.call_id, seq, call.method, call.capability, outcome.decision, outcome.stage, outcome.reason,
                outcome.ok, outcome.error_code, self._stage_names, stamps, connector_ns, started_ns,
                time.perf_counter_ns(), counts)))

    def _gates(self, call: CallInfo) -> bool:
        """Whether the connector of ``call`` waits for its entry's sync itself (``waits_durable``)."""
        return getattr(self.connectors.get(route(call)[0]), "waits_durable", False) is True

    def _carry_out(self, call: CallInfo, seq: int, gated: bool = False) -> HostcallResult:
        method, params = route(call)
        connector = self.connectors.get(method)
        if connector is None:
            return HostcallResult.error(call.call_id, ErrorCode.INTERNAL, f"no connector is installed for '{method}'",
                                        Reason.NO_CONNECTOR, call.capability.value, seq)
        ctx = self.context_for(call, method)
        if gated:
            ctx = replace(ctx, durable=self.evidence.sync)
        try:
            result = connector.call(ctx, params)
        except AuditStoreError:
            raise  # the entry could not be synced: refused like an append that could not sync (no effect ran)
        except ConnectorError as exc:
            message = self.redactor.redact_value(str(exc))
            if exc.code in (ErrorCode.DENIED, ErrorCode.QUOTA_EXCEEDED, ErrorCode.TIMEOUT):
                seq = self._connector_refusal(call, exc, seq)
            return HostcallResult.error(call.call_id, exc.code, message, exc.reason, call.capability.value, seq)
        except Exception as exc:  # a connector bug must not crash the host nor leak internals
            return HostcallResult.error(call.call_id, ErrorCode.INTERNAL,
                                        f"internal error in the {method} connector ({type(exc).__name__})",
                                        Reason.CONNECTOR_CRASH, call.capability.value, seq)
        return HostcallResult.done(call.call_id, self.redactor.redact_value(result), str(call.capability), seq)

    def _dry_run(self, call: CallInfo, seq: int, reason: str) -> HostcallResult:
        """The end of an allowed dry run: the connector's own checks (``check``, when it has them) decide as
        they would for the real call — a refusal is recorded and answered the same way, marked ``dry_run`` —
        and nothing is carried out."""
        method, params = route(call)
        check = getattr(self.connectors.get(method), "check", None)
        if check is not None:
            try:
                check(self.context_for(call, method), params)
            except ConnectorError as exc:
                if exc.code in (ErrorCode.DENIED, ErrorCode.QUOTA_EXCEEDED, ErrorCode.TIMEOUT):
                    seq = self._connector_refusal(call, exc, seq, dry_run=True)
                return HostcallResult.error(call.call_id, exc.code, self.redactor.redact_value(str(exc)), exc.reason,
                                            call.capability.value, seq)
        return HostcallResult(True, call.call_id, {"dry_run": True, "decision": Decision.ALLOW}, None, None,
                              reason, str(call.capability), seq)

    def _connector_refusal(self, call: CallInfo, exc: ConnectorError, allowed_seq: int,
                           dry_run: bool = False) -> int:
        """A refusal while carrying out an allowed call (a path changed since mediation, a redirect or
        DNS answer to a refused address, a per-extension store limit, the connector's own timeout): a second
        entry linked to the first, so an extension never hears 'denied' or 'timeout' the ledger does not show."""
        reason = exc.reason or Reason.CONNECTOR_DENIED
        quota = exc.code == ErrorCode.QUOTA_EXCEEDED
        timed_out = exc.code == ErrorCode.TIMEOUT
        category = (AlertCategory.QUOTA_BREACH if quota else AlertCategory.RUNTIME if timed_out
                    else AlertCategory.POLICY_VIOLATION)
        what = "a connector limit" if quota else "the connector's own timeout" if timed_out else "connector confinement"
        self.evidence.raise_alert(AlertDraft(
            category=category,
            severity=Severity.WARNING, extension_id=call.extension_id,
            summary=f"{call.method} refused by {what}",
            reason_codes=(reason,),
            capability=call.capability.value, method=call.method, call_id=call.call_id,
            context_hash=call.params_hash))
        return self.evidence.append_decision(LedgerEntryDraft(
            kind="hostcall", extension_id=call.extension_id, decision=Decision.TIMEOUT if timed_out else Decision.DENY,
            reason=reason, call_id=call.call_id, capability=call.capability.value, method=call.method,
            params_hash=call.params_hash,
            detail={**self._detail(StageName.CONNECTOR, {}, dry_run), "allowed_seq": allowed_seq},
            forensic=forensic_fields(call, self.redactor.redact_value, {},
                                     remediation_for(StageName.CONNECTOR, reason))), sync=False)

    def _deny(self, call: CallInfo, stage: StageName, verdict: Verdict, layer: int | None,
              evidence: Mapping[str, Any], dry_run: bool = False) -> HostcallResult:
        reason = str(verdict.reason)
        message = self.redactor.redact_value(verdict.message)
        advice = remediation_for(stage, reason, verdict.remediation)
        seq = self.evidence.append_decision(LedgerEntryDraft(
            kind="hostcall", extension_id=call.extension_id, decision=Decision.DENY, reason=reason,
            call_id=call.call_id, capability=call.capability.value, method=call.method,
            params_hash=call.params_hash, layer=layer, detail=self._detail(stage, evidence, dry_run),
            forensic=forensic_fields(call, self.redactor.redact_value, evidence, advice, self._contexts),
        ), sync=False)
        if verdict.alert is not None:
            self.evidence.raise_alert(AlertDraft(
                category=verdict.alert.category, severity=verdict.alert.severity, extension_id=call.extension_id,
                summary=f"{call.method} call needing '{call.capability.value}' refused at {stage}: {reason}",
                reason_codes=(reason,), capability=call.capability.value, method=call.method,
                call_id=call.call_id, action=AlertAction.DENY,
                remediation=self.redactor.redact_value(advice), context_hash=call.params_hash,
            ))
        return HostcallResult.error(call.call_id, verdict.code, message, reason, call.capability.value, seq)

    def _invalid(self, extension_id: str, request: Any, message: str) -> HostcallResult:
        raw_call_id = request.call_id if isinstance(request, HostcallRequest) else (
            request.get("call_id") if isinstance(request, Mapping) else None)
        call_id = raw_call_id if isinstance(raw_call_id, str) and raw_call_id.strip() else "<missing>"
        raw = request.get("method") if isinstance(request, Mapping) else getattr(request, "method", None)
        raw_method = raw if isinstance(raw, str) else None
        # Only a known method name is recorded as text: anything else is free text from the extension
        # (it could carry a secret), so the ledger gets its hash.
        token = raw_method.strip().lower() if raw_method is not None else ""
        method = token if token in KNOWN_METHODS else None
        mismatch = "does not match" in message
        detail: dict[str, Any] = {**self._detail(StageName.CAPABILITY, {}), "capability_mismatch": mismatch}
        params = request.get("params") if isinstance(request, Mapping) else getattr(request, "params", None)
        if isinstance(params, ParamsTooDeep):
            detail["params_too_deep"] = True  # the worker could not read them to pass them on
        if raw_method is not None and method is None:
            detail["method_hash"] = sha256_hex(raw_method.encode("utf-8", "surrogatepass"))
        # The ledger stores UTF-8 text only; the caller still gets its own call_id back.
        recorded_call_id = call_id[:200] if is_unicode_text(call_id) else "<invalid>"
        seq = self.evidence.append_decision(LedgerEntryDraft(
            kind="hostcall", extension_id=extension_id, decision=Decision.INVALID, reason=Reason.INVALID_REQUEST,
            call_id=recorded_call_id, method=method,
            params_hash=params_hash(raw_method or "", params if isinstance(params, Mapping) else None),
            detail=detail,
            forensic={"params": redacted_params(params, self.redactor.redact_value)} if isinstance(params, Mapping)
            else None,
        ), sync=False)
        if mismatch:
            self.evidence.raise_alert(AlertDraft(
                category=AlertCategory.POLICY_VIOLATION, severity=Severity.ERROR, extension_id=extension_id,
                summary="hostcall declared a capability other than the one its method needs",
                reason_codes=(Reason.CAPABILITY_MISMATCH,), method=method, call_id=recorded_call_id,
            ))
        return HostcallResult.error(call_id, ErrorCode.INVALID_REQUEST, message, Reason.INVALID_REQUEST, None,
                                    seq)


def record_timeout(evidence: EvidencePort, extension_id: str, call_id: str, method: str,
                   params: Mapping[str, Any] | None, deadline_ms: int, *, started: bool,
                   flooded: bool = False, redact: Callable[[Any], Any] | None = None,
                   config_digest: str | None = None) -> None:
    """Ledger entry + alert for a call that ran past its deadline, charged to ``extension_id`` only.

    It is a second entry for the call id when the call had been decided (``started``), the only one
    when it was refused before running (its lane was still busy with the caller's own earlier calls, or
    ``flooded``: too many of them were waiting already). With ``redact`` (the secret broker) the entry
    gets its forensic record (redacted parameters and the advice) like every other refusal.
    """
    reason = Reason.TOO_MANY_PENDING if flooded else Reason.HOSTCALL_DEADLINE
    token = method.strip().lower()
    known = token if token in KNOWN_METHODS else None
    detail: dict[str, Any] = {"stage": StageName.CONNECTOR, "deadline_ms": deadline_ms, "started": started}
    if known is None:
        detail["method_hash"] = sha256_hex(method.encode("utf-8", "surrogatepass"))
    if config_digest is not None:
        detail["config_digest"] = config_digest
    forensic: dict[str, Any] | None = None
    if redact is not None:
        forensic = {"remediation": TIMEOUT_REMEDIATION}
        if isinstance(params, Mapping):
            forensic["params"] = redacted_params(params, redact)
    evidence.append_decision(LedgerEntryDraft(
        kind="hostcall", extension_id=extension_id, decision=Decision.TIMEOUT, reason=reason,
        call_id=call_id, method=known, params_hash=params_hash(method, params), detail=detail, forensic=forensic),
        sync=False)
    evidence.raise_alert(AlertDraft(
        category=AlertCategory.RUNTIME, severity=Severity.WARNING, extension_id=extension_id,
        summary=f"extension '{extension_id}': {known or 'hostcall'} call " + (
            "refused: too many hostcalls waiting" if flooded else f"exceeded its {deadline_ms} ms deadline"),
        reason_codes=(reason,), method=known, call_id=call_id, action=AlertAction.DENY,
        remediation=TIMEOUT_REMEDIATION))


def route(call: CallInfo) -> tuple[str, Mapping[str, Any]]:
    """The connector that carries ``call`` out, and the params it gets.

    The ``bash`` tool runs as ``sh -c <command>`` on the exec connector — exactly the argv that the
    mediation stage classified.
    """
    if call.method == "tool" and call.capability is Capability.EXEC:
        return "exec", {"cmd": "sh", "args": ["-c", bash_command(call.params)]}
    return call.method, call.params


def pipeline_table_markdown(pipeline: Pipeline) -> str:
    """The stage table of ``docs/pipeline.md``, generated from the running pipeline."""
    rows = ["| # | stage | decides |", "|---|---|---|"]
    rows += [f"| {i} | `{name}` | {summary} |" for i, (name, summary) in enumerate(pipeline.describe(), 1)]
    return "\n".join(rows) + "\n"
