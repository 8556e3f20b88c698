"""``auditor spf``: the SPF include tree of a domain and the addresses it authorises."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from auditor.cli.params import DebugOpt, NameserverOpt, SpfViewOpt, TextJsonOpt, start

if TYPE_CHECKING:
    from auditor.cli.options import Options
    from auditor.cli.outcome import Outcome


def command(
    ctx: typer.Context,
    domain: Annotated[
        str, typer.Argument(metavar="DOMAIN", help="The domain whose SPF record is expanded.")
    ],
    output: TextJsonOpt = "text",
    nameserver: NameserverOpt = None,
    timeout: Annotated[
        float,
        typer.Option(
            "--timeout", metavar="SECONDS", help="Overall deadline for the whole tree, seconds."
        ),
    ] = 20.0,
    spf_view: SpfViewOpt = "honoured",
    debug: DebugOpt = False,
) -> None:
    """Exit codes: 0 the record was expanded completely; 2 it was not (over the lookup limit, a
    permerror, a term that depends on the client, a DNS failure).

    \b
    Examples:
      auditor spf _spf.google.com
      auditor spf example.com --spf-view published -o json
      auditor diff -e spf:example.com -d /etc/postfix/main.cf
    """
    start(ctx, locals(), lambda opts: _run(opts, domain))


def _run(opts: Options, domain: str) -> Outcome:
    from auditor import audit
    from auditor.cli.outcome import Outcome
    from auditor.cli.output import err, write
    from auditor.errors import UsageError
    from auditor.reports import spf_report
    from auditor.spf.result import expand_domain

    if opts.output not in ("text", "json"):
        raise UsageError(f"unknown output {opts.output!r}", hint="choose text or json")
    opts.check_timeout()
    options, view = opts.dns_options(), opts.view()
    expansion = expand_domain(domain, options)
    render = spf_report.render_json if opts.output == "json" else spf_report.render_text
    write(render(expansion, view), None)
    complete = spf_report.complete(expansion)
    everything = spf_report.space(expansion, view)
    for fam in (4, 6):
        if audit.covers_family(everything, fam):
            err(f"error: {domain} authorises every IPv{fam} address (+all or the like)")
            complete = False
    return Outcome(complete=complete)
