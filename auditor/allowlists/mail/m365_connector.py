"""Exchange Online (Microsoft 365) inbound connectors: ``Get-InboundConnector | Format-List``.

``SenderIPAddresses`` lists the addresses a connector takes mail from (Set-InboundConnector:
IPv4 only, a single address or a CIDR from /24 to /32). With ``RestrictDomainsToIPAddresses :
True`` mail from the connector's ``SenderDomains`` is rejected unless it comes from one of
them, which makes the list the allowlist an admin keeps in step with a provider. Each
connector is a group named by its ``Identity`` (else its ``Name``): a scope.

The connector speaks for IPv4 alone (it cannot hold an IPv6 address); a disabled connector
(``Enabled : False``) accepts nobody, and a list PowerShell cut short (``...}``) makes the
source partial, as for Exchange Server's receive connectors. Connectors receive SMTP, so a
``--service`` other than tcp/25 finds nothing here.
"""

from __future__ import annotations

import dataclasses
import re

from auditor.allowlists.base import Collector, ReadContext, Reader, ReaderError, decode_text
from auditor.allowlists.mail.exchange_connector import Record, disabled, listed_items, records
from auditor.model import Completeness, Origin, RangeSet, Severity

FIELD = "senderipaddresses"


def sniff(data: bytes) -> bool:
    return bool(re.search(rb"(?m)^\s*SenderIPAddresses\s*:", data[:65536]))


def _smtp(ctx: ReadContext) -> bool:
    service = ctx.service
    if service is None or service.protocol == "any":
        return True
    return service.protocol == "tcp" and any(a <= 25 <= b for a, b in service.ports)


class M365ConnectorReader(Reader):
    name = "m365-connector"
    description = "Exchange Online Get-InboundConnector | Format-List: SenderIPAddresses"

    @staticmethod
    def sniff(data: bytes) -> bool:
        return sniff(data)

    def parse(self, data: bytes, ctx: ReadContext) -> RangeSet:
        text = decode_text(data, ctx)
        out = Collector(ctx, self.name)
        reasons: list[str] = []
        found = [r for r in records(text, ctx.name) if FIELD in r.fields]
        if not found:
            raise ReaderError(
                "no SenderIPAddresses line",
                source=ctx.name,
                hint="give the output of Get-InboundConnector | Format-List (or | Format-List"
                " Identity,Enabled,SenderIPAddresses,RestrictDomainsToIPAddresses)",
            )
        if not _smtp(ctx):
            raise ReaderError(
                f"inbound connectors receive SMTP (tcp/25), not {ctx.service}",
                source=ctx.name,
                hint="audit the connector with --service tcp/25 (the default)",
            )
        for record in found:
            group = record.text("identity") or record.text("name") or f"line {record.line}"
            if not self._counted(record, group, ctx, out):
                continue
            out.group(group)
            pieces = record.fields[FIELD]
            listed, reason = listed_items(
                pieces, group, "SenderIPAddresses", "Get-InboundConnector", out
            )
            if reason:
                reasons.append(reason)
            for item, line in listed:
                parsed = out.add_text(item, out.origin(line), group)
                if parsed is not None and parsed.family == 6:
                    out.entries.pop()
                    out.note(
                        "bad-entry",
                        Severity.ERROR,
                        f"{item!r}: an inbound connector takes IPv4 addresses only",
                        out.origin(line),
                    )
        if not out.entries and not out.counts.get("bad-entry"):
            raise ReaderError(
                "no enabled inbound connector lists a sender address",
                source=ctx.name,
                hint="the findings name the connectors that were left out",
            )
        rs = out.result(data)
        rs = dataclasses.replace(rs, families=(4,))
        if reasons:
            rs = dataclasses.replace(
                rs, completeness=Completeness.PARTIAL, reasons=(*rs.reasons, *reasons)
            )
        return rs

    @staticmethod
    def _counted(record: Record, group: str, ctx: ReadContext, out: Collector) -> bool:
        if disabled(record, group, ctx, out, "addresses"):
            return False
        restrict = record.text("restrictdomainstoipaddresses")
        if restrict is not None and restrict.lower() == "false":
            out.note(
                "not-restricted",
                Severity.INFO,
                f"{group} does not reject its sender domains from other addresses"
                " (RestrictDomainsToIPAddresses : False): the list identifies the partner's"
                " mail, it does not keep anyone out",
                Origin(ctx.name, record.fields["restrictdomainstoipaddresses"][0][0]),
            )
        return True
