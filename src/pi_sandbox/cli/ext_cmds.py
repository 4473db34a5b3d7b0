"""``pi ext scan|preflight|install``: the install-time scanner and the install gate.

``scan`` exits 0 on pass, 1 when the verdict reaches ``--fail-on`` (default: forbidden findings),
2 on bad input. ``preflight`` exits 0 when install could proceed without an override, 1 when it
would be refused. ``install`` exits 0 when installed (also when forced), 1 when refused.
(``pi ext list`` lives in another module.)
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from pi_sandbox.cli.commands import CommandTree
from pi_sandbox.cli.context import CliContext, UsageError, add_json_flag
from pi_sandbox.scanner import install as installer
from pi_sandbox.scanner.model import FAIL, PASS, WARN
from pi_sandbox.scanner.report import render_text, to_json, to_sarif
from pi_sandbox.scanner.walker import scan_path
from pi_sandbox.schemas import SCAN_REPORT


def register(tree: CommandTree) -> None:
    """Add ``scan``, ``preflight`` and ``install`` to the ``ext`` group."""
    ext = tree.group("ext")

    scan = ext.add_parser("scan", help="scan an extension folder or file for forbidden and flagged code")
    scan.add_argument("path", help="extension folder or .js/.ts file")
    fmt = scan.add_mutually_exclusive_group()
    add_json_flag_to(fmt)
    fmt.add_argument("--sarif", action="store_true", help="SARIF 2.1.0 output (for code-scanning tools)")
    scan.add_argument("--fail-on", choices=("forbidden", "flagged"), default="forbidden",
                      help="exit 1 when findings of this class (or worse) exist (default: forbidden)")
    scan.set_defaults(handler=run_scan)

    pre = ext.add_parser("preflight", help="run every install check without installing")
    pre.add_argument("path", help="extension folder or .js/.ts file")
    add_json_flag(pre)
    pre.set_defaults(handler=run_preflight)

    inst = ext.add_parser("install", help="scan, then install into the agent's extensions folder")
    inst.add_argument("path", help="extension folder or .js/.ts file (npm:/git: specs are not supported yet)")
    inst.add_argument("--force", action="store_true", help="install despite a failing scan or grown capabilities")
    inst.add_argument("--reason", metavar="TEXT", help="why the override is justified (required with --force)")
    add_json_flag(inst)
    inst.set_defaults(handler=run_install)


def add_json_flag_to(group: Any) -> None:
    """``--json`` inside a mutually exclusive group (so ``--json --sarif`` is a usage error)."""
    group.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help="JSON output")


def _target(text: str) -> Path:
    if not text.strip():  # Path("") is ".": `pi ext install "$UNSET"` must not install the current folder
        raise UsageError("pi ext: the extension path is empty; pass a folder or a .js/.ts file")
    if text.startswith(("npm:", "git:")):
        raise UsageError(f"{text}: npm: and git: specs are not supported yet; pass a local folder or file")
    try:
        return Path(text).expanduser()
    except RuntimeError as exc:  # an unknown ~user
        raise UsageError(f"pi ext: cannot expand '{text}': {exc}") from None


def run_scan(args: argparse.Namespace, ctx: CliContext) -> int:
    """``pi ext scan PATH``."""
    report = scan_path(_target(args.path))
    if args.sarif:
        print(json.dumps(to_sarif(report), indent=2))
    else:
        ctx.emit(to_json(report), lambda _d: render_text(report))
    if report.verdict == FAIL:
        return 1
    if report.verdict == WARN and args.fail_on == "flagged":
        return 1
    return 0 if report.verdict in (PASS, WARN) else 1


def _preflight_dict(check: installer.Preflight) -> dict[str, Any]:
    report = check.report
    return {
        "schema": SCAN_REPORT,
        "extension_id": check.extension_id,
        "decision": check.decision,
        "reason_codes": list(check.reason_codes),
        "verdict": report.verdict,
        "destination": str(check.destination),
        "capabilities": list(report.capabilities),
        "previous_capabilities": list(check.previous.capabilities) if check.previous else None,
        "added_capabilities": list(check.added_capabilities),
        "content_hash": report.content_hash,
        "unchanged": check.unchanged,
        "report": to_json(report),
    }


def _decision_line(check: installer.Preflight) -> str:
    if check.decision == installer.BLOCKED:
        return "install would be REFUSED: forbidden findings (override: --force --reason TEXT)"
    if check.decision == installer.NEEDS_CONFIRMATION:
        grown = ", ".join(check.added_capabilities)
        return f"install needs confirmation: capabilities grew (+{grown}); use --force --reason TEXT"
    return f"install can proceed into {check.destination}"


def run_preflight(args: argparse.Namespace, ctx: CliContext) -> int:
    """``pi ext preflight PATH``."""
    check = installer.preflight(_target(args.path), ctx.config())
    ctx.emit(_preflight_dict(check), lambda _d: render_text(check.report) + "\n" + _decision_line(check))
    return 0 if check.decision == installer.READY else 1


def run_install(args: argparse.Namespace, ctx: CliContext) -> int:
    """``pi ext install PATH [--force --reason TEXT]``."""
    if args.force and not (args.reason and args.reason.strip()):
        raise UsageError("pi ext install: --force needs --reason TEXT (why this extension is trusted anyway)")
    if args.reason and not args.force:
        raise UsageError("pi ext install: --reason only applies together with --force")
    path = _target(args.path)
    store = ctx.open_store()
    try:
        outcome = installer.install(path, ctx.config(), store, force=args.force, reason=args.reason)
    finally:
        store.close()
    data = {
        **_preflight_dict(outcome.preflight),
        "installed": outcome.installed,
        "ledger_decision": outcome.decision,
        "ledger_seq": outcome.ledger_seq,
    }

    def render(_d: Any) -> str:
        head = render_text(outcome.preflight.report)
        if outcome.installed:
            how = " (operator override recorded)" if outcome.decision == "forced" else ""
            return f"{head}\ninstalled {outcome.preflight.extension_id} into {outcome.preflight.destination}{how}"
        return f"{head}\n{_decision_line(outcome.preflight)}\nnot installed (ledger seq {outcome.ledger_seq})"

    ctx.emit(data, render)
    return 0 if outcome.installed else 1
