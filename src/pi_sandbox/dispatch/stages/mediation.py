"""Stage 6: mediation — paths, exec classification and the secret broker, decided before any effect.

- **paths**: every path a call names is resolved (symlinks, ``..``) and checked against the
  extension's roots, the protected state/settings paths and other extensions' code folders;
- **exec**: ``exec`` and ``tool("bash")`` (run as ``sh -c <command>``, and classified as such) go
  through exec mediation; every decision writes an ``exec_mediation`` record;
- **sandbox**: an exec call is refused (``sandbox_unavailable``, with the cause and the fix) when
  no OS sandbox can confine the child — a command never runs unconfined;
- **secret broker**: a withheld secret value anywhere in an ``exec`` or ``http`` call is refused as
  an exposure attempt; ``env`` reads are decided and recorded by name hash; a child environment
  that asked for injection variables is recorded.
"""

from __future__ import annotations

import base64
import binascii
import functools
from collections.abc import Callable, Iterator, Mapping
from itertools import chain
from pathlib import Path
from typing import Any, Final

from pi_sandbox.audit import AlertDraft
from pi_sandbox.audit.port import EvidencePort
from pi_sandbox.capabilities import Capability
from pi_sandbox.connectors.script_reader import ConfinedScriptReader
from pi_sandbox.dispatch.call import AlertSpec, CallInfo, Verdict
from pi_sandbox.errors import ConnectorError
from pi_sandbox.mediation.exec_mediation import ExecMediationDecision, ExecMediator, command_hash
from pi_sandbox.mediation.paths import PathRules, call_paths
from pi_sandbox.mediation.secret_broker import SecretBroker, name_hash
from pi_sandbox.sandbox.support import SandboxSupport
from pi_sandbox.vocabulary import AlertAction, AlertCategory, ErrorCode, Reason, Severity, StageName

_CONFINEMENT = AlertSpec(AlertCategory.POLICY_VIOLATION, Severity.WARNING)
_SECRET_FILE = AlertSpec(AlertCategory.SECRET_EXPOSURE, Severity.WARNING)
_SECRET_FILE_ADVICE = ("the file holds secrets (.env, keys, credentials): if this extension must read it, name it in "
                       "extensionPolicy.perExtension.<id>.readSecretFiles in the global settings")
#: The methods whose calls name paths (``call_paths``), commands (``exec_argv``), outbound data (secret values),
#: environment names or write sizes; a call of any other method goes on at once unless it needs ``exec``.
MEDIATED_METHODS: Final = frozenset({"fs", "tool", "exec", "http", "env"})
_EXEC = Capability.EXEC
_PROCEED: Final = Verdict.proceed()
_MAX_READERS = 256
_SECRET_VALUE_ADVICE = "rotate the exposed credential and review how the extension obtained it"
_PATH_ADVICE = ("extensions may touch only the workspace and their own folder, never pi-sandbox state, settings "
                "or another extension's code; if the extension needs this path, move the file into the workspace")


def exec_argv(call: CallInfo) -> tuple[str, list[str]] | None:
    """The argv an ``exec`` or ``tool("bash")`` call would run (None for other calls or malformed params)."""
    if call.method == "exec":
        cmd, args = call.params.get("cmd"), call.params.get("args") or []
        if isinstance(cmd, str) and isinstance(args, (list, tuple)) and all(isinstance(a, str) for a in args):
            return cmd, list(args)
        return None
    if call.method == "tool" and call.capability is Capability.EXEC:
        return "sh", ["-c", bash_command(call.params)]
    return None


def bash_command(params: Mapping[str, Any]) -> str:
    """The shell text of a ``tool("bash")`` call (its ``input`` was checked to be an object)."""
    tool_input = params.get("input")
    return str(tool_input.get("command", "")) if isinstance(tool_input, Mapping) else ""


def write_size(call: CallInfo) -> int | None:
    """Bytes an fs ``write`` or the ``write`` tool asks to store (ledger evidence: who wrote how much)."""
    params = call.params
    if call.method == "tool" and call.capability is Capability.WRITE:
        tool_input = params.get("input")
        data = tool_input.get("content") if isinstance(tool_input, Mapping) else None
    elif call.method == "fs" and call.capability is Capability.WRITE:
        data = params.get("data", params.get("content"))
    else:
        return None
    if not isinstance(data, str):
        return None
    if params.get("encoding") == "base64":
        return len(data) * 3 // 4
    return len(data.encode("utf-8", "surrogatepass"))


