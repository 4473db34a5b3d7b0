"""``pi security exec classify`` and ``pi security secrets check``: tools for tuning mediation rules."""

from __future__ import annotations

import argparse
from typing import Any

from pi_sandbox.cli.commands import CommandTree
from pi_sandbox.cli.context import CliContext, UsageError, add_json_flag, render_table
from pi_sandbox.mediation.exec_mediation import ExecMediator, command_hash
from pi_sandbox.mediation.secret_broker import SecretBroker


def register(tree: CommandTree) -> None:
    """Add ``security exec classify`` and ``security secrets check``."""
    security = tree.group("security")
    exec_parser = security.add_parser("exec", help="exec mediation tools")
    exec_sub = exec_parser.add_subparsers(dest="exec_command", metavar="COMMAND")
    classify = exec_sub.add_parser(
        "classify",
        help="classify a command: class, risk tier, decision under the current profile, rule",
        description="Classify a command as exec mediation would. Give the argv after '--'; a single "
        "argument containing shell syntax is parsed as a shell command line.",
    )
    add_json_flag(classify)
    classify.add_argument("argv", nargs=argparse.REMAINDER, metavar="-- CMD [ARG...]")
    classify.set_defaults(handler=run_classify)
    exec_parser.set_defaults(handler=lambda _a, _c: _help(exec_parser))

    secrets_parser = security.add_parser("secrets", help="secret broker tools")
    secrets_sub = secrets_parser.add_subparsers(dest="secrets_command", metavar="COMMAND")
    check = secrets_sub.add_parser("check", help="is an environment variable name allowed, redacted or denied?")
    add_json_flag(check)
    check.add_argument("name", help="environment variable name")
    check.set_defaults(handler=run_secrets_check)
    secrets_parser.set_defaults(handler=lambda _a, _c: _help(secrets_parser))


def _help(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 2


def classify_command(ctx: CliContext, argv: list[str]) -> dict[str, Any]:
    """Classification and decision for ``argv`` under the resolved config (library entry for the CLI)."""
    config = ctx.config()
    mediator = ExecMediator(config.exec_mediation, config.profile)
    result = mediator.classifier.classify(argv[0], argv[1:])
    if mediator.enabled:
        decision = mediator.decide(result, command_hash(argv[0], argv[1:]))
    else:
        decision = mediator.evaluate(argv[0], argv[1:])
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
    }


def run_classify(args: argparse.Namespace, ctx: CliContext) -> int:
    argv = list(args.argv)
    if argv and argv[0] == "--":
        argv = argv[1:]
    if not argv or not argv[0]:
        raise UsageError(
            "pi security exec classify: give the command after '--', e.g. `pi security exec classify -- rm -rf build`"
        )
    data = classify_command(ctx, argv)

    def render(d: dict[str, Any]) -> str:
        head = (
            f"decision: {d['decision']}  (profile {d['profile']}, deny at >= {d['threshold']})\n"
            f"class:    {d['command_class'] or '-'}\ntier:     {d['risk_tier'] or '-'}\n"
            f"rule:     {d['rule'] or '-'}\nreason:   {d['reason']}\n"
        )
        return head + "\n" + render_table(d["findings"], ["class", "tier", "rule"])

    ctx.emit(data, render)
    return 0


def check_secret(ctx: CliContext, name: str) -> dict[str, Any]:
    """Broker verdict for ``name`` against the current environment and settings."""
    config = ctx.config()
    broker = SecretBroker(config.secret_broker, config.environ)
    decision = broker.is_secret(name)
    return {
        "name": name,
        "verdict": decision.verdict,
        "rule": decision.rule,
        "name_hash": decision.name_hash,
        "set": broker.is_set(name),
    }


def run_secrets_check(args: argparse.Namespace, ctx: CliContext) -> int:
    name = args.name.strip()
    if not name or "=" in name or "\0" in name:
        raise UsageError(f"pi security secrets check: '{args.name}' is not an environment variable name")
    data = check_secret(ctx, name)
    ctx.emit(data, lambda d: f"{d['name']}: {d['verdict']} (rule: {d['rule']})")
    return 0
