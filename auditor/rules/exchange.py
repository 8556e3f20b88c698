"""Exchange Server: ``Set-ReceiveConnector -RemoteIPRanges @{Add=...}`` in a PowerShell script
for the Exchange Management Shell, with a check of what the connector holds first.

The connector is ``--scope`` when given, else the one the declared ``exchange-connector``
source counts for the service (the first by name when it counts several), else the
internet-facing connector Exchange creates on each server,
``<server>\\Default Frontend <server>``. RemoteIPRanges is one list and its order does not
matter. Names are written as PowerShell single-quoted strings, with ``'`` doubled; a name
with a control character or a typographic quote (PowerShell reads those as quotes too) is
refused.

``--prune`` (with ``--scope`` naming the connector): ``@{Remove=...}`` for the connector's
ranges that hold no expected address, each exactly as the declared Get-ReceiveConnector output
writes it (a CIDR, a range ``a-b``, an address, ``a(mask)``), so that Exchange finds it; the
script reads the connector first and removes only what it holds. A range that also holds
expected addresses is kept and named. The output is read again for this, and only when its
SHA-256 is still the one audited.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence

from auditor import ipspace
from auditor.errors import AddressError, UsageError
from auditor.model import MissingBlock
from auditor.rules import sanitize, snippet
from auditor.rules.artifacts import Artifact
from auditor.rules.base import Generator, RuleOptions, audited_bytes

DEFAULT_IDENTITY = '"$env:COMPUTERNAME\\Default Frontend $env:COMPUTERNAME"'
_QUOTES = frozenset("\u2018\u2019\u201a\u201b")
_RANGE = re.compile(r"[0-9A-Fa-f:./()-]+")
"""What a range the prune writes back may hold: an address, CIDR, range or ``a(mask)``."""


def ps_quote(text: str) -> str:
    """A PowerShell single-quoted string: nothing in it is expanded; ``'`` is doubled."""
    return "'" + text.replace("'", "''") + "'"


def check_identity(name: str, max_len: int) -> None:
    bad = [c for c in name if c in _QUOTES or unicodedata.category(c)[0] in "CZ" and c != " "]
    if bad or not name.strip():
        raise UsageError(
            f"{name!r} cannot be used as a receive connector identity",
            hint="give the connector's Identity (SERVER\\Name) or Name as Get-ReceiveConnector"
            " prints it, without control characters or typographic quotes",
        )
    if len(name.rsplit("\\", 1)[-1]) > max_len:
        raise UsageError(
            f"receive connector name {name!r} is longer than {max_len} characters",
            hint="Exchange connector names have at most 64 characters; check the name",
        )