def _strings(value: Any) -> Iterator[str]:
    """Every string (keys included) in a JSON value, in document order, at any depth: an explicit stack of
    iterators, so no nesting is too deep to look at (a secret 40 levels down in a body was let through)."""
    stack: list[Iterator[Any]] = [iter((value,))]
    while stack:
        for item in stack[-1]:
            if isinstance(item, str):
                yield item
            elif isinstance(item, Mapping):
                stack.append(chain.from_iterable(item.items()))  # key, value, key, value, ...
                break
            elif isinstance(item, (list, tuple)):
                stack.append(iter(item))
                break
        else:
            stack.pop()


def carried_secret(broker: SecretBroker, params: Mapping[str, Any]) -> str | None:
    """The fingerprint of the first withheld value (any spelling) in a string of ``params`` (keys included, at
    any depth), or None.

    One search over the parameters' JSON (in C) proves that no string in them holds one, which is what nearly
    every call finds; only otherwise are the strings searched one by one, for the fingerprint (an exec call's
    argv, env and stdin were one search per string, ~17 µs each with the CPU caches cold)."""
    if not broker.redactor.holds_none(params):
        found = next((f for f in map(broker.secret_fingerprint, _strings(params)) if f), None)
        if found is not None:
            return found
    return _in_binary_body(broker, params)


def _in_binary_body(broker: SecretBroker, params: Mapping[str, Any]) -> str | None:
    """The fingerprint of a withheld value in an http call's ``body_base64`` (bytes that are not text, sent as
    base64 by the runtime): searched in the bytes the connector would send, not in their base64 spelling, whose
    alignment would hide a value placed at any offset."""
    encoded = params.get("body_base64")
    if not isinstance(encoded, str):
        return None
    try:
        raw = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        return None  # not base64: the connector refuses the call
    return broker.secret_fingerprint(raw)


