"""Entry point of the ``pi-sandbox`` command (also ``python -m pi_sandbox``).

The CLI is thin: each command module parses its options (click) and calls library functions that the
tests call too. Every error derived from :class:`PiSandboxError` prints one line and exits with its
:class:`ExitCode` (0 ok, 1 failure, 2 usage, 3 environment); a traceback is only ever shown for a
genuine bug. Importing this module loads click and nothing of the security layers, so ``--help``
stays fast (``benchmarks/bench_cli.py``).
"""

from __future__ import annotations

import errno
import os
import sys
from collections.abc import Sequence
from typing import Any

import click

from pi_sandbox import __version__
from pi_sandbox.cli.app import PiGroup, suggest
from pi_sandbox.cli.context import PROG, CliContext, UsageError, print_human
from pi_sandbox.errors import ExitCode, OutputWriteError, PiSandboxError

#: Write failures of the machine, not of the program: file too large (`ulimit -f`), no space, quota, I/O.
_OUTPUT_ERRNOS = frozenset({errno.EFBIG, errno.ENOSPC, errno.EDQUOT, errno.EIO})

#: Shell completion is driven by this variable (``pi-sandbox completion SHELL`` prints the script).
COMPLETE_VAR = "_PI_SANDBOX_COMPLETE"


def _show_version(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if value and not ctx.resilient_parsing:
        click.echo(f"{PROG} {__version__}")
        ctx.exit(0)


def _root_callback(explain_extension_policy: bool) -> int | None:
    """``pi-sandbox [--explain-extension-policy]`` without a subcommand."""
    ctx = click.get_current_context()
    state = ctx.ensure_object(CliContext)
    if explain_extension_policy or ctx.invoked_subcommand is not None or state.no_extensions:
        from pi_sandbox.support import require_supported_platform

        require_supported_platform()  # before any work; --help and --version never get here
    if explain_extension_policy:
        if ctx.invoked_subcommand is not None:
            raise UsageError(f"{PROG}: --explain-extension-policy runs on its own; drop '{ctx.invoked_subcommand}'")
        from pi_sandbox.cli.policy_cmds import run_explain

        return run_explain(state)
    if ctx.invoked_subcommand is not None:
        return None
    if state.no_extensions:  # the runbook's emergency stop, `pi --no-extensions`: show that nothing loads
        from pi_sandbox.cli.runtime_cmds import run_ext_list

        return run_ext_list(state)
    click.echo(ctx.get_help())
    return 0


#: Help text is wrapped at the terminal's width, but never wider than this.
_HELP_MAX_WIDTH = 100


def _help_width() -> int:
    """The width click wraps help at, as click computes it but without importing ``shutil`` (``--help`` speed).

    ``$COLUMNS`` first, then the terminal on stdout, else 80 columns; at most :data:`_HELP_MAX_WIDTH`.
    """
    columns = os.environ.get("COLUMNS", "")
    if columns.isdigit() and int(columns) > 0:
        width = int(columns)
    else:
        try:
            width = os.get_terminal_size(sys.__stdout__.fileno()).columns if sys.__stdout__ else 80
        except (AttributeError, ValueError, OSError):
            width = 80
    return max(min(width, _HELP_MAX_WIDTH) - 2, 50)


def build_cli() -> click.Group:
    """The root group of the command tree (subcommands load lazily from ``cli/commands.py``)."""
    root = PiGroup(
        (),
        callback=_root_callback,
        epilog="",
        help="pi-sandbox: run pi extensions with no ambient authority.\n\n"
             "Every effect of an extension passes the policy pipeline and is recorded in a tamper-evident ledger. "
             "Exit codes: 0 ok, 1 a check failed, 2 usage or input error, 3 environment (docs/cli.md).",
        context_settings={"help_option_names": ["-h", "--help"], "max_content_width": _HELP_MAX_WIDTH,
                          "terminal_width": _help_width()},
    )
    root.params[:0] = [
        click.Option(["--version"], is_flag=True, expose_value=False, is_eager=True, callback=_show_version,
                     help="print the version and exit"),
        click.Option(["--explain-extension-policy"], is_flag=True,
                     help="print the effective extension policy and exit (-e/--extension ID for one extension)"),
    ]
    for param in root.params:  # the root shows every global option in its help
        if isinstance(param, click.Option):
            param.hidden = False
    return root


def _usage_message(exc: click.ClickException) -> str:
    """One line for a click usage error, with "did you mean" for a mistyped option."""
    message = exc.format_message()
    ctx: click.Context | None = getattr(exc, "ctx", None)  # usage errors carry the command's context
    if isinstance(exc, click.NoSuchOption) and "Did you mean" not in message and ctx is not None:
        names = [n for p in ctx.command.params for n in getattr(p, "opts", [])]
        message += suggest(exc.option_name, names)
    where = ctx.command_path if ctx is not None else PROG
    return f"{where}: {message} (see {where} --help)"


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``pi-sandbox`` command; returns the process exit code."""
    args = list(sys.argv[1:] if argv is None else argv)
    state = CliContext()
    try:
        if os.environ.get(COMPLETE_VAR):
            return _complete()
        result: Any = build_cli().main(args, prog_name=PROG, standalone_mode=False, obj=state)
        return int(result) if isinstance(result, int) else ExitCode.OK
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.Abort:
        print_human(f"{PROG}: aborted", stream=sys.stderr)
        return ExitCode.FAILURE
    except click.ClickException as exc:  # UsageError, BadParameter, NoSuchOption, ...
        print_human(_usage_message(exc), stream=sys.stderr, no_color=state.no_color, style="red")
        return ExitCode.USAGE
    except UsageError as exc:
        print_human(str(exc), stream=sys.stderr, no_color=state.no_color, style="red")
        return ExitCode.USAGE
    except PiSandboxError as exc:  # messages may name extension files or ids: printed terminal-safe
        print_human(f"{PROG}: error: {exc}", stream=sys.stderr, no_color=state.no_color, style="red")
        if exc.remediation and exc.remediation not in str(exc):
            print_human(f"  fix: {exc.remediation}", stream=sys.stderr, no_color=state.no_color)
        return int(exc.exit_code)
    except KeyboardInterrupt:
        print_human(f"{PROG}: interrupted", stream=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (``pi-sandbox ... | head``): stop quietly, and keep Python's exit-time
        # flush from raising again on the closed pipe.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141
    except OSError as exc:
        if exc.errno not in _OUTPUT_ERRNOS:
            raise  # anything else is a bug: keep its traceback
        # stdout itself could not be written (redirected to a file on a full disk, past `ulimit -f`)
        print_human(f"{PROG}: error: cannot write the output: {exc.strerror or exc}; what was printed is "
                    f"incomplete", stream=sys.stderr, no_color=state.no_color, style="red")
        print_human(f"  fix: {OutputWriteError.remediation}", stream=sys.stderr, no_color=state.no_color)
        try:
            sys.stdout.flush()
        except OSError:  # what is still buffered cannot be written either: keep the exit-time flush quiet
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return ExitCode.ENVIRONMENT


def _complete() -> int:
    """Answer a completion request from the shell (click's protocol, driven by ``COMPLETE_VAR``)."""
    from click.shell_completion import shell_complete

    instruction = os.environ.get(COMPLETE_VAR, "")
    return shell_complete(build_cli(), {}, PROG, COMPLETE_VAR, instruction)


def run() -> None:
    """Console-script entry point."""
    sys.exit(main())


if __name__ == "__main__":  # pragma: no cover
    run()
