"""``auditor diff``: compare expected ranges with an allowlist."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from auditor.cli import diffing
from auditor.cli import params as p
from auditor.cli.options import family_of
from auditor.cli.rulemaking import RuleAsk


@p.takes(*p.FETCHING, *p.FRESHNESS, *p.LOOKUP, "spf_view")
def command(
    ctx: typer.Context,
    expected: p.ExpectedOpt,
    declared: p.DeclaredOpt,
    fmt: p.FormatOpt = None,
    output: Annotated[
        str,
        typer.Option(
            "--output",
            "-o",
            metavar=p.REPORTS_METAVAR + "|nagios",
            help="The report (see: auditor formats). cidr lists the missing CIDRs only and"
            " prints nothing when the run is not complete. nagios: one check line with"
            " performance data, and the plugin exit codes (0 OK, 1 WARNING, 2 CRITICAL,"
            " 3 UNKNOWN) instead of those below.",
        ),
    ] = "text",
    output_file: p.OutputFileOpt = None,
    prometheus: Annotated[
        Path | None,
        typer.Option(
            "--prometheus",
            metavar="FILE",
            help="Also write the run's metrics for the node_exporter textfile collector"
            " (name it *.prom): replaced atomically, and written for a failed run too (with"
            " auditor_audit_complete 0).",
        ),
    ] = None,
    audit_name: Annotated[
        str,
        typer.Option(
            "--audit-name",
            metavar="NAME",
            help="The audit label of --prometheus and --output nagios.",
        ),
    ] = "diff",
    rules: p.RulesOpt = None,
    service: p.ServiceOpt = "tcp/25",
    chain: Annotated[
        str,
        p.chain(
            "Chain evaluated in declared rulesets and given to the rules (INPUT; FORWARD for a"
            " gateway)."
        ),
    ] = "INPUT",
    to: p.ToOpt = None,
    scope: Annotated[
        list[str] | None,
        typer.Option(
            "--scope",
            metavar="GROUP",
            help="Declared group(s) put there for this "
            "provider; entries outside expected are reported as extra.",
        ),
    ] = None,
    fail_on_extra: Annotated[
        bool, typer.Option("--fail-on-extra", help="Exit 1 when a scope has extra entries.")
    ] = False,
    output_dir: p.OutputDirOpt = None,
    family: Annotated[
        str,
        typer.Option(
            "--family", metavar="all|4|6", help="Rules for one address family only (all)."
        ),
    ] = "all",
    prune: Annotated[
        bool,
        typer.Option(
            "--prune",
            help="With --scope and --rules: also the commands that remove the extra (stale)"
            " entries, in an artifact of their own.",
        ),
    ] = False,
    layered: Annotated[
        bool,
        typer.Option(
            "--layered",
            help="Each declared source is a layer the connection crosses (a host firewall in"
            " front of the mail server): an address is allowed only when every source that"
            " speaks for its family allows it; the report says what each one lets in. Without"
            " it, the declared sources are one allowlist (their union).",
        ),
    ] = False,
    host_bits: p.HostBitsOpt = "fix",
    lenient: p.LenientOpt = False,
    over_broad_v4: Annotated[
        int,
        typer.Option(
            "--over-broad-v4",
            metavar="PREFIXLEN",
            help="Declared IPv4 entries broader than this prefix length are findings.",
        ),
    ] = diffing.OVER_BROAD_V4,
    over_broad_v6: Annotated[
        int, typer.Option("--over-broad-v6", metavar="PREFIXLEN", help="The same for IPv6.")
    ] = diffing.OVER_BROAD_V6,
    max_bytes: p.MaxBytesOpt = 256 * 1024 * 1024,
    quiet: p.QuietOpt = False,
    **shared: Any,
) -> None:
    """A SOURCE is a file; file+FORMAT:PATH (that file in FORMAT, whatever --format says;
    file+FORMAT:- for stdin); -; an https URL; a provider of the catalog with filters
    (aws:service=EC2,region=eu-west-1; see: auditor providers); text:URL-OR-PATH;
    json:URL-OR-PATH#SELECTOR; or spf:DOMAIN.

    Exit codes: 0 in sync and complete, 1 drift, 2 trouble (a source failed, was partial
    or stale, bad input, bad usage). A run that exits 2 never replaces --output-file, and
    -o cidr then prints nothing.

    \b
    Examples:
      auditor diff -e aws:service=AMAZON_SES,region=eu-west-1 -d /etc/postfix/main.cf
      auditor diff -e nodes.txt -d iptables.rules -d ip6tables.rules -r iptables
      auditor diff -e nodes.txt -d file+postfix-cidr:client_access -o cidr -q
      auditor diff -e servicenow -d /etc/postfix/main.cf -d iptables.rules --layered
      auditor diff -e spf:_spf.google.com -d allowlist.yaml --scope google -o md
      auditor diff -e servicenow -d main.cf -o nagios --audit-name servicenow-mail
    """
    p.start(
        ctx,
        locals(),
        lambda opts: diffing.run(
            opts,
            rules or [],
            fail_on_extra,
            over_broad_v4,
            over_broad_v6,
            layered,
            RuleAsk(tuple(rules or ()), family_of(family), output_dir, prune),
        ),
    )
