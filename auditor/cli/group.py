"""The Typer application: the commands of :data:`auditor.cli.commands.COMMANDS`, each
registered with its summary and the rest of its help from its module, and the options of
``auditor`` itself. Heavy modules are imported inside the commands, when one runs."""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Collection, Sequence
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from auditor import __version__
from auditor.cli.commands import APP_HELP, COMMANDS, DEBUG_HELP, VERSION_HELP
from auditor.cli.params import debug_first


def _version(value: bool) -> None:
    if value:
        typer.echo(f"auditor {__version__}")
        raise typer.Exit(0)


def main(
    debug: Annotated[
        bool,
        typer.Option("--debug", callback=debug_first, expose_value=False, help=DEBUG_HELP),
    ] = False,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help=VERSION_HELP)
    ] = False,
) -> None:
    """The options of ``auditor`` itself, before the command."""


class _Group(TyperGroup):
    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        # ctx: Click's Context, as Typer bundles it. The whole command line, before parsing
        # takes it apart: what reports show of the run.
        from auditor import runmeta

        runmeta.begin(args)
        return super().parse_args(ctx, args)


def application(names: Collection[str] | None = None) -> typer.Typer:
    """The application with the commands ``names`` (default: all of them). A run registers
    only the command it runs: the others are neither imported nor turned into options."""
    app = typer.Typer(
        name="auditor",
        cls=_Group,
        help=APP_HELP,
        no_args_is_help=True,
        # --install-completion / --show-completion; typer imports its completion module anyway
        add_completion=True,
        pretty_exceptions_enable=False,
        rich_markup_mode=None,
        context_settings={"help_option_names": ["-h", "--help"]},
    )
    app.callback()(main)
    for name, summary in COMMANDS:
        if names is not None and name not in names:
            continue
        command = importlib.import_module(f"auditor.cli.{name}").command
        # the summary, then the rest of the command's help (its docstring)
        app.command(name, help=summary + "\n\n" + inspect.cleandoc(command.__doc__ or ""))(command)
    return app


def command_named(args: Sequence[str]) -> str | None:
    """The command ``auditor ARGS`` runs, when it names one: the first argument that is not
    an option (the options before the command take no value)."""
    first = next((arg for arg in args if not arg.startswith("-")), None)
    return first if first in {name for name, _ in COMMANDS} else None
