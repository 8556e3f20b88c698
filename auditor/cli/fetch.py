"""``auditor fetch``: load expected ranges (fetching and caching feeds) and print them."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from auditor.cli import params as p

if TYPE_CHECKING:
    from auditor.cli.options import Options
    from auditor.cli.outcome import Outcome


@p.takes(*p.FETCHING, *p.FRESHNESS, *p.LOOKUP, "spf_view")
def command(
    ctx: typer.Context,
    sources: Annotated[
        list[str],
        typer.Argument(
            metavar="SOURCE...",
            help="Providers with filters (aws:service=EC2,region=eu-west-1), https URLs,"
            " text:URL-OR-PATH, json:URL-OR-PATH#SELECTOR, spf:DOMAIN, files,"
            " file+FORMAT:PATH or -.",
        ),
    ],
    output: Annotated[
        str,
        typer.Option(
            "--output",
            "-o",
            metavar=p.LISTINGS_METAVAR,
            help="cidr (aggregated, the default; nothing is printed when a source is not"
            " complete), json or csv (every entry with its origin).",
        ),
    ] = "cidr",
    family: p.FamilyOpt = "all",
    output_file: p.OutputFileOpt = None,
    fmt: p.FormatOpt = None,
    host_bits: p.HostBitsOpt = "fix",
    lenient: p.LenientOpt = False,
    quiet: p.QuietOpt = False,
    max_bytes: p.MaxBytesOpt = 256 * 1024 * 1024,
    **shared: Any,
) -> None:
    """Exit codes: 0 every source complete; 2 a source failed, was partial, or was stale
    (unless --allow-stale). A run that exits 2 never replaces --output-file, and -o cidr
    then prints nothing.

    \b
    Examples:
      auditor fetch aws:service=AMAZON_SES,region=eu-west-1|us-east-1
      auditor fetch github:section=hooks --family 4 --output-file github.cidr
      auditor fetch spf:_spf.google.com -o json
      auditor fetch stripe:from=ips.json --offline
    """
    p.start(ctx, locals(), lambda opts: _run(opts, sources, family))


def _run(opts: Options, sources: list[str], family: str) -> Outcome:
    from auditor import audit
    from auditor.cli.loading import load_all
    from auditor.cli.options import stdin_once
    from auditor.cli.outcome import Outcome, not_complete, source_complete
    from auditor.cli.output import deliver, err
    from auditor.errors import UsageError
    from auditor.plugins import LISTINGS
    from auditor.reports import listing

    output = opts.output
    if output not in LISTINGS:
        raise UsageError(f"unknown output {output!r}", hint="choose one of: " + ", ".join(LISTINGS))
    from auditor.cli.options import family_of

    fam = family_of(family)
    stdin_once(sources)
    options = opts.load_options("expected", **opts.reading())
    with opts.open() as loader:
        sets = load_all(sources, loader, options, opts)
    complete = True
    for rs in sets:
        if not source_complete(rs, opts.allow_stale):
            complete = False
        for finding in audit.whole_space_findings([rs]):
            err(f"error: {finding.origin}: {finding.message}")
            complete = False
    if fam is not None and complete and not listing.union(sets, fam):
        err(f"error: the sources list no IPv{fam} address")
        complete = False
    text = listing.render(sets, output, fam, complete=complete)
    incomplete = None if complete else not_complete(sets, opts.allow_stale)
    deliver(text, opts.output_file, output=output, quiet=opts.quiet, incomplete=incomplete)
    return Outcome(complete=complete)
