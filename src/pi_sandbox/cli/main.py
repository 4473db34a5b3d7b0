"""Entry point of the ``pi`` command: builds the parser from the command modules and runs one command.

The CLI is thin: each command module parses its arguments and calls library functions that the
tests call too. Errors derived from :class:`PiSandboxError` are printed as one line and mapped to
their exit code; a traceback is only ever shown for a genuine bug.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from pi_sandbox import __version__
from pi_sandbox.cli import commands
from pi_sandbox.cli.context import CliContext, UsageError, terminal_safe
from pi_sandbox.errors import PiSandboxError


class _Parser(argparse.ArgumentParser):
    """argparse that raises instead of exiting, so usage errors share one exit path (2)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(f"{self.prog}: {message}")


def build_parser() -> argparse.ArgumentParser:
    """The whole ``pi`` command tree."""
    parser = _Parser(prog="pi", description="pi-sandbox: run pi extensions with no ambient authority.")
    parser.add_argument("--version", action="version", version=f"pi-sandbox {__version__}")
    parser.add_argument(
        "--extension-policy",
        metavar="PROFILE",
        help="extension policy profile for this run: safe, balanced (= standard) or permissive",
    )
    parser.add_argument(
        "--explain-extension-policy",
        action="store_true",
        help="print the effective extension policy and exit (use -e/--extension ID for one extension)",
    )
    parser.add_argument(
        "-e",
        "--extension",
        action="append",
        default=[],
        metavar="PATH_OR_ID",
        help="load this extension (repeatable); with --explain-extension-policy: the extension id",
    )
    parser.add_argument("--no-extensions", action="store_true", help="load no extensions at all")
    parser.add_argument("--json", action="store_true", help="machine-readable JSON output")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    tree = commands.CommandTree(sub)
    for register in commands.registered():
        register(tree)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``pi`` command; returns the process exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
        ctx = CliContext.from_args(args)
        if args.explain_extension_policy:
            from pi_sandbox.cli.policy_cmds import run_explain

            return run_explain(args, ctx)
        handler = getattr(args, "handler", None)
        if handler is None:
            parser.print_help()
            return 0 if args.command is None else 2
        code: int = handler(args, ctx)
        return code
    except UsageError as exc:
        print(terminal_safe(str(exc)), file=sys.stderr)
        return 2
    except PiSandboxError as exc:  # messages may name extension files or ids: never raw control characters
        print(terminal_safe(f"pi: error: {exc}"), file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("pi: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (``pi ... | head``): stop quietly, and keep Python's exit-time flush
        # from raising again on the closed pipe.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
