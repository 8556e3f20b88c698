"""Exchange Online (Microsoft 365): ``Set-InboundConnector -SenderIPAddresses @{Add=...}`` in a
PowerShell script for Exchange Online PowerShell (``Connect-ExchangeOnline`` first).

What the connector takes (Set-InboundConnector, parameter SenderIPAddresses): IPv4 only, a
single address or a CIDR from /24 to /32. A wider missing CIDR is therefore written as its /24
networks, and an IPv6 one cannot be written at all (the platform is IPv4 only, so the base
refuses it; ``--family 4`` leaves it out). The list has no order.

The connector is ``--scope`` when given, else the one the declared ``m365-connector`` source
names (the first by name when it lists several); the script takes it as its ``-Identity``
parameter, with that name as default, and asks for it when none is known. Each script reads
the connector first and changes only what needs it: the apply adds what is not there, the
rollback removes what the apply added, and the prune (``--scope NAME --prune``, with the
connector's export given with ``--declared``) removes the entries, as the export writes them,
whose addresses are all extra. Names are PowerShell single-quoted strings with ``'`` doubled.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence

from auditor import ipspace
from auditor.errors import UsageError
from auditor.model import MissingBlock, RangeSet
from auditor.rules import sanitize, snippet
from auditor.rules.artifacts import Artifact
from auditor.rules.base import Generator, RuleOptions, audited_bytes
from auditor.rules.cloud import covered
from auditor.rules.exchange import ps_quote

FORMAT = "m365-connector"
WIDEST = 24
"""The widest CIDR SenderIPAddresses takes (valid subnet masks are /24 through /32)."""
_QUOTES = frozenset("\u2018\u2019\u201a\u201b")
_HOW = "run FILE in Exchange Online PowerShell, after Connect-ExchangeOnline (-Identity NAME)"
_CHECK = "Get-InboundConnector -Identity NAME | Format-List SenderIPAddresses"


def check_identity(name: str) -> None:
    bad = [c for c in name if c in _QUOTES or unicodedata.category(c)[0] in "CZ" and c != " "]
    if bad or not name.strip():
        raise UsageError(
            f"{name!r} cannot be used as an inbound connector identity",
            hint="give the connector's Name as Get-InboundConnector prints it, without"
            " control characters or typographic quotes",
        )


def entries(block: MissingBlock) -> list[str]:
    """The block as SenderIPAddresses values: itself from /24 to /31, a /32 as the address,
    a wider block as its /24 networks."""
    if block.prefixlen == 32:
        return [ipspace.format_address(4, block.network)]
    if block.prefixlen >= WIDEST:
        return [sanitize.cidr(block)]
    step = 1 << (32 - WIDEST)
    first = block.network
    return [ipspace.format_cidr(4, first + i * step, WIDEST) for i in range(block.size // step)]


def connector_export(options: RuleOptions) -> RangeSet | None:
    return next((rs for rs in options.declared if rs.info.format == FORMAT), None)


class M365Generator(Generator):
    name = "m365"
    description = (
        "Set-InboundConnector -SenderIPAddresses @{Add=...} for Exchange Online (IPv4, /24 to /32)"
    )
    families = (4,)
    prunes = True
    per_call = 100
    """Values a Set-InboundConnector call adds or removes: a short command line, not a limit
    of the service (none is documented)."""

    def own_limits(self) -> list[str]:
        return [f"/{WIDEST} to /32 (a wider CIDR as its /{WIDEST}s)"]

    def check_options(self, options: RuleOptions) -> None:
        snippet.check_chain(self.name, options.chain)
        for scope in options.scope[:1]:
            check_identity(scope)

    def identity(self, options: RuleOptions) -> tuple[str | None, str]:
        """The connector's name, and where it comes from (None: the script asks for it)."""
        if options.scope:
            return options.scope[0], "--scope"
        rs = connector_export(options)
        if rs is not None and rs.entries.groups:
            name = sorted(rs.entries.groups)[0]
            check_identity(name)
            return name, f"the declared connectors ({sanitize.clean(rs.info.name)})"
        return None, "none was read: give -Identity NAME (Get-InboundConnector | Format-List Name)"

    def script(
        self, values: Sequence[str], options: RuleOptions, op: str, notes: Sequence[str]
    ) -> str:
        name, why = self.identity(options)
        param = (
            "param([Parameter(Mandatory = $true)][string]$Identity)"
            if name is None
            else f"param([string]$Identity = {ps_quote(name)})"
        )
        test = "-notcontains" if op == "Add" else "-contains"
        lines = [
            param,
            "$ErrorActionPreference = 'Stop'",
            f"# The connector: {why}.",
            *notes,
            "$values = @(",
            *(f"    {ps_quote(v)}" for v in values),
            ")",
            "$have = @((Get-InboundConnector -Identity $Identity).SenderIPAddresses |"
            " ForEach-Object { $_.ToString() })",
            f"$todo = @($values | Where-Object {{ $have {test} $_ }})",
            f"for ($i = 0; $i -lt $todo.Count; $i += {self.per_call}) {{",
            f"    $part = @($todo[$i..([Math]::Min($i + {self.per_call}, $todo.Count) - 1)])",
            f"    Set-InboundConnector -Identity $Identity -SenderIPAddresses @{{{op} = $part}}",
            "}",
            "Get-InboundConnector -Identity $Identity |"
            " Format-List Identity,Enabled,SenderIPAddresses,RestrictDomainsToIPAddresses",
        ]
        return "\n".join(lines) + "\n"

    def artifacts(self, blocks: Sequence[MissingBlock], options: RuleOptions) -> list[Artifact]:
        arts: list[Artifact] = []
        ordered = sanitize.sorted_blocks(blocks)
        values = [v for b in ordered for v in entries(b)]
        if values:
            split = [b for b in ordered if b.prefixlen < WIDEST]
            notes = [
                f"# {sanitize.cidr(b)} is written as its {b.size >> 8} /24 networks: the"
                " connector takes /24 to /32." for b in split
            ]  # fmt: skip
            n = len(ordered)
            add, remove = (self.script(values, options, op, notes) for op in ("Add", "Remove"))
            arts.append(Artifact("apply", 4, add, "ps1", _HOW, _CHECK, cidrs=n))
            arts.append(Artifact("rollback", 4, remove, "ps1", _HOW, _CHECK, cidrs=n))
        if options.prune and options.scope:
            arts.append(self._prune(options))
        return arts

    def _prune(self, options: RuleOptions) -> Artifact:
        from auditor.allowlists.mail.exchange_connector import items, records

        rs = connector_export(options)
        data = audited_bytes(rs) if rs is not None else None
        if rs is None or data is None:
            raise UsageError(
                "m365 --prune needs the connector's export, unchanged since the audit",
                hint="give the Get-InboundConnector | Format-List output with --declared and"
                " the connector's name with --scope",
            )
        scope = options.scope[0]
        extra = list(options.prune)
        gone: list[str] = []
        notes = [f"# REMOVES the entries of {sanitize.clean(scope)} whose addresses are all extra."]
        for record in records(data.decode("utf-8", "replace"), rs.info.name):
            group = record.text("identity") or record.text("name")
            if group != scope or "senderipaddresses" not in record.fields:
                continue
            for item, _ in items(record.fields["senderipaddresses"])[0]:
                value = _canonical(item)
                if value is None:
                    continue  # the reader reported it
                if covered(value, extra):
                    gone.append(value)
                elif any(covered(sanitize.cidr(b), [_block(value)]) for b in extra):
                    notes.append(f"# kept: {value} is only partly extra")
        gone = sorted(dict.fromkeys(gone), key=lambda v: ipspace.parse(v).first)
        body = self.script(gone, options, "Remove", notes)
        return Artifact("prune", 4, body, "ps1", _HOW, _CHECK, cidrs=len(gone))


def _canonical(item: str) -> str | None:
    """An export's value as the connector writes it: an IPv4 address or CIDR (else None)."""
    try:
        p = ipspace.parse(item, "reject")
    except ValueError:
        return None
    if p.family != 4 or p.prefixlen is None:
        return None
    if "/" not in item:
        return ipspace.format_address(4, p.first)
    return ipspace.format_cidr(4, p.first, p.prefixlen)


def _block(value: str) -> MissingBlock:
    p = ipspace.parse(value)
    return MissingBlock(4, p.first, p.prefixlen if p.prefixlen is not None else 32, ())
