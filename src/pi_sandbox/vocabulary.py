"""The words every layer shares: decisions, pipeline stages, error codes, reasons, alert categories, severities.

One place for each: records store these as their string values (``StrEnum``), so the ledger format
is plain text and a reader needs no Python to understand it. Nothing here imports another layer.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final


class Decision(StrEnum):
    """What the pipeline decided about one hostcall (the ledger entry's ``decision``)."""

    ALLOW = "allow"
    DENY = "deny"
    #: Malformed request, unknown method or a declared capability that differs from the derived one.
    INVALID = "invalid"
    #: The call ran past its deadline; the caller got ``timeout`` (a second entry for the same call_id).
    TIMEOUT = "timeout"


class PolicyOutcome(StrEnum):
    """What the static 5-layer policy says before any prompt is answered."""

    ALLOW = "allow"
    PROMPT = "prompt"
    DENY = "deny"


class StageName(StrEnum):
    """The pipeline's stages, in the order they run (``dispatch.pipeline`` is the one ordered list)."""

    CAPABILITY = "capability"
    TRUST = "trust"
    POLICY = "policy"
    QUOTA = "quota"
    RISK = "risk"
    MEDIATION = "mediation"
    CONNECTOR = "connector"


class ErrorCode(StrEnum):
    """Hostcall error codes an extension can receive."""

    INVALID_REQUEST = "invalid_request"
    DENIED = "denied"
    QUOTA_EXCEEDED = "quota_exceeded"
    TIMEOUT = "timeout"
    IO = "io"
    INTERNAL = "internal"


class Reason(StrEnum):
    """Reason codes of pipeline decisions (why a stage allowed or refused a call)."""

    # capability stage
    INVALID_REQUEST = "invalid_request"
    CAPABILITY_MISMATCH = "capability_mismatch"
    # policy stage: the five layers (INV-003)
    EMPTY_CAPABILITY = "empty_capability"
    EXTENSION_DENY = "extension_deny"
    DENY_CAPS = "deny_caps"
    EXTENSION_ALLOW = "extension_allow"
    DEFAULT_CAPS = "default_caps"
    NOT_IN_DEFAULT_CAPS = "not_in_default_caps"
    PROMPT_REQUIRED = "prompt_required"
    PERMISSIVE = "permissive"
    # policy stage: prompt resolution
    PROMPT_CACHE_ALLOW = "prompt_cache_allow"
    PROMPT_CACHE_DENY = "prompt_cache_deny"
    PROMPT_STORE_ALLOW = "prompt_store_allow"
    PROMPT_STORE_DENY = "prompt_store_deny"
    PROMPT_USER_ALLOW = "prompt_user_allow"
    PROMPT_USER_DENY = "prompt_user_deny"
    PROMPT_HEADLESS_DENY = "prompt_headless_deny"
    PROMPT_NO_ANSWER_DENY = "prompt_no_answer_deny"
    PROMPT_INVALID_ANSWER_DENY = "prompt_invalid_answer_deny"
    # trust stage
    KILL_SWITCH = "kill_switch"
    QUARANTINED = "quarantined"
    # quota stage
    QUOTA_EXCEEDED = "quota_exceeded"
    # risk stage
    RISK_DENIED = "risk_denied"
    RISK_FAIL_CLOSED = "risk_fail_closed"
    # mediation stage
    EXEC_MEDIATION = "exec_mediation"
    SECRET_EXPOSURE = "secret_exposure"
    PATH_OUTSIDE_ROOTS = "path_outside_roots"
    PROTECTED_PATH = "protected_path"
    EXTENSION_CODE = "extension_code"
    #: config entry: a perExtension entry's grants withheld from an extension of a source it does not name
    GRANTS_NOT_FOR_SOURCE = "grants_not_for_source"
    SANDBOX_UNAVAILABLE = "sandbox_unavailable"
    SECRET_FILE = "secret_file"
    #: A FIFO, socket or device: never read or written (a FIFO blocks the host forever).
    SPECIAL_FILE = "special_file"
    # connector (a refusal while carrying out an allowed call)
    CONNECTOR_DENIED = "connector_denied"
    NO_CONNECTOR = "no_connector"
    CONNECTOR_CRASH = "connector_crash"
    #: exec: the sandbox could not find (too many folders) or hide (too many) every secret file a child must not read.
    SECRET_SCAN_INCOMPLETE = "secret_scan_incomplete"
    # runtime: host work bounds
    HOSTCALL_DEADLINE = "hostcall_deadline"
    HOSTCALL_LATE = "hostcall_late"
    #: Refused at once: the extension already had the maximum number of hostcalls waiting or running.
    TOO_MANY_PENDING = "too_many_pending"


class AlertCategory(StrEnum):
    """Security alert categories: the runbook's names plus what the runtime controls add."""

    POLICY_VIOLATION = "policy_violation"
    SECRET_EXPOSURE = "secret_exposure"
    EXEC_MEDIATION = "exec_mediation"
    QUOTA_BREACH = "quota_breach"
    QUARANTINE = "quarantine"
    TRUST_TRANSITION = "trust_transition"
    KILL_SWITCH = "kill_switch"
    ANOMALY_DENIAL = "anomaly_denial"
    INTEGRITY = "integrity"
    PROFILE_TRANSITION = "profile_transition"
    SCANNER = "scanner"
    RUNTIME = "runtime"


#: Older spellings still accepted on input (``policy_denial`` is the upstream name; ``trust`` was ours).
ALERT_CATEGORY_ALIASES: Final = {"policy_denial": AlertCategory.POLICY_VIOLATION,
                                 "trust": AlertCategory.TRUST_TRANSITION}


class Severity(StrEnum):
    """Alert severities, in increasing order (``rank`` is what ``--min-severity`` compares)."""

    INFO = "info"
    WARNING = "warning"
    ERROR = "error"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        """0 for info … 3 for critical."""
        return _SEVERITY_ORDER.index(self)


_SEVERITY_ORDER: Final = (Severity.INFO, Severity.WARNING, Severity.ERROR, Severity.CRITICAL)


class AlertAction(StrEnum):
    """What the system did about the event an alert reports."""

    ALLOW = "allow"
    HARDEN = "harden"
    PROMPT = "prompt"
    DENY = "deny"
    TERMINATE = "terminate"
    REDACT = "redact"
