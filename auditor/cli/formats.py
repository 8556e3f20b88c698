"""``auditor formats``: what is built in."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from auditor.cli.params import DebugOpt, start

if TYPE_CHECKING:
    from auditor.cli.outcome import Outcome


def command(ctx: typer.Context, debug: DebugOpt = False) -> None:
    """\b
    Examples:
      auditor formats
      auditor diff -e nodes.txt -d file+postfix-cidr:client_access
    """
    start(ctx, {}, lambda opts: _run())


def _run() -> Outcome:
    from auditor.allowlists import READERS
    from auditor.cli.outcome import Outcome
    from auditor.reports import REPORTS
    from auditor.rules import GENERATORS
    from auditor.service import NAMED

    sections: list[tuple[str, dict[str, str]]] = [
        (
            "input formats (--format, file+FORMAT:PATH)",
            {name: cls.description for name, cls in READERS.items()},
        ),
        ("reports (--output)", {name: cls.description for name, cls in REPORTS.items()}),
        ("rule platforms (--rules)", {name: cls.description for name, cls in GENERATORS.items()}),
    ]
    width = max(len(name) for _, rows in sections for name in rows)
    aliases = {"input formats": READERS.aliases, "rule platforms": GENERATORS.aliases}
    limits = {name: "; ".join(cls().limits()) for name, cls in GENERATORS.items()}
    for title, rows in sections:
        typer.echo(f"{title}:")
        for name in sorted(rows):
            typer.echo(f"  {name:<{width}}  {rows[name]}")
            if title.startswith("rule platforms"):
                typer.echo(f"  {'':<{width}}  limits: {limits[name]}")
        same = aliases.get(title.partition(" (")[0], {})
        if same:
            typer.echo("  aliases: " + ", ".join(f"{a} = {n}" for a, n in sorted(same.items())))
    typer.echo("services (--service, also tcp/PORTS, udp/PORTS, any; names join: smtp,smtps):")
    for name, spec in NAMED.items():
        typer.echo(f"  {name:<{width}}  {spec}")
    return Outcome()