class MediationStage:
    """Path, exec and secret decisions; connectors after it only carry out."""

    name = StageName.MEDIATION
    summary = "path confinement, exec mediation (command classes and tiers), secret broker " \
              "(withheld values never leave; env reads by name)"

    def __init__(self, mediator: ExecMediator, broker: SecretBroker, evidence: EvidencePort,
                 rules_for: Callable[[str], PathRules], sandbox_support: Callable[[], SandboxSupport]) -> None:
        self.sandbox_support = sandbox_support
        self.mediator = mediator
        self.broker = broker
        self.evidence = evidence
        self.rules_for = rules_for
        #: One script reader per path rules (by identity; the rules hold resolved paths already).
        self._readers: dict[int, tuple[PathRules, ConfinedScriptReader]] = {}

    def decide(self, call: CallInfo) -> Verdict:
        if call.method not in MEDIATED_METHODS and call.capability is not _EXEC:
            return _PROCEED  # log, ui, session, events, net...: no path, command, secret or env name to judge
        refusal = self._paths(call)
        if refusal is not None:
            return refusal
        if call.method in ("exec", "http") or call.capability is Capability.EXEC:
            exposure = self._secret_values(call)
            if exposure is not None:
                return exposure
        argv = exec_argv(call)
        if argv is not None:
            verdict = self._exec(call, *argv)
            return verdict if verdict.denied else (self._sandbox(call, verdict) or verdict)
        if call.method == "env":
            return self._env(call)
        size = write_size(call)
        return Verdict.proceed() if size is None else Verdict.proceed({"write_bytes": size})

    # --- paths ---------------------------------------------------------------------------------

    def _paths(self, call: CallInfo) -> Verdict | None:
        pairs = call_paths(call.method, call.params)
        if not pairs:
            return None
        rules = self.rules_for(call.extension_id)
        for raw, op in pairs:
            try:
                rules.resolve_text(raw, op)
            except ConnectorError as exc:
                if exc.code != ErrorCode.DENIED:
                    return None  # a malformed path: the connector reports it as invalid_request
                if exc.reason == Reason.SECRET_FILE:
                    return Verdict.deny(Reason.SECRET_FILE, str(exc), alert=_SECRET_FILE,
                                        remediation=_SECRET_FILE_ADVICE)
                return Verdict.deny(exc.reason or Reason.PATH_OUTSIDE_ROOTS, str(exc), alert=_CONFINEMENT,
                                    remediation=_PATH_ADVICE)
        return None

    # --- secret broker -------------------------------------------------------------------------

    def _secret_values(self, call: CallInfo) -> Verdict | None:
        """Refuse a call that carries a withheld secret value to a child process or the network."""
        fingerprint = carried_secret(self.broker, call.params)
        if fingerprint is None:
            return None
        target = "exec arguments" if call.capability is Capability.EXEC else "outbound http request"
        self._alert(call, AlertCategory.SECRET_EXPOSURE, Severity.CRITICAL,
                    f"{target} carried a withheld secret value; call refused",
                    (f"secret_in_{call.method}_request" if call.method == "http" else "secret_in_exec_args",),
                    AlertAction.DENY, fingerprint, _SECRET_VALUE_ADVICE)
        if call.method == "http":
            return Verdict.deny(Reason.SECRET_EXPOSURE, "http request blocked: it carries a withheld secret value",
                                remediation=_SECRET_VALUE_ADVICE)
        self.evidence.note("exec_mediation", {
            "command_hash": self._command_hash(call), "command_class": "credential_exfil", "risk_tier": "critical",
            "decision": "deny", "reason": "secret_value_in_exec_args", "rule": "secret_in_args",
        }, call.extension_id)
        return Verdict.deny("secret_value_in_exec_args",
                            "command refused: it carries a withheld secret value (credential_exfil)",
                            evidence={"command_class": "credential_exfil", "risk_tier": "critical"},
                            remediation=_SECRET_VALUE_ADVICE)

    @staticmethod
    def _command_hash(call: CallInfo) -> str | None:
        argv = exec_argv(call)
        return command_hash(*argv) if argv is not None else None

    def _env(self, call: CallInfo) -> Verdict:
        op = call.params.get("op", "get")
        if op == "list":
            self.evidence.note("secret_broker", {"op": "list", "verdict": "listed", "rule": "visible_names_only",
                                                 "withheld_count": self.broker.withheld_count()}, call.extension_id)
            return Verdict.proceed()
        names = call.params.get("names")
        single = call.params.get("name")
        wanted = [n for n in names if isinstance(n, str)] if isinstance(names, list) else (
            [single] if isinstance(single, str) and single else [])
        evidence: dict[str, Any] = {}
        for name in wanted[:256]:
            decision = self.broker.is_secret(name)
            self.evidence.note("secret_broker", decision.record_payload(), call.extension_id)
            if decision.withheld and self.broker.is_set(name):
                self._alert(call, AlertCategory.SECRET_EXPOSURE, Severity.WARNING,
                            f"extension read a withheld environment variable ({decision.verdict})",
                            ("secret_read_attempt", decision.rule),
                            AlertAction.REDACT if decision.verdict == "redacted" else AlertAction.DENY,
                            decision.name_hash[:16],
                            "if the extension legitimately needs this variable, add it to "
                            "secretBroker.disclosureAllowlist; otherwise investigate why it asked for it")
            if isinstance(single, str) and name == single:
                evidence = {"name_hash": decision.name_hash, "secret_verdict": decision.verdict}
        return Verdict.proceed(evidence)

    # --- exec ----------------------------------------------------------------------------------

    def _exec(self, call: CallInfo, cmd: str, args: list[str]) -> Verdict:
        # What really runs: the env and stdin the call passes, and the scripts it names, read from
        # the extension's roots only (never the protected state and settings paths).
        rules = self.rules_for(call.extension_id)
        exec_call = call.method == "exec"
        env, stdin, cwd = call.params.get("env"), call.params.get("stdin"), call.params.get("cwd")
        decision = self.mediator.evaluate(
            cmd, args,
            stdin=stdin if exec_call and isinstance(stdin, str) else None,
            env={k: v for k, v in env.items() if isinstance(k, str) and isinstance(v, str)}
            if exec_call and isinstance(env, Mapping) else None,
            cwd=_joined(rules.base, cwd) if exec_call and isinstance(cwd, str) and rules.roots else (
                rules.base if rules.roots else None),
            scripts=self._reader(rules),
        )
        self.evidence.note("exec_mediation", decision.record_payload(), call.extension_id)
        self._record_child_env(call)
        classes = tuple(c for c in (decision.command_class, decision.reason) if c)
        evidence: dict[str, Any] = {"command_hash": decision.command_hash}
        if decision.denied:
            self._alert(call, AlertCategory.EXEC_MEDIATION, Severity.ERROR,
                        f"command denied by exec mediation: {decision.command_class} ({decision.risk_tier})",
                        classes, AlertAction.DENY, decision.command_hash,
                        "if the command is legitimate, add an execMediation.allowPatterns entry for it "
                        "or run it yourself; see `pi-sandbox security exec classify -- CMD...`")
            refusal = _exec_refusal(decision)
            return Verdict.deny(decision.reason, refusal, remediation=refusal, evidence={
                **evidence, "command_class": decision.command_class, "risk_tier": decision.risk_tier,
                "rule": decision.rule})
        if decision.decision == "allow_with_audit":
            self._alert(call, AlertCategory.EXEC_MEDIATION, Severity.INFO,
                        f"classified command allowed with audit: {decision.command_class} ({decision.risk_tier})",
                        classes, AlertAction.HARDEN, decision.command_hash)
            evidence.update(command_class=decision.command_class, risk_tier=decision.risk_tier)
        return Verdict.proceed(evidence)

    def _reader(self, rules: PathRules) -> ConfinedScriptReader:
        """The script reader confined to ``rules`` (made once per rules object: it holds no file state)."""
        held = self._readers.get(id(rules))
        if held is not None and held[0] is rules:
            return held[1]
        reader = ConfinedScriptReader(rules.roots, excluded=rules.protected, resolved=True,
                                      secrets=rules.secret_files)
        if len(self._readers) >= _MAX_READERS:
            self._readers.clear()  # rules objects are replaced on a configuration change: drop the old ones
        self._readers[id(rules)] = (rules, reader)
        return reader

    def _sandbox(self, call: CallInfo, allowed: Verdict) -> Verdict | None:
        """Refuse an allowed command when no OS sandbox can confine it (never run it bare)."""
        support = self.sandbox_support()
        if support.available:
            return None
        self._alert(call, AlertCategory.RUNTIME, Severity.ERROR, "exec refused: no OS sandbox for child processes",
                    (Reason.SANDBOX_UNAVAILABLE,), AlertAction.DENY, None, support.fix or "")
        return Verdict.deny(Reason.SANDBOX_UNAVAILABLE, support.refusal(), remediation=support.fix or "",
                            evidence=allowed.evidence)

    def _record_child_env(self, call: CallInfo) -> None:
        """Injection variables (LD_PRELOAD...), overrides of PATH/HOME and secret-carrying values are dropped."""
        extra = call.params.get("env") if call.method == "exec" else None
        if not isinstance(extra, Mapping) or not extra:
            return
        clean = {k: v for k, v in extra.items() if isinstance(k, str) and isinstance(v, str)}
        allowed = self.mediator.allow_env
        rejected = self.broker.rejected_extras(clean, self.broker.child_environment(clean, allowed))
        if rejected:
            self.evidence.note("secret_broker", {"op": "child_env", "verdict": "denied", "rule": "child_env_rejected",
                                                 "name_hashes": [name_hash(n) for n in rejected]}, call.extension_id)

    def _alert(self, call: CallInfo, category: AlertCategory, severity: Severity, summary: str,
               reasons: tuple[str, ...], action: AlertAction, context_hash: str | None, remediation: str = "") -> None:
        self.evidence.raise_alert(AlertDraft(
            category=category, severity=severity, extension_id=call.extension_id, summary=summary,
            reason_codes=reasons, capability=call.capability.value, method=call.method, call_id=call.call_id,
            action=action, remediation=remediation, context_hash=context_hash))


@functools.lru_cache(maxsize=1024)
def _joined(root: str, cwd: str) -> str:
    """``root / cwd`` in pathlib's spelling (the mediator's cache key and script base): a pure function
    of the two strings, so remembered instead of building two ``Path`` objects per exec call."""
    return str(Path(root) / cwd)


def _exec_refusal(decision: ExecMediationDecision) -> str:
    text = (f"command refused by exec mediation: class {decision.command_class}, risk tier {decision.risk_tier} "
            f"(rule {decision.rule}); ")
    if decision.command_class == "unclassifiable":
        # nothing an operator can allow: the command has to become one that can be read to the end
        return text + ("it is too long (over 64 KiB), too deeply nested or too much work to check; run it as "
                       "smaller commands, and write large file content with the write tool instead of a here-document")
    return text + ("an operator can inspect it with `pi-sandbox security exec classify -- CMD...` and, if it is "
                   "legitimate, add an execMediation.allowPatterns entry")
