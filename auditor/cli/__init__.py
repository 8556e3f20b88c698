"""The command line. Thin: build loaders, call the library, render, map to an exit code.

One module per command; the options they share are declared in :mod:`auditor.cli.params`
and gathered into :class:`auditor.cli.options.Options`. Heavy modules are imported inside
the commands so that ``auditor --help`` stays fast.
"""

from __future__ import annotations

import gc
from typing import Annotated

import typer

from auditor import __version__
from auditor.cli import diff, explain, fetch, formats, providers, rules, spf
from auditor.cli.params import debug_first

EXIT_CODES_HELP = (
    "Exit codes: 0 every input was read completely and nothing is missing; "
    "1 drift (something is missing, an over-broad entry, or extras with --fail-on-extra); "
    "2 trouble (a source failed or was partial or stale, bad input, bad usage)."
)

SOURCE_HELP = (
    "A SOURCE is a file; file+FORMAT:PATH (a file in that format, whatever --format says;"
    " file+FORMAT:- for stdin); -; an https URL; a provider of the catalog, with filters"
    " (aws:service=EC2,region=eu-west-1; see: auditor providers); text:URL-OR-PATH;"
    " json:URL-OR-PATH#SELECTOR; or spf:DOMAIN."
)

app = typer.Typer(
    name="auditor",
    help="Audit IP allowlists against the ranges a provider sends from.\n\n"
    + SOURCE_HELP
    + "\n\n"
    + EXIT_CODES_HELP
    + "\n\n\b\nExamples:\n"
    "  auditor diff -e aws:service=AMAZON_SES -d /etc/postfix/main.cf\n"
    "  auditor explain 192.0.2.10 -d iptables.rules -d ip6tables.rules\n"
    "  auditor fetch github:section=hooks --output-file github.cidr\n"
    "  auditor COMMAND -h",
    no_args_is_help=True,
    # --install-completion / --show-completion; typer imports its completion module anyway
    add_completion=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"auditor {__version__}")
        raise typer.Exit(0)


@app.callback()
def main(
    debug: Annotated[
        bool,
        typer.Option(
            "--debug",
            callback=debug_first,
            expose_value=False,
            help="Show tracebacks on errors (before or after the command).",
        ),
    ] = False,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show version.")
    ] = False,
) -> None:
    pass


app.command("diff")(diff.command)
app.command("rules")(rules.command)
app.command("fetch")(fetch.command)
app.command("explain")(explain.command)
app.command("spf")(spf.command)
app.command("providers")(providers.command)
app.command("formats")(formats.command)


def run() -> None:
    # A run builds hundreds of thousands of small acyclic objects (entries, rules, segments)
    # and then exits; the cyclic collector's default thresholds would walk them over and over
    # (half the time of a 50,000-rule export). Collect rarely instead.
    gc.set_threshold(200_000, 50, 100)
    app(prog_name="auditor")
