"""The ``pi-sandbox`` command tree: every command's words, where it lives, and its one-line help.

The tree is data so that ``pi-sandbox --help`` (and shell completion of command names) never imports
a command module or a layer. To add a command: write it with :func:`pi_sandbox.cli.app.command` in a
``pi_sandbox/cli/*_cmds.py`` module and add one line to :data:`COMMANDS` (docs/cli.md); targets are
relative to the ``pi_sandbox.cli`` package.
"""

from __future__ import annotations

from typing import Final

#: command words → ("module:attribute" of the click command, one-line help)
COMMANDS: Final[dict[tuple[str, ...], tuple[str, str]]] = {
    ("setup",): ("runtime_cmds:setup", "install the pinned JS toolchain (esbuild, TypeBox) with npm"),
    ("demo",): ("runtime_cmds:demo", "run bundled example extensions (well-behaved and hostile)"),
    ("rpc",): ("runtime_cmds:rpc", "host extensions over JSON lines on stdin/stdout (docs/rpc.md)"),
    ("mcp",): ("mcp_cmds:mcp", "serve the extensions' tools to MCP clients, sandboxed (stdio or --http; docs/mcp.md)"),
    ("bridge", "install"): ("bridge_cmds:install", "let the pi agent run pi-sandbox's extensions sandboxed"),
    ("bridge", "uninstall"): ("bridge_cmds:uninstall", "remove the bridge from pi's extensions folder"),
    ("bridge", "adopt"): ("bridge_cmds:adopt", "move extensions out of pi's folder into the sandboxed one"),
    ("completion",): ("completion_cmds:completion", "print the shell completion script (bash, zsh, fish)"),
    ("doctor",): ("doctor_cmds:doctor", "check this machine and the security state; each problem with its fix"),
    ("config", "show"): ("config_cmds:show", "the effective settings and where each value comes from"),
    ("config", "validate"): ("config_cmds:validate", "check settings files (exit 1 when invalid)"),
    ("ext", "scan"): ("ext_cmds:scan", "scan an extension folder or file for forbidden and flagged code"),
    ("ext", "preflight"): ("ext_cmds:preflight", "run every install check without installing"),
    ("ext", "install"): ("ext_cmds:install", "scan, then install (folder, npm:, git:) with its npm dependencies"),
    ("ext", "check"): ("ext_cmds:check", "every load check (identity, pins, deps, controls, imports), no code run"),
    ("ext", "list"): ("runtime_cmds:ext_list", "load the configured extensions and list them"),
    ("ext", "verify"): ("ext_cmds:verify", "check installed extensions against their pins and today's scan"),
    ("ext", "update"): ("ext_cmds:update", "install a new version; shows the capability diff, asks before granting"),
    ("ext", "uninstall"): ("ext_cmds:uninstall", "remove an installed extension and its pin"),
    ("tool", "call"): ("runtime_cmds:tool_call", "call a tool registered by an extension"),
    ("command", "run"): ("runtime_cmds:command_run", "run a slash command registered by an extension"),
    ("events", "emit"): ("runtime_cmds:events_emit", "emit a pi event to every loaded extension"),
    ("policy", "explain"): ("policy_cmds:explain", "the effective policy and why (= --explain-extension-policy)"),
    ("policy", "check"): ("policy_cmds:check", "evaluate one capability for one extension"),
    ("policy", "grant"): ("policy_cmds:grant", "remember an 'always' prompt decision for an extension"),
    ("policy", "revoke"): ("policy_cmds:revoke", "forget remembered prompt decisions"),
    ("policy", "decisions"): ("policy_cmds:decisions", "list remembered prompt decisions"),
    ("debug", "hostcall"): ("debug_cmds:hostcall", "one hostcall through the full pipeline, recorded (--dry-run)"),
    ("security", "ledger", "verify"): ("ledger_cmds:verify", "check hashes, links, signed checkpoints (1 = tampered)"),
    ("security", "ledger", "show"): ("ledger_cmds:show", "list ledger entries, oldest first"),
    ("security", "ledger", "set-aside"): ("ledger_cmds:set_aside",
                                          "damaged ledger: keep it as evidence, start anew with extensions stopped"),
    ("security", "alerts", "list"): ("ledger_cmds:alerts", "list alerts, oldest first"),
    ("security", "export"): ("export_cmds:export", "stream ledger entries and alerts as JSON lines or OTLP logs"),
    ("incident", "open"): ("incident_cmds:open_", "open an incident (INC-1..INC-6): the SLA clock starts"),
    ("incident", "status"): ("incident_cmds:status", "current phase and time left against the runbook's SLAs"),
    ("incident", "contain"): ("incident_cmds:contain", "CONTAIN: kill switch or quarantine, isolation verified"),
    ("incident", "collect"): ("incident_cmds:collect", "COLLECT: evidence bundle + config snapshot"),
    ("incident", "verify"): ("incident_cmds:verify", "VERIFY: bundle's five steps + ledger chain (1 = failed)"),
    ("incident", "analyze"): ("incident_cmds:analyze", "ANALYZE: forensic replay of the bundle"),
    ("incident", "close"): ("incident_cmds:close", "write the postmortem draft (Markdown) and close"),
    ("incident", "report"): ("incident_cmds:report", "write the self-contained HTML incident report"),
    ("security", "bundle", "report"): ("incident_cmds:bundle_report", "HTML report of an evidence bundle"),
    ("security", "bundle", "export"): ("evidence_cmds:export", "export an incident evidence bundle (COLLECT)"),
    ("security", "replay"): ("evidence_cmds:replay", "forensic replay: re-decide recorded calls, report differences"),
    ("security", "bundle", "verify"): ("evidence_cmds:verify", "verify a bundle: the five runbook steps (1 = failed)"),
    ("ext", "trust", "show"): ("controls_cmds:trust_show", "an extension's trust state and last transition"),
    ("ext", "trust", "history"): ("controls_cmds:trust_history", "every trust transition of an extension"),
    ("ext", "trust", "promote"): ("controls_cmds:trust_promote", "promote to probation or trusted (leaves quarantine)"),
    ("ext", "trust", "quarantine"): ("controls_cmds:trust_quarantine", "quarantine an extension (stops everything)"),
    ("security", "kill-switch", "on"): ("controls_cmds:kill_switch_on", "stop all extensions, or one (--extension)"),
    ("security", "kill-switch", "off"): ("controls_cmds:kill_switch_off", "lift a kill switch"),
    ("security", "kill-switch", "status"): ("controls_cmds:kill_switch_status", "which kill switches are on"),
    ("security", "quota", "status"): ("controls_cmds:quota_status", "quota usage against limits, and breaches"),
    ("security", "risk", "status"): ("controls_cmds:risk_status", "runtime risk controller: threshold, scores, alarms"),
    ("security", "stats"): ("controls_cmds:stats", "hostcall statistics: counts, denials by stage, timings"),
    ("security", "exec", "classify"): ("mediation_cmds:classify", "classify a command: class, tier, decision, rule"),
    ("security", "sandbox", "check"): ("sandbox_cmds:check", "can exec children be confined here? (1 = no)"),
    ("security", "secrets", "check"): ("mediation_cmds:secrets_check", "is an env variable allowed, redacted, denied?"),
}