class ExchangeGenerator(Generator):
    name = "exchange"
    description = (
        "Set-ReceiveConnector -RemoteIPRanges @{Add=...} for the Exchange Management Shell"
    )
    families = (4, 6)
    max_name_len = 0
    name_len = 64
    """A receive connector's Name has at most 64 characters (New-ReceiveConnector -Name)."""
    per_call = 100
    """Ranges added or removed by one Set-ReceiveConnector call."""
    prunes = True

    def own_limits(self) -> list[str]:
        return [f"connector names up to {self.name_len} characters"]

    def check_options(self, options: RuleOptions) -> None:
        snippet.check_chain(self.name, options.chain)
        for scope in options.scope[:1]:
            check_identity(scope, self.name_len)

    def identity(self, options: RuleOptions) -> tuple[str, str]:
        """The connector as PowerShell text, and where it comes from."""
        if options.scope:
            return ps_quote(options.scope[0]), "--scope"
        for rs in options.declared:
            if rs.info.format == "exchange-connector" and rs.entries.groups:
                name = sorted(rs.entries.groups)[0]
                check_identity(name, self.name_len)
                return ps_quote(name), f"the declared connectors ({sanitize.clean(rs.info.name)})"
        return DEFAULT_IDENTITY, "the default internet-facing connector of this server"

    def _script(
        self, cidrs: Sequence[str], options: RuleOptions, add: bool, notes: Sequence[str] = ()
    ) -> str:
        identity, why = self.identity(options)
        test, op = ("-notcontains", "Add") if add else ("-contains", "Remove")
        lines = [
            "$ErrorActionPreference = 'Stop'",
            f"# The connector: {why}.",
            *notes,
            f"$identity = {identity}",
            "$ranges = @(",
            *(f"    {ps_quote(c)}" for c in cidrs),
            ")",
            "$have = @((Get-ReceiveConnector -Identity $identity).RemoteIPRanges |"
            " ForEach-Object { $_.ToString() })",
            f"$todo = @($ranges | Where-Object {{ $have {test} $_ }})",
            f"for ($i = 0; $i -lt $todo.Count; $i += {self.per_call}) {{",
            f"    $part = @($todo[$i..([Math]::Min($i + {self.per_call}, $todo.Count) - 1)])",
            f"    Set-ReceiveConnector -Identity $identity -RemoteIPRanges @{{{op} = $part}}",
            "}",
            "Get-ReceiveConnector -Identity $identity | Format-List Identity,RemoteIPRanges",
        ]
        return "\n".join(lines)

    def artifacts(self, blocks: Sequence[MissingBlock], options: RuleOptions) -> list[Artifact]:
        cidrs = [sanitize.cidr(b) for b in sanitize.sorted_blocks(blocks)]
        how = "run FILE in the Exchange Management Shell"
        check = "Get-ReceiveConnector -Identity NAME | Format-List RemoteIPRanges"
        n = len(cidrs)
        arts = []
        if cidrs:
            arts += [
                Artifact(
                    "apply", None, self._script(cidrs, options, True), "ps1", how, check, cidrs=n
                ),
                Artifact(
                    "rollback", None, self._script(cidrs, options, False), "ps1", how, check,
                    cidrs=n,
                ),
            ]  # fmt: skip
        if options.prune and options.scope:
            gone, kept = self._extra_ranges(options)
            notes = [
                "# REMOVES the connector's ranges that hold no expected address: review first.",
                *(f"# kept: {sanitize.clean(k)} is only partly extra" for k in kept),
            ]
            body = self._script(gone, options, False, notes)
            arts.append(Artifact("prune", None, body, "ps1", how, check, cidrs=len(gone)))
        return arts

    def _extra_ranges(self, options: RuleOptions) -> tuple[list[str], list[str]]:
        """The scope connector's ranges as the declared output writes them: those wholly in
        the extra addresses (removed), and those only partly in them (kept)."""
        from auditor.allowlists.mail.exchange_connector import _netmask_item, records
        from auditor.allowlists.mail.exchange_connector import items as connector_items

        name = options.scope[0]
        extra = ipspace.IPSpace.from_intervals(
            (b.family, b.network, b.network + b.size - 1) for b in options.prune
        )
        for rs in options.declared:
            data = audited_bytes(rs) if rs.info.format == "exchange-connector" else None
            if data is None:
                continue
            text = data.decode("utf-8", errors="replace").removeprefix("\ufeff")
            for record in records(text, rs.info.name):
                pieces = record.fields.get("remoteipranges")
                ident = record.text("identity") or record.text("name")
                if pieces is None or ident != name:
                    continue
                gone: list[str] = []
                kept: list[str] = []
                for item, _ in connector_items(pieces)[0]:
                    if not _RANGE.fullmatch(item):
                        continue
                    try:
                        p = ipspace.parse(_netmask_item(item))
                    except AddressError:
                        continue  # not an address: the audit reported it
                    inside = extra.covered(p.family, p.first, p.last)
                    if inside == p.last - p.first + 1:
                        gone.append(item)
                    elif inside:
                        kept.append(item)
                return gone, kept
        raise UsageError(
            f"exchange --prune needs the receive connector {name!r} in the declared"
            " Get-ReceiveConnector output, unchanged since it was read",
            hint="give the output of Get-ReceiveConnector | Format-List as a file with"
            " --declared, and the connector's Identity or Name as --scope",
        )
