"""Exchange Server: ``Set-ReceiveConnector -RemoteIPRanges @{Add=...}`` in a PowerShell script
for the Exchange Management Shell, with a check of what the connector holds first.

The connector is ``--scope`` when given, else the one the declared ``exchange-connector``
source counts for the service (the first by name when it counts several), else the
internet-facing connector Exchange creates on each server,
``<server>\\Default Frontend <server>``. RemoteIPRanges is one list and its order does not
matter. Names are written as PowerShell single-quoted strings, with ``'`` doubled; a name
with a control character or a typographic quote (PowerShell reads those as quotes too) is
refused.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence

from auditor.errors import UsageError
from auditor.model import MissingBlock
from auditor.rules import sanitize, snippet
from auditor.rules.artifacts import Artifact
from auditor.rules.base import Generator, RuleOptions

DEFAULT_IDENTITY = '"$env:COMPUTERNAME\\Default Frontend $env:COMPUTERNAME"'
_QUOTES = frozenset("\u2018\u2019\u201a\u201b")


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

    def _script(self, cidrs: Sequence[str], options: RuleOptions, add: bool) -> str:
        identity, why = self.identity(options)
        test, op = ("-notcontains", "Add") if add else ("-contains", "Remove")
        lines = [
            "$ErrorActionPreference = 'Stop'",
            f"# The connector: {why}.",
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
        if not cidrs:
            return []
        how = "run FILE in the Exchange Management Shell"
        check = "Get-ReceiveConnector -Identity NAME | Format-List RemoteIPRanges"
        n = len(cidrs)
        return [
            Artifact("apply", None, self._script(cidrs, options, True), "ps1", how, check, cidrs=n),
            Artifact(
                "rollback", None, self._script(cidrs, options, False), "ps1", how, check, cidrs=n
            ),
        ]
