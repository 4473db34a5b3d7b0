"""The click plumbing of ``pi-sandbox``: a lazily loaded command tree, global options, "did you mean".

Command modules are imported only when their command runs (or its own ``--help`` is asked for):
``pi-sandbox --help`` lists the tree from :mod:`pi_sandbox.cli.commands` without importing a layer.
Global options (:data:`GLOBAL_OPTIONS`) are attached to every group and command, so they work before
or after the subcommand; each occurrence adds to the one :class:`CliContext` of the invocation.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import click

from pi_sandbox.cli import commands
from pi_sandbox.cli.context import PROG, CliContext, UsageError

F = TypeVar("F", bound=Callable[..., int])


def _state(ctx: click.Context) -> CliContext:
    return ctx.ensure_object(CliContext)


def _set_json(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if value:
        _state(ctx).json_output = True


def _add_extensions(ctx: click.Context, _param: click.Parameter, value: tuple[str, ...]) -> None:
    _state(ctx).extensions.extend(value)


def _set_no_extensions(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if value:
        _state(ctx).no_extensions = True


def _set_profile(ctx: click.Context, _param: click.Parameter, value: str | None) -> None:
    if value is not None:
        _state(ctx).cli_profile = value


def _set_no_color(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if value:
        _state(ctx).no_color = True


#: name → (declarations, keyword arguments) of the options every command accepts anywhere.
GLOBAL_OPTIONS: dict[str, tuple[tuple[str, ...], dict[str, Any]]] = {
    "json": (("--json",), {"is_flag": True, "callback": _set_json, "help": "machine-readable JSON output"}),
    "extension": (("-e", "--extension"), {
        "multiple": True, "metavar": "PATH_OR_ID", "callback": _add_extensions,
        "help": "load this extension (repeatable); commands about one extension take its id here"}),
    "no_extensions": (("--no-extensions",), {
        "is_flag": True, "callback": _set_no_extensions, "help": "load no extensions at all (emergency stop)"}),
    "extension_policy": (("--extension-policy",), {
        "metavar": "PROFILE", "callback": _set_profile,
        "help": "policy profile for this run: safe, balanced (= standard) or permissive"}),
    "no_color": (("--no-color",), {
        "is_flag": True, "callback": _set_no_color, "help": "no colours (also: NO_COLOR=1 in the environment)"}),
}


def global_params(*, show: Sequence[str] = (), extension_help: str | None = None) -> list[click.Parameter]:
    """Fresh click options for the global options; those in ``show`` appear in the command's help."""
    params: list[click.Parameter] = []
    for name, (decls, kwargs) in GLOBAL_OPTIONS.items():
        options = dict(kwargs, expose_value=False, hidden=name not in show)
        if name == "extension" and extension_help is not None:
            options["help"] = extension_help
            options["metavar"] = "ID"
        params.append(click.Option(list(decls), **options))
    return params


#: ``\b`` keeps click from re-wrapping (it would break option names at their hyphens).
_EPILOG = ("\b\nGlobal options, anywhere on the line: --json, -e/--extension, --no-extensions,"
           "\n--extension-policy, --no-color.\nExit codes: 0 ok, 1 failure, 2 usage, 3 environment.")


class PiCommand(click.Command):
    """A leaf command: global options attached, short help taken from the command table."""

    def __init__(self, *args: Any, show: Sequence[str] = ("json",), extension_help: str | None = None,
                 **kwargs: Any) -> None:
        kwargs.setdefault("epilog", _EPILOG)
        super().__init__(*args, **kwargs)
        shown = (*show, "extension") if extension_help else tuple(show)
        self.params.extend(global_params(show=shown, extension_help=extension_help))


def command(*, show: Sequence[str] = ("json",), extension: str | None = None,
            **settings: Any) -> Callable[[F], PiCommand]:
    """Decorator for a command function ``fn(ctx: CliContext, **options) -> int`` (the exit code).

    ``show`` lists the global options worth showing in this command's help (``json`` by default);
    ``extension`` is the help text of ``--extension ID`` for commands about one extension (read it
    with :meth:`CliContext.extension_id`). Other keywords go to :class:`click.Command`
    (``context_settings``, ...). Register the command in :data:`pi_sandbox.cli.commands.COMMANDS`.
    """

    def wrap(fn: F) -> PiCommand:
        def callback(**params: Any) -> int:
            return fn(click.get_current_context().ensure_object(CliContext), **params)

        callback.__doc__ = fn.__doc__
        decorated = click.command(cls=PiCommand, show=show, extension_help=extension, **settings)(callback)
        params = getattr(fn, "__click_params__", [])  # options declared on fn with @click.option
        decorated.params[:0] = list(reversed(params))
        assert isinstance(decorated, PiCommand)
        return decorated

    return wrap


def suggest(word: str, choices: Sequence[str]) -> str:
    """`` Did you mean 'x'?`` for the closest choice, or an empty string."""
    import difflib  # only on a mistake: --help never pays for it

    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" Did you mean '{close[0]}'?" if close else ""


def _incomplete() -> int | None:
    """A group called without a subcommand: show its help; exit 2 (the command is incomplete)."""
    ctx = click.get_current_context()
    if ctx.invoked_subcommand is not None:
        return None
    click.echo(ctx.get_help())
    return 2


class PiGroup(click.Group):
    """A group of the lazily loaded command tree (``path`` = its words, ``()`` for the root)."""

    def __init__(self, path: tuple[str, ...], **kwargs: Any) -> None:
        kwargs.setdefault("epilog", _EPILOG)
        kwargs.setdefault("callback", _incomplete)
        super().__init__(name=path[-1] if path else PROG, invoke_without_command=True, **kwargs)
        self.path = path
        self.params.extend(global_params())

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(commands.children(self.path))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        path = (*self.path, cmd_name)
        if path in commands.GROUPS:
            return PiGroup(path, help=commands.GROUPS[path], short_help=commands.GROUPS[path])
        entry = commands.COMMANDS.get(path)
        if entry is None:
            return None
        target, short_help = entry
        module_name, _, attr = target.partition(":")
        loaded = getattr(importlib.import_module(f"pi_sandbox.cli.{module_name}"), attr)
        if not isinstance(loaded, click.Command):
            raise TypeError(f"{target} is not a click command")  # a wiring bug, not a user error
        loaded.name = cmd_name
        loaded.short_help = short_help
        return loaded

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # From the table, without importing a command module (``--help`` stays fast).
        rows = [(name, commands.short_help((*self.path, name))) for name in self.list_commands(ctx)]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)

    def resolve_command(self, ctx: click.Context, args: list[str]) -> tuple[str | None, click.Command | None,
                                                                            list[str]]:
        name = args[0]
        cmd = self.get_command(ctx, name)
        if cmd is None:
            if name.startswith("-"):
                self.parse_args(ctx, args)  # an option in command position: let click name it
            where = " ".join((PROG, *self.path))
            raise UsageError(f"{where}: no such command '{name}'.{suggest(name, self.list_commands(ctx))}")
        return name, cmd, args[1:]

