"""``pi-sandbox completion bash|zsh|fish``: the shell completion script (click's, for our command)."""

from __future__ import annotations

import click

from pi_sandbox.cli.app import command
from pi_sandbox.cli.context import PROG, CliContext
from pi_sandbox.errors import ExitCode

SHELLS = ("bash", "fish", "zsh")


@command(show=())
@click.argument("shell", type=click.Choice(SHELLS))
def completion(ctx: CliContext, shell: str) -> int:
    """Print the completion script for SHELL (commands, options and choices complete on Tab).

    \b
    bash: eval "$(pi-sandbox completion bash)"   in ~/.bashrc
    zsh:  eval "$(pi-sandbox completion zsh)"    in ~/.zshrc
    fish: pi-sandbox completion fish > ~/.config/fish/completions/pi-sandbox.fish
    """
    from click.shell_completion import get_completion_class

    from pi_sandbox.cli.main import COMPLETE_VAR, build_cli

    cls = get_completion_class(shell)
    assert cls is not None  # click knows every choice above
    click.echo(cls(build_cli(), {}, PROG, COMPLETE_VAR).source())
    return ExitCode.OK
