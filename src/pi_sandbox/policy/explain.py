"""Human explanations of policy decisions, each with a remediation an operator can apply."""

from __future__ import annotations

from typing import Any

from pi_sandbox import schemas
from pi_sandbox.capabilities import ALL_CAPABILITIES, DANGEROUS_CAPABILITIES, Capability
from pi_sandbox.config.model import SecurityConfig
from pi_sandbox.policy.engine import CompiledPolicy, PolicyDecision
from pi_sandbox.policy.hosts import HostPolicy
from pi_sandbox.policy.profiles import PROFILE_SPECS

CAPABILITY_MEANING: dict[Capability, str] = {
    Capability.READ: "read files inside the workspace and the extension's own folder",
    Capability.WRITE: "create, change or delete files inside the workspace",
    Capability.HTTP: "make outbound HTTP requests",
    Capability.EVENTS: "emit and receive agent events, send messages, register commands",
    Capability.SESSION: "read and annotate the agent session",
    Capability.UI: "show dialogs and notifications",
    Capability.EXEC: "run commands as child processes (dangerous)",
    Capability.ENV: "read environment variables (dangerous; secrets are still withheld)",
    Capability.TOOL: "call tools registered by other extensions",
    Capability.LOG: "write to the agent log",
    Capability.SESSION_ADMIN: "rename the session (what every extension and the user see); "
                              "an extension's own entries need only 'session'",
}


def remediation(decision: PolicyDecision, config: SecurityConfig) -> str:
    """One actionable sentence: how to allow (if denied) or restrict (if allowed) this capability."""
    cap = decision.capability.value
    ext = decision.extension_id or "<extension-id>"
    allow_one = f'settings.json: {{"extensionPolicy": {{"perExtension": {{"{ext}": {{"allow": ["{cap}"]}}}}}}}}'
    if decision.reason == "extension_deny":
        return f"denied for this extension by perExtension.{ext}.deny; remove '{cap}' there to lift it"
    if decision.reason == "deny_caps":
        if decision.capability in DANGEROUS_CAPABILITIES:
            return (f"'{cap}' is dangerous and denied by the '{config.profile}' profile; to allow it for one "
                    f"extension set extensionPolicy.allowDangerous=true (recorded in the ledger) and {allow_one}")
        return f"denied by the '{config.profile}' profile's deny list; choose another profile to change this"
    if decision.reason == "not_in_default_caps":
        return f"not allowed by the strict '{config.profile}' profile; allow it for one extension with {allow_one}"
    if decision.reason == "prompt_required":
        return ("the user is asked at first use (headless hosts deny); pre-approve with "
                f"{allow_one} or `pi-sandbox policy grant`")
    if decision.reason in ("default_caps", "permissive", "extension_allow"):
        return (f'allowed; to forbid it for one extension set {{"extensionPolicy": {{"perExtension": '
                f'{{"{ext}": {{"deny": ["{cap}"]}}}}}}}}')
    return "see docs/policy.md"


def capability_decisions(config: SecurityConfig, extension_id: str | None = None) -> list[dict[str, Any]]:
    """Every capability's decision for one extension (or globally), with remediation."""
    policy = CompiledPolicy.from_config(config)
    out = []
    for cap in ALL_CAPABILITIES:
        decision = policy.evaluate(cap, extension_id)
        out.append({
            "capability": cap.value,
            "decision": decision.decision,
            "layer": decision.layer,
            "reason": decision.reason,
            "dangerous": cap in DANGEROUS_CAPABILITIES,
            "meaning": CAPABILITY_MEANING[cap],
            "remediation": remediation(decision, config),
        })
    return out


def explain_policy(config: SecurityConfig, extension_id: str | None = None) -> dict[str, Any]:
    """The effective policy as a JSON-ready document (``pi-sandbox --explain-extension-policy --json``)."""
    policy = CompiledPolicy.from_config(config)
    spec = PROFILE_SPECS[config.profile]
    overrides = {
        ext: {"allow": sorted(o.allow), "deny": sorted(o.deny), "mode": o.mode,
              "quota": None if o.quota is None else vars(o.quota)}
        for ext, o in config.per_extension.items()
        if extension_id is None or ext == extension_id
    }
    mediation = config.exec_mediation
    return {
        "schema": schemas.POLICY_EXPLANATION,
        "extension_id": extension_id,
        "requested_profile": config.requested_profile,
        "effective_profile": config.profile,
        "profile_aliases": {"standard": "balanced"},
        "profile_source": config.profile_source,
        "profile_summary": spec.summary,
        "mode": policy.mode,
        "default_caps": sorted(c.value for c in policy.default_caps),
        "deny_caps": sorted(c.value for c in policy.deny_caps),
        "dangerous_capabilities": sorted(c.value for c in DANGEROUS_CAPABILITIES),
        "allow_dangerous": config.allow_dangerous,
        "allow_dangerous_source": config.allow_dangerous_source,
        "dangerous_unblocked": sorted(c.value for c in policy.dangerous_unblocked),
        "per_extension_overrides": overrides,
        "exec_mediation": {
            "enabled": mediation.enabled,
            "deny_threshold": mediation.deny_threshold or spec.exec_deny_threshold,
            "audit_all_classified": spec.exec_audit_all if mediation.audit_all_classified is None
            else mediation.audit_all_classified,
        },
        "exec_mediation_enabled": mediation.enabled,
        "secret_broker_enabled": config.secret_broker.enabled,
        "risk_controller": {"enabled": config.risk.enabled, "enforce": config.risk.enforce},
        "http_hosts": HostPolicy.for_extension(config, extension_id).describe(),
        "settings_files": [str(p) for p in config.settings_files],
        "warnings": list(config.warnings),
        "capability_decisions": capability_decisions(config, extension_id),
    }