#: group words → one-line help
GROUPS: Final[dict[tuple[str, ...], str]] = {
    ("bridge",): "the bridge to the pi agent: install, uninstall, adopt (docs/bridge.md)",
    ("config",): "settings: the effective values with their sources, validation",
    ("ext",): "extensions: scan, preflight, install, check, list, verify, update, uninstall",
    ("tool",): "call a tool registered by an extension",
    ("command",): "run a command registered by an extension",
    ("events",): "emit events to loaded extensions",
    ("policy",): "capability policy: explain, check, prompt decisions",
    ("debug",): "operator tools to reproduce a hostcall",
    ("security",): "security state: ledger, alerts, exec mediation, secrets",
    ("incident",): "the incident runbook as a workflow: phases, SLAs, postmortem, HTML report",
    ("security", "ledger"): "the hash-chained decision ledger",
    ("security", "alerts"): "security alerts (the DETECT step of the runbook)",
    ("security", "bundle"): "incident evidence bundles: export (COLLECT), verify (VERIFY), HTML report",
    ("security", "exec"): "exec mediation tools",
    ("ext", "trust"): "trust lifecycle: show, history, promote, quarantine",
    ("security", "kill-switch"): "kill switches: stop extensions during an incident",
    ("security", "quota"): "per-extension quotas",
    ("security", "risk"): "the runtime risk controller (shadow or enforce)",
    ("security", "secrets"): "secret broker tools",
    ("security", "sandbox"): "the OS sandbox of exec children",
}


def children(path: tuple[str, ...]) -> set[str]:
    """The command and group names directly under ``path``."""
    depth = len(path)
    return {words[depth] for words in (*COMMANDS, *GROUPS) if len(words) > depth and words[:depth] == path}


def short_help(path: tuple[str, ...]) -> str:
    """The one-line help of the command or group at ``path``."""
    if path in GROUPS:
        return GROUPS[path]
    return COMMANDS[path][1]
