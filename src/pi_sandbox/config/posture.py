"""A comparable summary of how strict a config is, to detect and record loosening changes."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pi_sandbox.config.model import DEFAULT_GRANT_SOURCES, MODES, PROFILES, RISK_TIERS, SecurityConfig
from pi_sandbox.hashing import sha256_hex


def security_posture(config: SecurityConfig) -> dict[str, Any]:
    """The security-relevant settings as plain JSON values (no secrets, no paths)."""
    return {
        "profile": config.profile,
        "allow_dangerous": config.allow_dangerous,
        "exec_mediation_enabled": config.exec_mediation.enabled,
        "exec_deny_threshold": config.exec_mediation.deny_threshold,
        # Hashed, not counted: replacing a narrow allow pattern with a broad one keeps the count.
        "exec_allow_patterns": sorted(sha256_hex(p) for p in config.exec_mediation.allow_patterns),
        "exec_audit_all_classified": config.exec_mediation.audit_all_classified,
        "exec_allow_env": sorted(config.exec_mediation.allow_env),
        "secret_broker_enabled": config.secret_broker.enabled,
        "disclosure_allowlist": sorted(config.secret_broker.disclosure_allowlist),
        "http_allow_loopback": config.http.allow_loopback,
        "http_allow_hosts": sorted(sha256_hex(h) for h in config.http.allow_hosts),
        "risk_enabled": config.risk.enabled,
        "risk_enforce": config.risk.enforce,
        "risk_fail_closed": config.risk.fail_closed,
        "trust_auto_promote": config.trust.auto_promote,
        "trust_thresholds": {
            "promote_after_hostcalls": config.trust.promote_after_hostcalls,
            "promote_after_hours": config.trust.promote_after_hours,
            "quarantine_after_quota_breaches": config.trust.quarantine_after_quota_breaches,
            "quarantine_after_risk_denials": config.trust.quarantine_after_risk_denials,
            "quarantine_after_integrity_failures": config.trust.quarantine_after_integrity_failures,
            "probation_quota_factor": config.trust.probation_quota_factor,
        },
        "quota": {k: v for k, v in sorted(vars(config.quota).items())},
        "per_extension_allow": {k: sorted(o.allow) for k, o in sorted(config.per_extension.items()) if o.allow},
        "per_extension_mode": {k: o.mode for k, o in sorted(config.per_extension.items()) if o.mode},
        # Deny rules: removing one loosens as surely as adding an allow (hashed: only changes matter).
        "per_extension_deny": {k: sorted(o.deny) for k, o in sorted(config.per_extension.items()) if o.deny},
        "exec_deny_patterns": sorted(sha256_hex(p) for p in config.exec_mediation.deny_patterns),
        "http_deny_hosts": sorted(sha256_hex(h) for h in config.http.deny_hosts),
        "per_extension_http_allow": {k: sorted(sha256_hex(h) for h in o.http_allow_hosts)
                                     for k, o in sorted(config.per_extension.items()) if o.http_allow_hosts},
        # Grants extended to sources beyond the user's own (a project's extension of the same id) loosen.
        "per_extension_sources": {k: sorted(o.sources) for k, o in sorted(config.per_extension.items())
                                  if o.sources != DEFAULT_GRANT_SOURCES},
        "per_extension_secret_files": {k: sorted(sha256_hex(g) for g in o.read_secret_files)
                                       for k, o in sorted(config.per_extension.items()) if o.read_secret_files},
        "secret_files_extra": sorted(sha256_hex(g) for g in config.secret_broker.extra_secret_files),
        "ledger_anchor_copy": sha256_hex(str(config.ledger.anchor_copy)) if config.ledger.anchor_copy else None,
        # Sandbox: opening the network or a socket, or exposing a host path, loosens; adding protection tightens.
        "sandbox_network": sorted(k for k, o in config.per_extension.items() if o.sandbox.network),
        "sandbox_unix_sockets": sorted(sha256_hex(f"{k}:{s}") for k, o in config.per_extension.items()
                                       for s in o.sandbox.unix_sockets),
        "sandbox_read_only_paths": sorted(sha256_hex(p) for p in config.sandbox.read_only_paths),
        "sandbox_removable": sorted(sha256_hex(p) for p in (*config.sandbox.protected_paths,
                                                             *config.sandbox.hidden_paths)),
        "secret_extra_rules": sorted(sha256_hex(f"{kind}:{v}") for kind, values in (
            ("name", config.secret_broker.extra_names), ("suffix", config.secret_broker.extra_suffixes),
            ("prefix", config.secret_broker.extra_prefixes)) for v in values),
    }


def loosened_fields(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[str]:
    """Names of posture fields that became less strict from ``before`` to ``after``."""
    out: list[str] = []

    def rank(seq: tuple[str, ...], value: Any, missing: int) -> int:
        return seq.index(value) if value in seq else missing

    if rank(PROFILES, after.get("profile"), 0) > rank(PROFILES, before.get("profile"), 0):
        out.append("profile")
    for key in ("allow_dangerous", "http_allow_loopback"):
        if after.get(key) and not before.get(key):
            out.append(key)
    for key in ("exec_mediation_enabled", "secret_broker_enabled", "risk_enabled", "risk_enforce",
                "risk_fail_closed"):
        if before.get(key) and not after.get(key):
            out.append(key)
    # None = the profile preset (auditing on for safe and balanced): only an explicit False loosens.
    if after.get("exec_audit_all_classified") is False and before.get("exec_audit_all_classified", False) is not False:
        out.append("exec_audit_all_classified")
    before_tier = rank(RISK_TIERS, before.get("exec_deny_threshold"), -1)
    after_tier = rank(RISK_TIERS, after.get("exec_deny_threshold"), -1)
    if after_tier > before_tier >= 0 or (after_tier > 0 and before_tier < 0):
        out.append("exec_deny_threshold")
    if _grew(before.get("exec_allow_patterns", []), after.get("exec_allow_patterns", [])):
        out.append("exec_allow_patterns")
    # Adding a host loosens; so does dropping the whole list (in `permissive`, empty means any public host).
    if "http_allow_hosts" in before:
        hosts_before, hosts_after = set(before["http_allow_hosts"]), set(after.get("http_allow_hosts", ()))
        if hosts_before and (not hosts_after or hosts_after - hosts_before):
            out.append("http_allow_hosts")
    if set(after.get("disclosure_allowlist", ())) - set(before.get("disclosure_allowlist", ())):
        out.append("disclosure_allowlist")
    if set(after.get("exec_allow_env", ())) - set(before.get("exec_allow_env", ())):
        out.append("exec_allow_env")
    for ext, caps in after.get("per_extension_allow", {}).items():
        if set(caps) - set(before.get("per_extension_allow", {}).get(ext, ())):
            out.append(f"per_extension_allow.{ext}")
    for ext, mode in after.get("per_extension_mode", {}).items():
        old = before.get("per_extension_mode", {}).get(ext)
        if rank(MODES, mode, 0) > rank(MODES, old, 0):
            out.append(f"per_extension_mode.{ext}")
    for ext, hosts in after.get("per_extension_http_allow", {}).items():
        if set(hosts) - set(before.get("per_extension_http_allow", {}).get(ext, ())):
            out.append(f"per_extension_http_allow.{ext}")
    for ext, caps in before.get("per_extension_deny", {}).items():
        if set(caps) - set(after.get("per_extension_deny", {}).get(ext, ())):
            out.append(f"per_extension_deny.{ext}")
    if before.get("ledger_anchor_copy") and after.get("ledger_anchor_copy") != before["ledger_anchor_copy"]:
        out.append("ledger_anchor_copy")  # the witness outside the state dir was dropped or moved
    for key in ("sandbox_network", "sandbox_unix_sockets", "sandbox_read_only_paths"):
        if set(after.get(key, ())) - set(before.get(key, ())):
            out.append(key)
    for ext, sources in after.get("per_extension_sources", {}).items():
        if set(sources) - set(before.get("per_extension_sources", {}).get(ext, DEFAULT_GRANT_SOURCES)):
            out.append(f"per_extension_sources.{ext}")
    for ext, globs in after.get("per_extension_secret_files", {}).items():
        if set(globs) - set(before.get("per_extension_secret_files", {}).get(ext, ())):
            out.append(f"per_extension_secret_files.{ext}")
    for key in ("exec_deny_patterns", "http_deny_hosts", "secret_extra_rules", "sandbox_removable",
                "secret_files_extra"):
        if set(before.get(key, ())) - set(after.get(key, ())):
            out.append(key)
    if after.get("trust_auto_promote") and before.get("trust_auto_promote") is False:
        out.append("trust_auto_promote")
    out += _raised(before.get("trust_thresholds"), after.get("trust_thresholds"), "trust",
                   larger_is_stricter=("promote_after_hostcalls", "promote_after_hours"))
    out += _raised(before.get("quota"), after.get("quota"), "quota")
    return out


def _raised(before: Any, after: Any, prefix: str, larger_is_stricter: tuple[str, ...] = ()) -> list[str]:
    """Numeric limits that became looser (an older posture without them compares as unchanged)."""
    if not isinstance(before, Mapping) or not isinstance(after, Mapping):
        return []
    out = []
    for key, new in after.items():
        old = before.get(key)
        if not isinstance(old, (int, float)) or not isinstance(new, (int, float)):
            continue
        if (new < old) if key in larger_is_stricter else (new > old):
            out.append(f"{prefix}.{key}")
    return out


def _grew(before: Any, after: Any) -> bool:
    """Whether a set of pattern hashes gained a member (an older posture recorded only a count)."""
    if isinstance(before, int):
        return len(after) > before
    return bool(set(after) - set(before))
