"""Exchange Server receive connectors: ``Get-ReceiveConnector | Format-List`` output.

The ``RemoteIPRanges`` property lists the remote addresses a receive connector accepts
connections from (New-ReceiveConnector / Set-ReceiveConnector: a single address, a range
``a-b``, a CIDR ``a/nn``; Exchange prints a subnet-mask range as ``a(mask)``). Format-List
prints it as ``RemoteIPRanges : {192.0.2.0/24, 198.51.100.1-198.51.100.20, 203.0.113.5}``,
wrapping a long value onto indented lines; records are separated by blank lines, and each
connector is a group named by its ``Identity`` (``SERVER\\Name``, unique in the
organisation) or else its ``Name``. Every entry keeps the line it is printed on.

What else is read from a record, because it changes who can connect:

- ``Enabled : False``: a disabled connector accepts nobody; its ranges are not counted.
- ``Bindings : {0.0.0.0:25, [::]:25}``: a connector whose bindings do not listen on the
  service's port (``--service``, tcp/25 by default) is not counted, so that the client
  connector on 587 does not speak for port 25.
- ``{a, b, c, d...}``: PowerShell cut the list at ``$FormatEnumerationLimit`` (4 by
  default); the source is then partial, never silently short.

Output of ``Select-Object -ExpandProperty RemoteIPRanges`` (records with ``Expression``, or
``LowerBound`` and ``UpperBound``) is read too, as one group.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field

from auditor import ipspace
from auditor.allowlists.base import (
    Collector,
    ReadContext,
    Reader,
    ReaderError,
    decode_text,
)
from auditor.errors import AddressError
from auditor.model import Completeness, Origin, RangeSet, Severity

_FIELD = re.compile(r"([A-Za-z][A-Za-z0-9]*)\s*:(?:\s(.*)|$)")
_MASKED = re.compile(r"(.+)\(([0-9.]+)\)")
_BINDING_PORT = re.compile(r":([0-9]{1,5})$")


@dataclass
class Record:
    """One Format-List record: each field's value pieces as (line, text)."""

    line: int
    fields: dict[str, list[tuple[int, str]]] = field(default_factory=dict)

    def text(self, name: str) -> str | None:
        pieces = self.fields.get(name.lower())
        if pieces is None:
            return None
        return "".join(p for _, p in pieces).strip()


def records(text: str, name: str) -> list[Record]:
    """Format-List records: ``Name : value`` lines, indented continuation lines, blank lines
    between records."""
    out: list[Record] = []
    current: Record | None = None
    last: str | None = None
    for lineno, raw in enumerate(text.split("\n"), 1):
        line = raw.rstrip("\r")
        if not line.strip():
            current, last = None, None
            continue
        if line[0] in " \t" and current is not None and last is not None:
            current.fields[last].append((lineno, line.strip()))
            continue
        m = _FIELD.fullmatch(line.strip())
        if m is None:
            if current is None:
                continue  # a banner, a prompt or a command line between records
            raise ReaderError(
                f"cannot read {line.strip()[:60]!r} as a `Name : value` line",
                source=name,
                line=lineno,
                hint="give the output of Get-ReceiveConnector | Format-List",
            )
        if current is None:
            current = Record(lineno)
            out.append(current)
        last = m.group(1).lower()
        current.fields[last] = [(lineno, m.group(2) or "")]
    return out


def items(pieces: list[tuple[int, str]]) -> tuple[list[tuple[str, int]], bool]:
    """The items of a ``{a, b, ...}`` value with their lines; True when PowerShell cut the
    list short (``...}``). Wrapped lines are joined without a separator: Format-List breaks
    between words, and a break inside a long word must not split it."""
    text = ""
    starts: list[tuple[int, int]] = []
    for line, piece in pieces:
        starts.append((len(text), line))
        text += piece
    body = text.strip()
    if body.startswith("{") and body.endswith("}"):
        body = body[1:-1]
    truncated = body.rstrip().endswith("...")
    if truncated:
        body = body.rstrip()[:-3]
    out: list[tuple[str, int]] = []
    offset = text.find(body) if body else 0
    pos = 0
    for part in body.split(","):
        item = part.strip()
        if item:
            at = offset + pos + part.find(item)
            line = next(ln for start, ln in reversed(starts) if start <= at)
            out.append((item, line))
        pos += len(part) + 1
    return out, truncated


def _port_ok(bindings: str | None, ctx: ReadContext) -> tuple[bool, str]:
    """Whether the connector listens on the service's port (tcp/25 when none is given)."""
    if bindings is None:
        return True, ""
    service = ctx.service
    if service is not None and service.protocol == "any":
        return True, ""
    protocol = service.protocol if service is not None else "tcp"
    ranges = service.ports if service is not None else ((25, 25),)
    body = bindings.strip().strip("{}")
    ports = sorted(
        {int(m.group(1)) for b in body.split(",") if (m := _BINDING_PORT.search(b.strip()))}
    )
    if not ports:
        return True, ""
    ok = protocol == "tcp" and any(a <= p <= b for p in ports for a, b in ranges)
    shown = ", ".join(str(p) for p in ports)
    return ok, shown


