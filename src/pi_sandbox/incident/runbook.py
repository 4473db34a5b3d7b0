"""The operator runbook as data: phases with their SLAs, and per incident kind (INC-1..INC-6) the
questions a postmortem must answer, the artifacts the evidence must hold and the remediation checklist.

Source: ``security-incident-runbook.md`` (General Incident Workflow, INC-1..INC-6). SLAs are measured
from detection (``incident open``): containment is due 5 minutes after it, collection 15 minutes,
verification 30 minutes, analysis 2 hours and the postmortem 24 hours.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

_MIN: Final = 60_000


class Phase(StrEnum):
    """The runbook's sequence: DETECT → CONTAIN → COLLECT → VERIFY → ANALYZE → REMEDIATE → POSTMORTEM."""

    DETECT = "detect"
    CONTAIN = "contain"
    COLLECT = "collect"
    VERIFY = "verify"
    ANALYZE = "analyze"
    REMEDIATE = "remediate"
    POSTMORTEM = "postmortem"


PHASES: Final = tuple(Phase)


@dataclass(frozen=True, slots=True)
class PhaseRule:
    """A phase's SLA (ms after detection; None = "varies") and the runbook's actions for it."""

    sla_ms: int | None
    actions: str
    command: str | None  # the ``pi-sandbox incident`` command that carries it out


PHASE_RULES: Final[Mapping[Phase, PhaseRule]] = {
    Phase.DETECT: PhaseRule(0, "alert raised by the risk controller or a CI gate", "open"),
    Phase.CONTAIN: PhaseRule(5 * _MIN, "kill the extension, verify isolation", "contain"),
    Phase.COLLECT: PhaseRule(15 * _MIN, "export the evidence bundle, snapshot the config", "collect"),
    Phase.VERIFY: PhaseRule(30 * _MIN, "verify the bundle hash, ledger chain, alert counts", "verify"),
    Phase.ANALYZE: PhaseRule(120 * _MIN, "root cause analysis with forensic replay", "analyze"),
    Phase.REMEDIATE: PhaseRule(None, "policy update, scanner rule, bead filed (checklist in the postmortem)", None),
    Phase.POSTMORTEM: PhaseRule(24 * 60 * _MIN, "written, reviewed, artifacts archived", "close"),
}


class IncidentKind(StrEnum):
    """The runbook's incident classes."""

    INC_1 = "INC-1"
    INC_2 = "INC-2"
    INC_3 = "INC-3"
    INC_4 = "INC-4"
    INC_5 = "INC-5"
    INC_6 = "INC-6"


class Artifact(StrEnum):
    """Evidence an incident kind expects; each is checked against the bundle (``postmortem.artifact_found``)."""

    ALERT_POLICY_VIOLATION = "alert:policy_violation"
    ALERT_SECRET_EXPOSURE = "alert:secret_exposure"
    ALERT_QUOTA_BREACH = "alert:quota_breach"
    ALERTS_OF_EXTENSION = "alerts:extension"
    DENIED_ENTRY = "ledger:denied_entry"
    POLICY_SNAPSHOT = "config:snapshot"
    SECRET_BROKER_SECTION = "section:secret_broker"
    RISK_LEDGER_SECTION = "section:risk_ledger"
    EXEC_MEDIATION_SECTION = "section:exec_mediation"
    TRUST_TRANSITIONS = "section:trust_transitions"
    KILL_SWITCH_EVENTS = "section:kill_switch_events"
    QUOTA_BREACHES = "section:quota_breaches"
    TELEMETRY = "section:telemetry"
    CHAIN_VERIFICATION = "verify:ledger_report"


@dataclass(frozen=True, slots=True)
class KindGuide:
    """What the runbook says about one incident kind."""

    title: str
    symptoms: str
    alert_categories: tuple[str, ...]
    root_cause_prompts: tuple[str, ...]
    artifacts: tuple[tuple[Artifact, str], ...]
    remediation: tuple[str, ...]
    reference: str


