"""``pi-sandbox security exec classify`` and ``security secrets check``: tools for tuning mediation rules."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from pi_sandbox.cli.app import command
from pi_sandbox.cli.context import PROG, CliContext, UsageError, render_table
from pi_sandbox.errors import ExitCode

if TYPE_CHECKING:
    from pi_sandbox.config import SecurityConfig


def classify_command(config: SecurityConfig, argv: list[str]) -> dict[str, Any]:
    """Classification and decision for ``argv`` under ``config`` (scripts read from the project folder)."""
    from pi_sandbox.connectors.script_reader import ConfinedScriptReader
    from pi_sandbox.mediation.exec_mediation import ExecMediator, command_hash

    mediator = ExecMediator(config.exec_mediation, config.profile)
    project = str(config.project_dir)
    result = mediator.classifier.classify(argv[0], argv[1:], scripts=ConfinedScriptReader([config.project_dir]),
                                          cwd=project)
    decision = mediator.decide(result, command_hash(argv[0], argv[1:]))
    return {
        "profile": config.profile,
        "threshold": mediator.threshold,
        "decision": decision.decision,
        "command_class": decision.command_class,
        "risk_tier": decision.risk_tier,
        "rule": decision.rule,
        "reason": decision.reason,
        "command_hash": decision.command_hash,
        "findings": [{"class": f.command_class, "tier": f.risk_tier, "rule": f.rule} for f in result.findings],
        "scripts": [{"path": path, "sha256_or_reason": state} for path, state in result.inspected],
    }


# Everything after the options is the command to classify, dashes included (`classify -- rm -rf /`).
@command(context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False})
@click.argument("argv", nargs=-1, type=click.UNPROCESSED, metavar="-- CMD [ARG...]")
def classify(ctx: CliContext, argv: tuple[str, ...]) -> int:
    """Classify a command as exec mediation would: class, risk tier, decision under the current profile,
    rule. Give the argv after '--'; a single argument containing shell syntax is parsed as a shell line."""
    words = list(argv)
    if words and words[0] == "--":
        words = words[1:]
    if not words or not words[0]:
        raise UsageError(f"{PROG} security exec classify: give the command after '--', "
                         f"e.g. `{PROG} security exec classify -- rm -rf build`")
    data = classify_command(ctx.config(), words)

    def render(d: dict[str, Any]) -> list[Any]:
        head = (
            f"decision: {d['decision']}  (profile {d['profile']}, deny at >= {d['threshold']})\n"
            f"class:    {d['command_class'] or '-'}\ntier:     {d['risk_tier'] or '-'}\n"
            f"rule:     {d['rule'] or '-'}\nreason:   {d['reason']}\n"
        )
        return [head, render_table(d["findings"], ["class", "tier", "rule"])]

    ctx.emit(data, render)
    return ExitCode.OK


@command()
@click.argument("name")
def secrets_check(ctx: CliContext, name: str) -> int:
    """Is the environment variable NAME allowed, redacted or denied to extensions, and by which rule?"""
    from pi_sandbox.mediation.secret_broker import SecretBroker

    token = name.strip()
    if not token or "=" in token or "\0" in token:
        raise UsageError(f"{PROG} security secrets check: '{name}' is not an environment variable name")
    config = ctx.config()
    broker = SecretBroker(config.secret_broker, config.environ)
    decision = broker.is_secret(token)
    data = {"name": token, "verdict": decision.verdict, "rule": decision.rule, "name_hash": decision.name_hash,
            "set": broker.is_set(token)}
    ctx.emit(data, lambda d: f"{d['name']}: {d['verdict']} (rule: {d['rule']})")
    return ExitCode.OK
