"""``pi-sandbox ext scan|preflight|install|check|verify|update|uninstall``: the scanner, the install gate,
load checks, and managing installed extensions.

``scan`` exits 0 on pass, 1 when the verdict reaches ``--fail-on`` (default: forbidden findings),
2 on bad input. ``preflight`` exits 0 when install could proceed without an override, 1 when it
would be refused. ``install`` exits 0 when installed (also when forced), 1 when refused. ``check`` exits 0
when every extension at PATH would load, 1 when one would not (each problem named).
(``ext list`` lives in ``runtime_cmds``.)
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from pi_sandbox.cli.app import command
from pi_sandbox.cli.context import PROG, CliContext, Rendered, UsageError, print_human, render_table
from pi_sandbox.cli.progress import progress_bar, suspend
from pi_sandbox.errors import ExitCode

if TYPE_CHECKING:
    from pi_sandbox.progress import ProgressCallback
    from pi_sandbox.scanner.install import Preflight
    from pi_sandbox.scanner.model import ScanReport

_PATH_HELP = "extension folder or .js/.ts file"


def _target(text: str, command_name: str) -> Path:
    from pi_sandbox.scanner.fetch import is_remote_spec

    if not text.strip():  # Path("") is ".": `ext install "$UNSET"` must not install the current folder
        raise UsageError(f"{PROG} ext {command_name}: the extension path is empty; pass a folder or a .js/.ts file")
    if is_remote_spec(text):
        raise UsageError(f"{text}: `{PROG} ext {command_name}` takes a local folder or file "
                         f"(`{PROG} ext install` and `preflight` take npm:/git: specs)")
    try:
        return Path(text).expanduser()
    except RuntimeError as exc:  # an unknown ~user
        raise UsageError(f"{PROG} ext {command_name}: cannot expand '{text}': {exc}") from None


def _source(text: str, command_name: str) -> Path | str:
    """An install source: an npm:/git: spec kept as text, else a local path."""
    from pi_sandbox.scanner.fetch import is_remote_spec

    return text.strip() if is_remote_spec(text.strip()) else _target(text, command_name)


def render_scan(report: ScanReport) -> list[Rendered]:
    """Findings (class, rule, location, excerpt), what each rule means, and the verdict line."""
    from pi_sandbox.scanner.report import apart_summary, flow_lines
    from pi_sandbox.scanner.rules import RULES

    out: list[Rendered] = []
    apart = apart_summary(report)
    if apart is not None:
        out.append(apart)
    if report.findings:
        rows = [{"class": f.cls.upper(), "rule": f.rule_id, "location": f"{f.file}:{f.line}:{f.column}",
                 "excerpt": f.excerpt} for f in report.findings]
        out.append(render_table(rows, ["class", "rule", "location", "excerpt"]))
        rules = dict.fromkeys(f.rule_id for f in report.findings)
        out.append("\n".join([*(f"  {rule}: {RULES[rule].explanation}" for rule in rules), *flow_lines(report)]) + "\n")
    caps = ", ".join(report.capabilities) or "none"
    out.append(f"verdict: {report.verdict.upper()}  ({report.forbidden_count} forbidden, {report.flagged_count} "
               f"flagged; {len(report.files)} files, {report.total_lines} lines scanned, {len(report.skipped)} "
               f"non-source files listed; implied capabilities: {caps})")
    return out


@command()
@click.argument("path")
@click.option("--sarif", is_flag=True, help="SARIF 2.1.0 output (for code-scanning tools)")
@click.option("--fail-on", type=click.Choice(["forbidden", "flagged"]), default="forbidden", show_default=True,
              help="exit 1 when findings of this class (or worse) exist")
def scan(ctx: CliContext, path: str, sarif: bool, fail_on: str) -> int:
    """Scan PATH (an extension folder or a .js/.ts file) for forbidden and flagged code.

    Exit 0 pass, 1 when findings reach --fail-on, 2 bad input."""
    from pi_sandbox.scanner.model import FAIL, WARN
    from pi_sandbox.scanner.report import to_json, to_sarif
    from pi_sandbox.scanner.walker import scan_path

    if sarif and ctx.json_output:
        raise UsageError(f"{PROG} ext scan: --json and --sarif are alternatives; pick one")
    target = _target(path, "scan")
    with progress_bar(ctx, "scanning", unit="files") as bar:
        report = scan_path(target, progress=bar)
    if sarif:
        print(json.dumps(to_sarif(report), indent=2))
    else:
        ctx.emit(to_json(report), lambda _d: render_scan(report))
    if report.verdict == FAIL or (report.verdict == WARN and fail_on == "flagged"):
        return ExitCode.FAILURE
    return ExitCode.OK


def _preflight_dict(check: Preflight) -> dict[str, Any]:
    from pi_sandbox.scanner.report import to_json
    from pi_sandbox.schemas import SCAN_REPORT

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
        "npm_command": check.npm_command,
        "content_hash": report.content_hash,
        "unchanged": check.unchanged,
        "report": to_json(report),
    }


def _decision_line(check: Preflight) -> str:
    from pi_sandbox.scanner import install as installer

    if check.decision == installer.BLOCKED:
        return "install would be REFUSED: forbidden findings (override: --force --reason TEXT)"
    if check.decision == installer.NEEDS_CONFIRMATION:
        grown = ", ".join(check.added_capabilities)
        return f"install needs confirmation: capabilities grew (+{grown}); use --force --reason TEXT"
    return f"install can proceed into {check.destination}"


@command()
@click.argument("path")
def preflight(ctx: CliContext, path: str) -> int:
    """Run every install check on PATH without installing (exit 0 ready, 1 would be refused)."""
    from pi_sandbox.scanner import install as installer

    source, config = _source(path, "preflight"), ctx.config()
    with progress_bar(ctx, "scanning", unit="files") as bar:
        check = installer.preflight(source, config, progress=bar)
    ctx.emit(_preflight_dict(check), lambda _d: [*render_scan(check.report), _decision_line(check)])
    return ExitCode.OK if check.decision == installer.READY else ExitCode.FAILURE


@command()
@click.argument("path")
@click.option("--force", is_flag=True, help="install despite a failing scan or grown capabilities")
@click.option("--reason", metavar="TEXT", help="why the override is justified (required with --force)")
def install(ctx: CliContext, path: str, force: bool, reason: str | None) -> int:
    """Scan PATH, then install it with its npm dependencies (exit 0 installed, also when forced; 1 refused).

    PATH is a folder, a .js/.ts file, npm:<spec> or a git URL (git:<url>, https://...)."""
    from pi_sandbox.scanner import install as installer

    if force and not (reason and reason.strip()):
        raise UsageError(f"{PROG} ext install: --force needs --reason TEXT (why this extension is trusted anyway)")
    if reason and not force:
        raise UsageError(f"{PROG} ext install: --reason only applies together with --force")
    target = _source(path, "install")
    store = ctx.open_store()
    try:
        with progress_bar(ctx, "scanning and installing", unit="files") as bar:
            outcome = installer.install(target, ctx.config(), store, force=force, reason=reason, progress=bar)
    finally:
        store.close()
    data = {
        **_preflight_dict(outcome.preflight),
        "installed": outcome.installed,
        "ledger_decision": outcome.decision,
        "ledger_seq": outcome.ledger_seq,
    }

    def render(_d: Any) -> list[Rendered]:
        head = render_scan(outcome.preflight.report)
        if outcome.installed:
            how = " (operator override recorded)" if outcome.decision == "forced" else ""
            return [*head, f"installed {outcome.preflight.extension_id} into {outcome.preflight.destination}{how}"]
        return [*head, _decision_line(outcome.preflight), f"not installed (ledger seq {outcome.ledger_seq})"]

    ctx.emit(data, render)
    return ExitCode.OK if outcome.installed else ExitCode.FAILURE


@command()
@click.argument("path")
def check(ctx: CliContext, path: str) -> int:
    """Every load check for the extension(s) at PATH without running their code: identity, integrity,
    dependencies, kill switch and quarantine, imports; notes on missing optional packages and native addons
    (exit 0 all would load, 1 not)."""
    from pi_sandbox.runtime.discovery import resolve_path
    from pi_sandbox.runtime.prepare import check_extension_paths

    sources, error = resolve_path(_target(path, "check"), Path.cwd())
    if error:
        raise UsageError(f"{PROG} ext check: {error}")
    config = ctx.config()
    with progress_bar(ctx, "checking"):
        reports = check_extension_paths(sources, config)

    def render(_d: Any) -> list[Rendered]:
        lines: list[str] = []
        for r in reports:
            lines.append(f"{r.source.extension_id}: {'ok' if r.ok else f'WOULD NOT LOAD ({r.reason})'}")
            if r.error:
                lines.append(f"  error: {r.error}")
            lines += [f"  note: {n}" for n in r.notes]
            if r.dependencies:
                lines.append(f"  dependencies: {', '.join(r.dependencies)}")
        return ["\n".join(lines)]

    ctx.emit({"extensions": [r.to_dict() for r in reports]}, render)
    return ExitCode.OK if all(r.ok for r in reports) else ExitCode.FAILURE


@command()
@click.argument("extension_id", metavar="ID", required=False)
def verify(ctx: CliContext, extension_id: str | None) -> int:
    """Check an installed extension (all, without ID) against its pin: same files, still passing today's scan,
    no capability beyond the pinned ones. Exit 0 when all verify, 1 otherwise."""
    from pi_sandbox.scanner import manage

    config = ctx.config()
    ids = [extension_id] if extension_id else manage.installed_ids(config)
    with progress_bar(ctx, "verifying", unit="extensions") as bar:
        results = []
        for done, ext in enumerate(ids):
            bar(done, len(ids), ext)
            results.append(manage.verify_installed(config, ext).to_dict())

    def render(rows: list[dict[str, Any]]) -> Rendered:
        shown = [{**r, "result": "ok" if r["ok"] else "FAIL", "added": ", ".join(r["added_capabilities"])}
                 for r in rows]
        return render_table(shown, ["extension_id", "result", "status", "verdict", "added", "install_path"],
                            headers={"status": "FILES", "added": "NEW CAPABILITIES"})

    ctx.emit(results, render)
    return ExitCode.OK if all(r["ok"] for r in results) else ExitCode.FAILURE


def _capability_diff(check: Preflight) -> Rendered:
    before = set(check.previous.capabilities) if check.previous else set()
    after = set(check.report.capabilities)
    rows = [{"capability": c, "change": "+ added" if c not in before else "- removed" if c not in after else "same"}
            for c in sorted(before | after)]
    return render_table(rows, ["capability", "change"])


@command()
@click.argument("extension_id", metavar="ID")
@click.argument("path")
@click.option("--yes", is_flag=True, help="grant capabilities the new version adds without asking")
@click.option("--force", is_flag=True, help="update despite forbidden findings (needs --reason)")
@click.option("--reason", metavar="TEXT", help="why the override is justified (required with --force)")
def update(ctx: CliContext, extension_id: str, path: str, yes: bool, force: bool, reason: str | None) -> int:
    """Install PATH as the new version of the installed extension ID. Shows the capability diff and asks
    before granting more (--yes grants; without a terminal and without --yes nothing more is granted).
    Exit 0 updated, 1 refused or declined."""
    from pi_sandbox.scanner import manage

    if force and not (reason and reason.strip()):
        raise UsageError(f"{PROG} ext update: --force needs --reason TEXT")
    target = _target(path, "update")

    bar: ProgressCallback | None = None
    asked: list[bool] = []  # the answer, once the user was asked

    def confirm(check: Preflight) -> bool:
        if yes:
            return True
        suspend(bar)  # the question must not be drawn over
        if ctx.json_output or not sys.stdin.isatty():
            ctx.warn(f"the new version adds {', '.join(check.added_capabilities)}; pass --yes to grant")
            return False
        # What the new code does, then what it would be given: the user answers knowing both.
        print_human([*render_scan(check.report), "", "capabilities of the new version:", _capability_diff(check)],
                    stream=sys.stderr, no_color=ctx.no_color)
        asked.append(click.confirm(f"grant {', '.join(check.added_capabilities)} to {extension_id}?",
                                   default=False, err=True))
        return asked[-1]

    store = ctx.open_store()
    try:
        with progress_bar(ctx, "scanning", unit="files") as bar:
            outcome = manage.update(target, ctx.config(), store, extension_id, confirm=confirm, force=force,
                                    reason=reason, progress=bar)
    finally:
        store.close()
    data = {**_preflight_dict(outcome.preflight), "installed": outcome.installed,
            "ledger_decision": outcome.decision, "ledger_seq": outcome.ledger_seq}

    def render(_d: Any) -> list[Rendered]:
        check = outcome.preflight
        # Shown already above the question; otherwise the findings and the diff explain the outcome.
        head: list[Rendered] = [] if asked else [*render_scan(check.report), "", _capability_diff(check)]
        if outcome.installed:
            return [*head, f"updated {extension_id} in {check.destination}"]
        if asked and not asked[-1]:
            grown = ", ".join(check.added_capabilities)
            return [f"not updated: {grown} not granted (ledger seq {outcome.ledger_seq}); the installed version "
                    f"stays. Answer y, or pass --yes, to grant it."]
        return [*head, _decision_line(check), f"not updated (ledger seq {outcome.ledger_seq})"]

    ctx.emit(data, render)
    return ExitCode.OK if outcome.installed else ExitCode.FAILURE


@command()
@click.argument("extension_id", metavar="ID")
def uninstall(ctx: CliContext, extension_id: str) -> int:
    """Remove the installed extension ID and its pin (recorded in the ledger). Remembered permission
    decisions stay until `pi-sandbox policy revoke -e ID`."""
    from pi_sandbox.scanner import manage

    store = ctx.open_store()
    try:
        removed = manage.uninstall(ctx.config(), store, extension_id)
    finally:
        store.close()
    ctx.emit({"extension_id": extension_id, "removed": removed.install_path},
             lambda d: f"uninstalled {d['extension_id']} (removed {d['removed']})")
    return ExitCode.OK