GUIDES: Final[Mapping[IncidentKind, KindGuide]] = {
    IncidentKind.INC_1: KindGuide(
        "Unauthorized Capability Use",
        "Policy violation alert; a denied capability was somehow exercised.",
        ("policy_violation",),
        ("Which call was it (extension_id, capability, method, call_id of the policy_violation alert)?",
         "Is the capability in deny_caps, and does a per-extension override exist for this extension "
         "(`pi-sandbox policy explain`)?",
         "Did a call succeed despite a Deny decision? The capability must be derived server-side, never taken "
         "from the caller's capability field: where did the dispatch path differ?",
         "Do the policy-hardening and capability-denial tests still pass?"),
        ((Artifact.ALERT_POLICY_VIOLATION, "Security alert with category `policy_violation`"),
         (Artifact.DENIED_ENTRY, "Risk ledger entry showing the denied call"),
         (Artifact.POLICY_SNAPSHOT, "Policy explanation snapshot at time of incident")),
        ("If policy misconfiguration: fix config, verify with `pi-sandbox policy explain`",
         "If bypass bug: file a Critical bead, add a regression test to the capability denial matrix"),
        "Invariant INV-001 (policy precedence chain)"),
    IncidentKind.INC_2: KindGuide(
        "Secret Exposure",
        "Secret broker alert; environment variable value exposed to an extension.",
        ("secret_exposure",),
        ("Which variable (name_hash) was exposed, and to which extension?",
         "Does the variable match a blocklist pattern (exact names, suffixes such as *_API_KEY, prefixes)?",
         "Was it in secretBroker.disclosureAllowlist (an intentional pass-through)?",
         "Was the broker enabled (secretBroker.enabled) when it happened? Check the config snapshot.",
         "What was the exposure path: an env read, an exec child inheriting the environment, or an http "
         "request carrying the value as a header or body?"),
        ((Artifact.SECRET_BROKER_SECTION, "Secret broker ledger entry with `name_hash` of the exposed variable"),
         (Artifact.ALERT_SECRET_EXPOSURE, "Alert with category `secret_exposure`"),
         (Artifact.SECRET_BROKER_SECTION, "Incident evidence bundle with `secret_broker` section populated")),
        ("Immediate: rotate the exposed credential",
         "Short-term: add the variable pattern to the blocklist if not already covered",
         "Long-term: if exposure was via exec, verify exec mediation blocks env passthrough"),
        "Invariant INV-009 (secret broker coverage)"),
    IncidentKind.INC_3: KindGuide(
        "Ledger Integrity Failure",
        "Hash chain verification fails.",
        ("integrity",),
        ("Which entry is the first broken link (verification findings)?",
         "Corruption (a single entry with a bad hash) or tampering (modified or removed entries breaking the "
         "chain where they were altered)?",
         "What does forensic replay up to the break point reconstruct? Entries after the break are untrusted "
         "and must be re-evaluated."),
        ((Artifact.CHAIN_VERIFICATION, "Ledger verification report (chain_valid, verification findings)"),
         (Artifact.RISK_LEDGER_SECTION, "Evidence bundle with `risk_ledger` section")),
        ("If corruption: investigate OOM or serialization bugs, file a bead",
         "If tampering: Critical severity, full security audit required"),
        "Invariant INV-010 (ledger integrity)"),
    IncidentKind.INC_4: KindGuide(
        "Scanner Bypass",
        "Malicious or dangerous code was loaded despite compatibility scanning.",
        ("scanner",),
        ("Which forbidden construct did the extension use (process.binding, eval, Function(), "
         "require('child_process'), ...)?",
         "What did the scanner classify it as (forbidden, flagged, safe), and in what form did it slip past?",
         "Which evasion was it: a dynamic require, string concatenation, an encoded payload, prototype "
         "pollution?",
         "What did the extension actually execute (ledger, exec mediation)?"),
        ((Artifact.ALERTS_OF_EXTENSION, "Scanner results for the extension"),
         (Artifact.EXEC_MEDIATION_SECTION, "Evidence of what the extension actually executed")),
        ("Add the evasion pattern to the scanner's forbidden/flagged patterns",
         "Add a regression test to the install-time scanner tests"),
        "SLO-02 (scanner detection >= 95%)"),
    IncidentKind.INC_5: KindGuide(
        "Quarantine Escape",
        "An extension marked as quarantined resumed execution without explicit trust promotion.",
        ("quarantine", "trust_transition", "kill_switch"),
        ("Does the trust transition history show quarantined -> active without a valid promotion?",
         "Was a kill switch lifted prematurely, and does the lift carry its audit metadata?",
         "Were the quarantined extension's hostcalls refused at the trust stage?"),
        ((Artifact.TRUST_TRANSITIONS, "Trust state transition history"),
         (Artifact.KILL_SWITCH_EVENTS, "Kill-switch activation/deactivation events"),
         (Artifact.ALERTS_OF_EXTENSION, "Security alerts with the quarantined extension's ID")),
        ("If state machine bug: fix the transition logic, add a regression test",
         "If promotion was unauthorized: investigate who or what triggered it"),
        "Threat T4 (runtime abuse escalation)"),
    IncidentKind.INC_6: KindGuide(
        "Resource Quota Abuse",
        "Extension exceeds resource quotas (memory, API calls, time).",
        ("quota_breach",),
        ("Which breaches were recorded (resource type, limit, actual, time)?",
         "What is the quota configuration (defaults and perExtension.<id>.quota) in the snapshot?",
         "Did the breach cause an OOM or degrade other extensions?"),
        ((Artifact.QUOTA_BREACHES, "Quota breach events in the incident evidence bundle"),
         (Artifact.TELEMETRY, "Memory/resource usage telemetry"),
         (Artifact.ALERT_QUOTA_BREACH, "Alert with category `quota_breach`")),
        ("Tighten the quota for the offending extension",
         "If legitimate high usage: increase the quota with documentation"),
        "SLO-14 (runtime overhead <= 3%)"),
}
