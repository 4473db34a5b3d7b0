"""``pi-sandbox doctor``: is this machine ready, and is the security state healthy? Each problem with its fix."""

from __future__ import annotations

from typing import Any

from pi_sandbox.cli.app import command
from pi_sandbox.cli.context import CliContext, Rendered, render_table
from pi_sandbox.cli.progress import progress_bar
from pi_sandbox.errors import ExitCode


def _render(checks: list[dict[str, Any]]) -> list[Rendered]:
    failed = sum(c["status"] == "fail" for c in checks)
    warned = sum(c["status"] == "warn" for c in checks)
    verdict = "all checks passed" if not failed and not warned else f"{failed} failed, {warned} warning(s)"
    # The fixes go under the table, one line each: a FIX column would be empty on every healthy row and
    # squeeze DETAIL on a narrow terminal.
    fixes = [f"  {c['check']}: {c['fix']}" for c in checks if c["status"] != "ok" and c["fix"]]
    return [render_table(checks, ["check", "status", "detail"]), "", verdict,
            *(["", "To fix:", "\n".join(fixes)] if fixes else [])]


@command()
def doctor(ctx: CliContext) -> int:
    """Check Python, the JS toolchain, bubblewrap and user namespaces, Landlock, the state dir and its
    signing key, the ledger and the settings. Exit 0 when nothing failed (warnings allowed), 1 otherwise."""
    from pi_sandbox.doctor import FAIL, run_checks

    with progress_bar(ctx, "checking") as bar:
        checks = [c.to_dict() for c in run_checks(progress=bar)]
    ctx.emit({"checks": checks}, lambda d: _render(d["checks"]))
    return ExitCode.FAILURE if any(c["status"] == FAIL for c in checks) else ExitCode.OK
