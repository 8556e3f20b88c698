"""``auditor providers``: the provider catalog."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Annotated

import typer

from auditor.cli.params import CatalogOpt, DebugOpt, TextJsonOpt, start

if TYPE_CHECKING:
    from auditor.cli.options import Options
    from auditor.cli.outcome import Outcome
    from auditor.sources.catalog import Provider


def command(
    ctx: typer.Context,
    name: Annotated[
        str | None,
        typer.Argument(metavar="[NAME]", help="Show one provider in full (in any case)."),
    ] = None,
    catalog: CatalogOpt = None,
    output: TextJsonOpt = "text",
    debug: DebugOpt = False,
) -> None:
    """\b
    Examples:
      auditor providers
      auditor providers aws
      auditor providers servicenow -o json
      auditor providers --catalog my-catalog.yaml
    """
    start(ctx, locals(), lambda opts: _run(opts, name))


def _run(opts: Options, name: str | None) -> Outcome:
    from auditor.cli.outcome import Outcome
    from auditor.cli.output import clean
    from auditor.errors import UsageError
    from auditor.sources.catalog import load_catalog

    if opts.output not in ("text", "json"):
        raise UsageError(f"unknown output {opts.output!r}", hint="choose text or json")
    cat = load_catalog(opts.catalog)
    if name is not None and name.lower() not in cat:
        raise UsageError(f"unknown provider {name!r}", hint="providers: " + ", ".join(cat.names()))
    if opts.output == "json":
        import json

        chosen = [name.lower()] if name is not None else cat.names()
        doc = {
            "schema_version": 1,
            "kind": "providers",
            "providers": [_described(cat.get(n)) for n in chosen],
        }
        typer.echo(json.dumps(doc, indent=2, sort_keys=True))
        return Outcome()
    if name is not None:
        p = cat.get(name.lower())
        feed = [
            f"parser:      {p.parser}",
            f"filters:     {', '.join(p.filters) or '-'}",
            *(f"url:         {u}" for u in p.urls or ("- (give one with from=)",)),
        ]
        if p.spf:  # read from DNS on every run: no feed, no filters, nothing cached
            feed = [f"spf:         {record}" for record in p.spf]
        lines = [
            f"name:        {p.name}",
            f"description: {p.description}",
            *feed,
            f"docs:        {p.docs or '-'}",
            f"refresh:     {int(p.refresh)} s" if p.refresh else "refresh:     -",
            f"defined in:  {p.defined_in}",
        ]
        if p.notes:
            lines.append(f"notes:       {p.notes}")
        lines.append(f"example:     auditor fetch {_example(p.name, p.filters)}")
        typer.echo("\n".join(clean(line) for line in lines))
        return Outcome()
    for n in cat.names():
        p = cat.get(n)
        filters = ", ".join(p.filters) or "-"
        typer.echo(clean(f"{n:<11} {p.description}"))
        if p.spf:
            typer.echo(clean(f"{'':<11} SPF records: {', '.join(p.spf)}"))
            continue
        typer.echo(clean(f"{'':<11} filters: {filters}"))
        for url in p.urls or ("(no fixed address: give one with from=)",):
            typer.echo(clean(f"{'':<11} {url}"))
    typer.echo(
        "\nSpec: NAME or NAME:KEY=VALUE[,KEY=VALUE...] (NAME in any case); VALUE may be"
        " a|b; from=FILE-OR-URL reads the feed from elsewhere. Also: https URLs,"
        " text:URL-OR-PATH, json:URL-OR-PATH#SELECTOR, spf:DOMAIN, files,"
        " file+FORMAT:PATH, -."
    )
    return Outcome()


def _example(name: str, filters: Sequence[str]) -> str:
    return f"{name}:{filters[0]}=VALUE" if filters else name


def _described(p: Provider) -> dict[str, object]:
    """One provider as JSON: a feed (parser, filters, urls) or SPF records (spf)."""
    out: dict[str, object] = {
        "name": p.name,
        "description": p.description,
        "source": "spf" if p.spf else "feed",
        "docs": p.docs,
        "notes": p.notes,
        "defined_in": str(p.defined_in),
    }
    if p.spf:
        out["spf"] = list(p.spf)
    else:
        out.update(
            parser=p.parser,
            filters=list(p.filters),
            urls=list(p.urls or ()),
            refresh=p.refresh,
        )
    return out
