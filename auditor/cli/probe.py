"""``auditor probe smtp``: connect to a mail server as a sending relay does, and say how it
ended."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from auditor.cli.params import CaBundleOpt, DebugOpt, TextJsonOpt, start

if TYPE_CHECKING:
    from auditor.cli.options import Options
    from auditor.cli.outcome import Outcome
    from auditor.net.smtp_probe import ProbeOptions, ProbeResult

PROTOCOLS = ("smtp",)


def command(
    ctx: typer.Context,
    protocol: Annotated[str, typer.Argument(metavar="smtp", help="What to probe: smtp.")],
    target: Annotated[
        str,
        typer.Argument(
            metavar="HOST[:PORT]",
            help="The server: a name or an address ([IPv6]:PORT), port 25 by default.",
        ),
    ],
    source: Annotated[
        list[str] | None,
        typer.Option(
            "--source",
            metavar="ADDR",
            help="Connect from this local address (repeatable: one probe from each).",
        ),
    ] = None,
    starttls: Annotated[
        bool, typer.Option("--starttls", help="Also require STARTTLS and EHLO again over TLS.")
    ] = False,
    mail_from: Annotated[
        str | None,
        typer.Option(
            "--mail-from",
            metavar="ADDRESS",
            help="Also send MAIL FROM:<ADDRESS> (then RSET and QUIT; never DATA).",
        ),
    ] = None,
    rcpt: Annotated[
        list[str] | None,
        typer.Option(
            "--rcpt",
            metavar="ADDRESS",
            help="Also send RCPT TO:<ADDRESS> (repeatable; MAIL FROM:<> unless --mail-from).",
        ),
    ] = None,
    helo: Annotated[
        str, typer.Option("--helo", metavar="NAME", help="The name given in EHLO.")
    ] = "localhost",
    output: TextJsonOpt = "text",
    timeout: Annotated[
        float,
        typer.Option(
            "--timeout", metavar="SECONDS", help="Deadline for each probe, connecting included."
        ),
    ] = 30.0,
    ca_bundle: CaBundleOpt = None,
    insecure: Annotated[
        bool,
        typer.Option(
            "--insecure",
            help="STARTTLS without checking the certificate at all (the handshake must work).",
        ),
    ] = False,
    debug: DebugOpt = False,
) -> None:
    """One probe per --source (and per address of the server's name in that family): the
    banner, EHLO, and what was asked for; the outcome of each: ok, refused (a TCP reset: the
    port is closed or a firewall rejects), timeout (no answer: filtered, dropped), unreachable
    (ICMP unreachable or prohibited), eof (the connection opened, then closed before or right
    after the banner), rejected (a 5xx reply), tempfail (a 4xx reply), tls-failed, dns-failed,
    bind-failed (the local address cannot be used).

    Exit codes: 0 every probe is ok; 1 one was refused along the way (refused, timeout,
    unreachable, eof, rejected, tempfail, tls-failed); 2 a probe could not run (dns-failed,
    bind-failed, bad usage).

    \b
    Examples:
      auditor probe smtp mx.example.com
      auditor probe smtp mx.example.com:587 --starttls --source 192.0.2.10
      auditor probe smtp [2001:db8::25] --mail-from relay@example.com --rcpt it@example.com -o json
    """
    start(
        ctx,
        locals(),
        lambda opts: _run(
            opts,
            protocol,
            target,
            tuple(source or ()),
            starttls=starttls,
            mail_from=mail_from,
            rcpt=tuple(rcpt or ()),
            helo=helo,
            insecure=insecure,
        ),
    )


def _run(
    opts: Options,
    protocol: str,
    target: str,
    sources: tuple[str, ...],
    *,
    starttls: bool,
    mail_from: str | None,
    rcpt: tuple[str, ...],
    helo: str,
    insecure: bool,
) -> Outcome:
    from auditor.cli.outcome import Outcome
    from auditor.cli.output import write
    from auditor.errors import UsageError
    from auditor.net import smtp_probe

    if protocol not in PROTOCOLS:
        raise UsageError(f"cannot probe {protocol!r}", hint="choose smtp")
    if opts.output not in ("text", "json"):
        raise UsageError(f"unknown output {opts.output!r}", hint="choose text or json")
    opts.check_timeout()
    try:
        host, port = smtp_probe.split_target(target)
    except ValueError as e:
        raise UsageError(str(e), hint="give HOST, HOST:PORT or [IPv6]:PORT") from None
    if opts.ca_bundle is not None and not Path(opts.ca_bundle).is_file():
        raise UsageError(f"no such CA bundle: {opts.ca_bundle}", hint="give a PEM file")
    if not helo.strip() or any(c.isspace() for c in helo):
        raise UsageError(f"invalid --helo {helo!r}", hint="give one host name, no blanks")
    for address in (mail_from or "", *rcpt):
        if any(c in address for c in "<>\r\n"):
            raise UsageError(f"invalid address {address!r}", hint="give it without <> or newlines")
    options = smtp_probe.ProbeOptions(
        timeout=opts.timeout,
        helo=helo,
        starttls=starttls,
        ca_bundle=opts.ca_bundle,
        insecure=insecure,
        mail_from=mail_from,
        rcpt=rcpt,
    )
    results = smtp_probe.probe_all(host, port, list(sources) or [None], options)
    if opts.output == "json":
        write(_json(results, options), None)
    else:
        write(_text(results), None)
    trouble = any(r.outcome in smtp_probe.LOCAL_TROUBLE for r in results)
    return Outcome(complete=not trouble, drift=not all(r.ok for r in results))


def _where(r: ProbeResult) -> str:
    server = f"[{r.address}]" if r.address and ":" in r.address else r.address
    shown = r.host if server in (None, r.host) else f"{r.host} ({server})"
    text = f"{shown} port {r.port}"
    if r.source is not None:
        text += f" from {r.source}"
    return text


def _text(results: list[ProbeResult]) -> str:
    from auditor.cli.output import clean

    lines = []
    for r in results:
        lines.append(f"{_where(r)}: {r.outcome} ({r.seconds:.3f} s): {r.detail}")
        for step in r.steps:
            said = step.lines
            if not said and step.name != "connect":
                said = ("(no reply)",)
            head = f"  {step.name:<9} {step.seconds * 1000:8.1f} ms"
            if not said:
                lines.append(head)
            for i, line in enumerate(said):
                lines.append((head if i == 0 else " " * len(head)) + "  " + line)
    return "\n".join(clean(line) for line in lines) + "\n"


def _json(results: list[ProbeResult], options: ProbeOptions) -> str:
    import json

    doc = {
        "schema_version": 1,
        "kind": "probe",
        "protocol": "smtp",
        "ok": all(r.ok for r in results),
        "probes": [
            {
                "host": r.host,
                "port": r.port,
                "address": r.address,
                "source": r.source,
                "local_address": r.local,
                "outcome": r.outcome,
                "detail": r.detail,
                "seconds": round(r.seconds, 6),
                "tls": r.tls,
                "steps": [
                    {
                        "step": s.name,
                        "seconds": round(s.seconds, 6),
                        "code": s.code,
                        "reply": list(s.lines),
                    }
                    for s in r.steps
                ],
            }
            for r in results
        ],
        "starttls": options.starttls,
    }
    return json.dumps(doc, indent=2, sort_keys=True) + "\n"
