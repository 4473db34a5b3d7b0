"""The postmortem draft (Markdown) that ``incident close`` writes, built from the incident's evidence bundle.

It fills in what the evidence already says (timeline, containment, phases against their SLAs, which of
the runbook's expected artifacts the bundle holds) and leaves the judgement to people: root-cause
questions per incident kind with blank answers, and the runbook's remediation as a checklist.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Final

from pi_sandbox.incident.clock import PhaseStatus, sla_label
from pi_sandbox.incident.record import INCIDENT_ENTRY_KIND, Incident
from pi_sandbox.incident.report_data import VerificationLine
from pi_sandbox.incident.runbook import GUIDES, Artifact, Phase

#: Timeline lines in the draft; the bundle holds the rest.
MAX_TIMELINE: Final = 200
#: Replay differences and configuration changes listed; replay.json holds the rest.
MAX_REPLAY_ROWS: Final = 20
_CONTROL_KINDS: Final = frozenset({"kill_switch", "trust", INCIDENT_ENTRY_KIND})


def _iso(ms: int | None) -> str:
    return "" if ms is None else datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S") + "Z"


def _md(text: Any) -> str:
    """Table-cell-safe text: no pipes or line breaks from the evidence can break the Markdown."""
    return str("" if text is None else text).replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ") \
        .replace("`", "'").replace("<", "&lt;")


def artifact_found(artifact: Artifact, bundle: Mapping[str, Any], incident: Incident,
                   verification: Sequence[VerificationLine]) -> tuple[bool, str]:
    """Whether the bundle (or the incident's verification) holds one of the runbook's expected artifacts."""
    alerts = bundle.get("alerts") or []
    entries = bundle["risk_ledger"]["entries"]
    if artifact.value.startswith("alert:"):
        category = artifact.value.split(":", 1)[1]
        n = sum(1 for a in alerts if a.get("category") == category)
        return n > 0, f"{n} alert(s)"
    if artifact is Artifact.ALERTS_OF_EXTENSION:
        n = sum(1 for a in alerts if incident.extension_id and a.get("extension_id") == incident.extension_id)
        return n > 0, f"{n} alert(s) of {incident.extension_id or '(no extension named)'}"
    if artifact is Artifact.DENIED_ENTRY:
        n = sum(1 for e in entries if e.get("kind") == "hostcall" and e.get("decision") != "allow")
        return n > 0, f"{n} denied hostcall(s)"
    if artifact is Artifact.POLICY_SNAPSHOT:
        digest = (bundle.get("config") or {}).get("digest")
        return bool(digest), f"config digest {digest}" if digest else "no config snapshot"
    if artifact is Artifact.CHAIN_VERIFICATION:
        ran = [line for line in verification if line.ok is not None]
        return bool(ran), "; ".join(f"{line.name}: {'pass' if line.ok else 'FAIL'}" for line in ran) or "not run"
    section = artifact.value.split(":", 1)[1]
    items = entries if section == "risk_ledger" else bundle.get(section) or []
    return len(items) > 0, f"{len(items)} item(s) in section {section}"


def _timeline(bundle: Mapping[str, Any]) -> list[tuple[int, str, str, str]]:
    """(time, extension, what, detail) of alerts, denials and control events, oldest first."""
    rows = [(int(a["ts_ms"]), a.get("extension_id") or "(host)", f"alert {a.get('severity')}/{a.get('category')}",
             str(a.get("summary", ""))) for a in bundle.get("alerts") or []]
    for e in bundle["risk_ledger"]["entries"]:
        kind = e.get("kind")
        if kind == "hostcall" and e.get("decision") != "allow":
            rows.append((int(e["ts_ms"]), e.get("extension_id") or "(host)", f"denied {e.get('method')}",
                         f"seq {e['seq']}: {e.get('reason')}"))
        elif kind in _CONTROL_KINDS:
            rows.append((int(e["ts_ms"]), e.get("extension_id") or "(host)", f"{kind} {e.get('decision')}",
                         f"seq {e['seq']}: {e.get('reason')}"))
    return sorted(rows, key=lambda r: r[0])


def _containment(bundle: Mapping[str, Any], incident: Incident) -> list[str]:
    lines = []
    for e in bundle["risk_ledger"]["entries"]:
        detail = e.get("detail") or {}
        scope = e.get("extension_id") or "all extensions"
        if e.get("kind") == "kill_switch":
            lines.append(f"- {_iso(e['ts_ms'])}: kill switch **{e.get('decision')}** for {_md(scope)} "
                         f"(seq {e['seq']}, by {_md(detail.get('actor'))}: {_md(detail.get('note'))})")
        elif e.get("kind") == "trust" and "quarantined" in (detail.get("to"), detail.get("from")):
            lines.append(f"- {_iso(e['ts_ms'])}: {_md(scope)} trust {detail.get('from')} → **{detail.get('to')}** "
                         f"(seq {e['seq']}: {_md(detail.get('note'))})")
    contain = incident.done(Phase.CONTAIN)
    if contain is not None:
        verified = "isolation verified" if contain.detail.get("isolation_verified") else "isolation NOT verified"
        lines.append(f"- {_iso(contain.ts_ms)}: CONTAIN phase done ({_md(contain.detail.get('action'))}, {verified})")
    return lines or ["- nothing was contained (no kill switch or quarantine in the evidence)"]


def _replay(replay: Mapping[str, Any] | None) -> list[str]:
    if replay is None:
        return ["- not run (`pi-sandbox incident analyze`)"]
    lines = [f"- {replay.get('replayed')} entries replayed under the configuration of their time: "
             f"{replay.get('difference_count')} decision(s) the rules do not explain; counts: "
             + ", ".join(f"{k} {v}" for k, v in sorted(dict(replay.get("counts") or {}).items()))]
    if replay.get("chain_break_seq") is not None:
        lines.append(f"- **the chain breaks at seq {replay['chain_break_seq']}**: {replay.get('untrusted')} entries "
                     f"from there on are untrusted and must be re-evaluated (INC-3)")
    for change in list(replay.get("config_changes") or [])[:MAX_REPLAY_ROWS]:
        keys = ", ".join(_md(k) for k in change.get("changed") or [])
        lines.append(f"- configuration changed at seq {change.get('seq')}" + (f": {keys}" if keys else ""))
    for step in list(replay.get("differences") or [])[:MAX_REPLAY_ROWS]:
        lines.append(f"- seq {step.get('seq')} {_md(step.get('extension_id'))} {_md(step.get('method'))}: recorded "
                     f"**{step.get('recorded')}** ({_md(step.get('recorded_reason'))}), the rules of its time say "
                     f"**{step.get('replayed')}** ({_md(step.get('replayed_reason'))})")
    return lines


def render_postmortem(incident: Incident, bundle: Mapping[str, Any], phases: Sequence[PhaseStatus],
                      verification: Sequence[VerificationLine], *, bundle_file: str, now_ms: int,
                      replay: Mapping[str, Any] | None = None) -> str:
    """The Markdown draft (``replay``: the ANALYZE phase's replay report, when it ran)."""
    guide = GUIDES[incident.kind]
    out = [f"# Postmortem (draft): {incident.kind.value} {guide.title} — {incident.incident_id}", "",
           f"- **Severity:** {_md(incident.severity)}",
           f"- **Extension:** {_md(incident.extension_id or '(none named)')}",
           f"- **Detected (incident opened):** {_iso(incident.opened_ms)}",
           f"- **Draft written:** {_iso(now_ms)}",
           f"- **Evidence bundle:** `{_md(bundle_file)}` (bundle_hash `{bundle.get('bundle_hash')}`)",
           f"- **Symptoms (runbook):** {guide.symptoms}", ""]
    if incident.note:
        out += [f"> {_md(incident.note)}", ""]
    out += ["## Summary", "", "_What happened, in two or three sentences (to be written)._", "",
            "## Phases against the runbook's SLAs", "", "| phase | SLA | due | done | state |",
            "|---|---|---|---|---|"]
    for p in phases:
        out.append(f"| {p.phase.value} | {sla_label(p.sla_ms)} | {_iso(p.due_ms)} | {_iso(p.done_ms)} "
                   f"| {p.state.value} |")
    out += ["", "## What was contained when", "", *_containment(bundle, incident), "",
            "## Timeline (from the bundle)", ""]
    rows = _timeline(bundle)
    out += ["| time | extension | event | detail |", "|---|---|---|---|"]
    out += [f"| {_iso(t)} | {_md(ext)} | {_md(what)} | {_md(detail)} |" for t, ext, what, detail in rows[:MAX_TIMELINE]]
    if len(rows) > MAX_TIMELINE:
        out.append(f"\n_{len(rows) - MAX_TIMELINE} later events are in the bundle._")
    out += ["", "## Verification", ""]
    out += [f"- {'✅' if line.ok else '❌' if line.ok is False else '—'} {line.name}: {_md(line.detail)}"
            for line in verification] or ["- not verified"]
    out += ["", "## Forensic replay", "", *_replay(replay)]
    out += ["", "## Expected artifacts (runbook)", ""]
    for artifact, text in guide.artifacts:
        found, detail = artifact_found(artifact, bundle, incident, verification)
        out.append(f"- [{'x' if found else ' '}] {text} — {_md(detail)}")
    out += ["", "## Root cause", ""]
    for number, prompt in enumerate(guide.root_cause_prompts, 1):
        out += [f"{number}. {prompt}", "   - _Answer:_", ""]
    out += ["## Remediation checklist (runbook)", ""]
    out += [f"- [ ] {item}" for item in guide.remediation]
    out += [f"- [ ] Reference checked: {guide.reference}", "- [ ] Bead filed for each follow-up",
            "- [ ] Postmortem reviewed; bundle and this draft archived", ""]
    return "\n".join(out)
