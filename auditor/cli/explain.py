"""``auditor explain``: for one address, whose it is and whether each declared source
allows it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from auditor.cli import params as p

if TYPE_CHECKING:
    from auditor.cli.options import Options
    from auditor.cli.outcome import Outcome
    from auditor.service import Service


@p.takes(*p.FETCHING, *p.LOOKUP)
def command(
    ctx: typer.Context,
    address: Annotated[
        str,
        typer.Argument(
            metavar="ADDRESS", help="The client address to explain (one IPv4 or IPv6 address)."
        ),
    ],
    declared: p.DeclaredOpt,
    expected: Annotated[
        list[str] | None,
        typer.Option(
            "--expected",
            "-e",
            metavar="SOURCE",
            help="Whose address it may be (repeatable; any SOURCE diff takes).",
        ),
    ] = None,
    service: p.ServiceOpt = "tcp/25",
    chain: Annotated[
        str, p.chain("Chain evaluated in declared rulesets (INPUT; FORWARD for a gateway).")
    ] = "INPUT",
    to: p.ToOpt = None,
    fmt: p.FormatOpt = None,
    host_bits: p.HostBitsOpt = "fix",
    lenient: p.LenientOpt = False,
    output: p.TextJsonOpt = "text",
    quiet: p.QuietOpt = False,
    **shared: Any,
) -> None:
    """A source that does not speak for the address's family (an iptables export for an IPv6
    address) has no say when another does.

    Exit codes: 0 every declared source that has a say allows it; 1 one does not; 2 a source
    could not say (conditional, failed), or no source covers the address's family.

    \b
    Examples:
      auditor explain 192.0.2.10 -d iptables.rules -d ip6tables.rules
      auditor explain 2001:db8::25 -d /etc/postfix/main.cf -e aws:service=AMAZON_SES
      auditor explain 198.51.100.7 -d nsg.json --service smtp -q && echo allowed
    """
    p.start(ctx, locals(), lambda opts: _run(opts, address))


def _run(opts: Options, address: str) -> Outcome:
    import json

    from auditor import audit
    from auditor.cli.loading import load_both
    from auditor.cli.options import stdin_once, to_address
    from auditor.cli.outcome import Outcome
    from auditor.cli.output import clean, write
    from auditor.errors import UsageError
    from auditor.service import Service

    if opts.output not in ("text", "json"):
        raise UsageError(f"unknown output {opts.output!r}", hint="choose text or json")
    stdin_once([*opts.expected, *opts.declared])
    target = to_address(address, "ADDRESS")
    if target is None:
        raise UsageError("an address is needed")
    svc = Service.parse(opts.service)
    exp, dec = load_both(opts, svc)
    result = audit.explain(target, exp, dec)
    probe = _probe_hint(svc, opts.to, result.address)
    if opts.output == "json":
        doc = {
            "schema_version": 1,
            "kind": "explain",
            "address": result.address,
            "service": str(svc),
            "allowed": result.allowed,
            "certain": result.certain,
            "expected": [{"range": e.text, "origin": str(e.origin)} for e in result.expected],
            "declared": [
                {"source": d.source, "decision": d.decision, "where": d.where}
                for d in result.declared
            ],
            "probe": probe,
        }
        text = json.dumps(doc, indent=2, sort_keys=True) + "\n"
    else:
        lines = [f"{result.address} ({svc.describe()})"]
        if opts.expected:
            if result.expected:
                lines += [f"  expected: {e.text} from {e.origin}" for e in result.expected]
            else:
                lines.append("  expected: not in any expected source")
        for d in result.declared:
            lines.append(f"  {d.source}: {d.decision}: {d.where}")
        if probe:
            lines.append(
                f"  to see what a sender from it meets, on a host with that address: {probe}"
            )
        text = "\n".join(clean(line) for line in lines) + "\n"
    if not opts.quiet:
        write(text, None)
    return Outcome(complete=result.certain, drift=not result.allowed)


def _probe_hint(svc: Service, to: str | None, address: str) -> str | None:
    """The ``auditor probe smtp`` line that tries this address's path for real: for one TCP
    port (a mail service), from the address, to ``--to`` (or the mail server to name)."""
    if svc.protocol != "tcp" or len(svc.ports) != 1 or svc.ports[0][0] != svc.ports[0][1]:
        return None
    host = to or "MAIL-SERVER"
    if ":" in host:
        host = f"[{host}]"
    return f"auditor probe smtp {host}:{svc.ports[0][0]} --source {address}"
