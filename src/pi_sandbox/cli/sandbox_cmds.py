"""``security sandbox check``: can this machine confine exec children? (``setup`` runs it too.)"""

from __future__ import annotations

from typing import Any

from pi_sandbox.cli.app import command
from pi_sandbox.cli.context import CliContext, Rendered, render_table
from pi_sandbox.errors import ExitCode


def sandbox_report(ctx: CliContext) -> dict[str, Any]:
    """The probe result as JSON, for ``check`` and ``setup``."""
    from pi_sandbox.sandbox.support import probe

    return probe(ctx.config().environ).as_json()


def render_report(d: dict[str, Any]) -> list[Rendered]:
    """Facts as a two-column table, then the verdict (and the fix when there is no sandbox)."""
    facts = [
        ("mechanism", d["mechanism"]),
        ("bwrap", f"{d['bwrap_path'] or '-'} ({d['bwrap_source']}, version {d['bwrap_version'] or '-'})"),
        ("user namespaces", "yes" if d["user_namespaces"] else "no"),
        ("network isolation", "own network namespace" if d["network_isolation"] else "no"),
        ("seccomp filter", "yes" if d["seccomp"] else "no"),
        ("landlock ABI", str(d["landlock_abi"]) if d["landlock_abi"] else "not available"),
        ("kernel", d["kernel"]),
        *((name, value) for name, value in sorted(d["sysctl"].items())),
    ]
    out: list[Rendered] = [render_table([{"check": k, "result": v} for k, v in facts], ["check", "result"]), ""]
    if d["available"]:
        out.append("exec children can be confined: every command an extension starts runs inside bubblewrap")
    else:
        out += [f"exec children CANNOT be confined: {d['problem']}",
                f"fix: {d['fix']}",
                "until then every exec call (exec, the bash tool, child_process) is refused"]
    return out


@command()
def check(ctx: CliContext) -> int:
    """Report the OS sandbox for exec children (bwrap, user namespaces, Landlock, network, seccomp).

    Exit 0 when exec children can be confined here, 1 when they cannot (exec is then refused).
    """
    report = sandbox_report(ctx)
    ctx.emit(report, render_report)
    return ExitCode.OK if report["available"] else ExitCode.FAILURE
