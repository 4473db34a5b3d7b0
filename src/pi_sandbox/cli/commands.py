"""Registry of the command modules that make up the ``pi`` command tree.

Each command module exposes ``register(tree: CommandTree) -> None`` and adds its subcommands with
``tree.top`` (a top-level command such as ``pi demo``) or ``tree.group("security")`` (nested commands
such as ``pi security ledger verify``). Every leaf parser sets ``handler=fn(args, ctx) -> int``.
"""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Callable
from typing import Any

#: Command modules, imported lazily so one module's import cost never slows another command.
COMMAND_MODULES: tuple[str, ...] = (
    "pi_sandbox.cli.policy_cmds",
    "pi_sandbox.cli.debug_cmds",
    "pi_sandbox.cli.ledger_cmds",
    "pi_sandbox.cli.mediation_cmds",
    "pi_sandbox.cli.ext_cmds",
    "pi_sandbox.cli.runtime_cmds",
)

_GROUP_HELP = {
    "security": "security state: ledger, exec mediation, secrets",
    "ext": "extensions: scan, preflight, install, list",
    "policy": "capability policy checks and prompt decisions",
    "debug": "operator tools to reproduce a hostcall",
    "tool": "call a tool registered by an extension",
    "command": "run a command registered by an extension",
    "events": "emit events to loaded extensions",
}


class CommandTree:
    """Hands out subparser groups so modules can share a group (``pi security ...``)."""

    def __init__(self, top: Any) -> None:
        self.top = top
        self._groups: dict[str, Any] = {}

    def group(self, name: str) -> Any:
        """Subparsers of the top-level group ``name``, created on first use."""
        if name not in self._groups:
            parser: argparse.ArgumentParser = self.top.add_parser(name, help=_GROUP_HELP.get(name, name))
            self._groups[name] = parser.add_subparsers(dest=f"{name}_command", metavar="COMMAND")
            parser.set_defaults(handler=_group_help(parser))
        return self._groups[name]


def _group_help(parser: argparse.ArgumentParser) -> Callable[[Any, Any], int]:
    def show(_args: Any, _ctx: Any) -> int:
        parser.print_help()
        return 2

    return show


def registered() -> list[Callable[[CommandTree], None]]:
    """The ``register`` functions of every command module that exists."""
    out: list[Callable[[CommandTree], None]] = []
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:  # module not written yet
                continue
            raise
        out.append(module.register)
    return out