def _netmask_item(item: str) -> str:
    """``192.0.2.0(255.255.255.0)`` as ``192.0.2.0/24``; a non-contiguous mask is an error."""
    m = _MASKED.fullmatch(item)
    if m is None:
        return item
    _, value, _ = ipspace.parse_address(m.group(2))
    inverted = ~value & 0xFFFFFFFF
    if inverted & (inverted + 1):
        raise AddressError(f"{item!r} has a non-contiguous subnet mask, which is not a CIDR")
    return f"{m.group(1)}/{32 - inverted.bit_length()}"


def _add(out: Collector, item: str, origin: Origin, group: str) -> None:
    """One RemoteIPRanges item. Exchange's default range ``::-ffff:...:ffff`` is IPv6 only,
    IPv4-mapped block included (IPv4 clients are matched by ``0.0.0.0-255.255.255.255``)."""
    out.add_text(_netmask_item(item), origin, group)


def listed_items(
    pieces: list[tuple[int, str]], group: str, field: str, command: str, out: Collector
) -> tuple[list[tuple[str, int]], str | None]:
    """The items of a connector's list, and the reason the source is partial when PowerShell
    cut the list short (an error finding says how to print it whole)."""
    listed, truncated = items(pieces)
    if not truncated:
        return listed, None
    out.note(
        "truncated",
        Severity.ERROR,
        f"{group}: the list ends with '...': PowerShell printed only the first"
        f" $FormatEnumerationLimit items; run `$FormatEnumerationLimit = -1` before {command}",
        out.origin(pieces[0][0]),
    )
    return listed, f"{group}: {field} was cut short by PowerShell (line {pieces[0][0]})"


def disabled(record: Record, group: str, ctx: ReadContext, out: Collector, what: str) -> bool:
    """Whether the connector says ``Enabled : False`` (noted: its ``what`` are not counted)."""
    enabled = record.text("enabled")
    if enabled is None or enabled.lower() != "false":
        return False
    out.note(
        "disabled",
        Severity.INFO,
        f"{group} is disabled (Enabled : False): its {what} are not counted",
        Origin(ctx.name, record.fields["enabled"][0][0]),
    )
    return True


def sniff(data: bytes) -> bool:
    return bool(re.search(rb"(?m)^\s*RemoteIPRanges\s*:", data[:65536]))


class ExchangeConnectorReader(Reader):
    name = "exchange-connector"
    description = "Exchange Get-ReceiveConnector | Format-List: RemoteIPRanges per connector"

    @staticmethod
    def sniff(data: bytes) -> bool:
        return sniff(data)

    def parse(self, data: bytes, ctx: ReadContext) -> RangeSet:
        text = decode_text(data, ctx)
        out = Collector(ctx, self.name)
        reasons: list[str] = []
        found = False
        for record in records(text, ctx.name):
            pieces = record.fields.get("remoteipranges")
            if pieces is None:
                pieces = self._expanded(record)
                group = "RemoteIPRanges"
                if pieces is None:
                    continue
            else:
                group = record.text("identity") or record.text("name") or f"line {record.line}"
            found = True
            if not self._counted(record, group, ctx, out):
                continue
            out.group(group)
            listed, reason = listed_items(
                pieces, group, "RemoteIPRanges", "Get-ReceiveConnector", out
            )
            if reason:
                reasons.append(reason)
            for item, line in listed:
                origin = out.origin(line)
                try:
                    _add(out, item, origin, group)
                except AddressError as e:
                    out.note("bad-entry", Severity.ERROR, str(e), origin)
        if not found:
            raise ReaderError(
                "no RemoteIPRanges line",
                source=ctx.name,
                hint="give the output of Get-ReceiveConnector | Format-List (or"
                " | Format-List Identity,Enabled,Bindings,RemoteIPRanges)",
            )
        if not out.entries and not out.counts.get("bad-entry"):
            raise ReaderError(
                "no connector that is enabled and listens on the service's port",
                source=ctx.name,
                hint="choose the port with --service (tcp/25 by default); the findings list"
                " the connectors that were left out",
            )
        rs = out.result(data)
        if reasons:
            rs = dataclasses.replace(
                rs, completeness=Completeness.PARTIAL, reasons=(*rs.reasons, *reasons)
            )
        return rs

    @staticmethod
    def _expanded(record: Record) -> list[tuple[int, str]] | None:
        """A record of ``-ExpandProperty RemoteIPRanges``: one IPRange object."""
        expression = record.fields.get("expression")
        if expression is not None:
            return expression
        low, high = record.fields.get("lowerbound"), record.fields.get("upperbound")
        if low is not None and high is not None:
            line = low[0][0]
            return [(line, f"{record.text('lowerbound')}-{record.text('upperbound')}")]
        return None

    @staticmethod
    def _counted(record: Record, group: str, ctx: ReadContext, out: Collector) -> bool:
        """Whether the connector's ranges can connect to the service at all."""
        if disabled(record, group, ctx, out, "ranges"):
            return False
        ok, ports = _port_ok(record.text("bindings"), ctx)
        if not ok:
            service = str(ctx.service) if ctx.service is not None else "tcp/25"
            out.note(
                "other-port",
                Severity.INFO,
                f"{group} listens on port {ports}, not {service}: its ranges are not counted",
                Origin(ctx.name, record.fields["bindings"][0][0]),
            )
            return False
        return True
