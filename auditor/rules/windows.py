"""Windows Firewall: a PowerShell script that creates an inbound allow rule with
``New-NetFirewallRule -RemoteAddress``, or adds the missing addresses to the rule of that name
with ``Set-NetFirewallRule`` when it exists (both families in one rule).

- Idempotent: the script reads the rule (``Get-NetFirewallRule``) and its address filter first
  and adds only the addresses it does not hold. Windows shows an IPv4 network as
  ``192.0.2.0/255.255.255.0`` and a host without a prefix, so each address is looked for in
  every form.
- Order: Windows Firewall has no rule order; a block rule wins over an allow rule for the same
  traffic, so a block rule that covers these addresses must be narrowed by hand.
- A rule that lets ``Any`` address in is left as it is. A rule is never set to an empty list
  of addresses, which would mean any address: the rollback removes the rule this tool created,
  and disables a ``--scope`` rule that would be left empty.
- ``--scope`` names the rule: its ``-Name``, or else its ``-DisplayName`` (what ``netsh``
  shows; the script stops when several rules have it); at most
  :attr:`WindowsGenerator.max_entries_rule` addresses go into one rule, more into ``NAME-2``...
- Every string is single-quoted, with ``'`` doubled; names and comments hold only safe
  characters anyway.
"""

from __future__ import annotations

import re
import string
from collections.abc import Sequence
from dataclasses import replace
from typing import ClassVar

from auditor.model import MissingBlock
from auditor.rules import objects, sanitize
from auditor.rules.artifacts import Artifact, chunk_name
from auditor.rules.base import Generator, RuleOptions, stale

NAME = re.compile(r"[A-Za-z0-9_{}][A-Za-z0-9 _.{}()-]*")
"""Rule names: a GUID in braces, or words."""

QUOTES = "'\u2018\u2019\u201a\u201b"
SAFE = frozenset(string.ascii_letters + string.digits + " ._:/,@+=-()[]")
"""What a comment naming a declared rule keeps (the rest becomes ``_``)."""
"""PowerShell ends a single-quoted string at any of these; doubled, each stands for itself."""


def ps_quote(text: str) -> str:
    """A PowerShell single-quoted string: nothing in it is expanded."""
    return "'" + "".join(c + c if c in QUOTES else c for c in text) + "'"


def ps_array(items: Sequence[str]) -> str:
    return "@(" + ", ".join(ps_quote(i) for i in items) + ")"


def forms(block: MissingBlock) -> list[str]:
    """Every way Windows may show the block: the CIDR, an IPv4 netmask form, a bare host."""
    cidr = sanitize.cidr(block)
    out = [cidr]
    if block.family == 4:
        out.append(f"{objects.address(block)}/{objects.mask(block)}")
    if block.prefixlen == (32 if block.family == 4 else 128):
        out.append(objects.address(block))
    return out


class WindowsGenerator(Generator):
    name = "windows"
    description = (
        "PowerShell: New-NetFirewallRule / Set-NetFirewallRule -RemoteAddress (idempotent)"
    )
    families = (4, 6)
    max_name_len = 200
    max_comment_len = 1024
    max_entries_rule: ClassVar[int] = 1000
    """Addresses in one rule here; more go into further rules. Microsoft's pages on
    ``RemoteAddress`` (New-NetFirewallRule, INetFwRule::RemoteAddresses) give the forms of an
    address but no count: no page with a limit was found, and 1000 is kept as a cautious
    size, not a documented one."""
    prunes = True

    def own_limits(self) -> list[str]:
        return [f"{self.max_entries_rule} addresses a rule"]

    def check_options(self, options: RuleOptions) -> None:
        if options.chain.lower() in ("domain", "private", "public"):
            # the profile a Windows Firewall export is evaluated in: the rule is for every one
            options = replace(options, chain=objects.DEFAULT_CHAIN)
        objects.check_names(
            self.name,
            options,
            NAME,
            "letters, digits, spaces, '_', '.', '-', '(', ')', '{' and '}'",
            self.max_name_len,
            chain=False,
        )

    def _rules(
        self, blocks: Sequence[MissingBlock], options: RuleOptions
    ) -> list[tuple[str, Sequence[MissingBlock]]]:
        base = objects.scope_name(options) or objects.default_name(options.service)
        ordered = sanitize.sorted_blocks(blocks)
        size = self.max_entries_rule
        runs = [ordered[i : i + size] for i in range(0, len(ordered), size)]
        return [
            (chunk_name(base, i, len(runs), self.max_name_len), run) for i, run in enumerate(runs)
        ]

    def _new_rule(self, name: str, options: RuleOptions) -> str:
        service = options.service
        words = [
            "New-NetFirewallRule",
            f"-Name {ps_quote(name)}",
            f"-DisplayName {ps_quote(name)}",
            f"-Description {ps_quote(self.comment([service.describe()]))}",
            "-Direction Inbound -Action Allow",
        ]
        if service.protocol != "any":
            words.append(f"-Protocol {ps_quote(service.protocol.upper())}")
            if service.ports:
                ports = [f"{lo}" if lo == hi else f"{lo}-{hi}" for lo, hi in service.ports]
                words.append(f"-LocalPort {ps_array(ports)}")
        words.append("-RemoteAddress $add | Out-Null")
        return " ".join(words)

    def blocked(self, block: MissingBlock, options: RuleOptions) -> list[str]:
        """The block rules of a declared Windows Firewall export that block the block's
        addresses today: an allow rule does not override them."""
        out: dict[str, None] = {}
        last = block.network + block.size - 1
        for rs in options.declared:
            if rs.info.format != "windows-firewall":
                continue
            for v in rs.verdicts:
                if v.family != block.family:
                    continue
                for seg in v.segments:
                    if seg.outcome == "drop" and seg.rule.origin.line is not None:
                        if seg.first <= last and seg.last >= block.network:
                            out[sanitize.clean(seg.rule.describe())[:200]] = None
        return [objects.restrict(t, SAFE) for t in out]

    @staticmethod
    def _lookup(name: str, scoped: bool) -> list[str]:
        """``$rule``: the rule of that Name, else (a --scope, which may be what netsh shows)
        the rule of that DisplayName; the script stops when a DisplayName names several."""
        q = ps_quote(name)
        if not scoped:  # a rule this tool names and makes: Name and DisplayName are the same
            return [f"$rule = @(Get-NetFirewallRule -Name {q} -ErrorAction SilentlyContinue)"]
        many = ps_quote(
            f"{name} is the DisplayName of several rules: give the rule's Name with --scope"
        )
        return [
            f"$rule = @(Get-NetFirewallRule -Name {q} -ErrorAction SilentlyContinue)",
            "if ($rule.Count -eq 0) {",
            f"    $rule = @(Get-NetFirewallRule -DisplayName {q} -ErrorAction SilentlyContinue)",
            "}",
            f"if ($rule.Count -gt 1) {{ throw {many} }}",
        ]

    def _apply(self, name: str, run: Sequence[MissingBlock], options: RuleOptions) -> list[str]:
        lines = [f"# Rule {name}"]
        for block in run:
            for rule in self.blocked(block, options):
                lines.append(
                    f"# {sanitize.cidr(block)} is blocked today by {rule}: a block rule wins"
                    " over every allow rule, narrow it by hand"
                )
        for block in run:
            note = self.origins_comment(block.origins, prefix="")
            if note:
                lines.append(f"# {sanitize.cidr(block)}: {note}")
        lines.append("$forms = [ordered]@{")
        lines += [f"    {ps_quote(sanitize.cidr(b))} = {ps_array(forms(b))}" for b in run]
        lines += [
            "}",
            *self._lookup(name, objects.scope_name(options) is not None),
            "if ($rule.Count -eq 0) {",
            "    $add = @($forms.Keys)",
            f"    {self._new_rule(name, options)}",
            "} else {",
            "    $have = @(($rule | Get-NetFirewallAddressFilter).RemoteAddress)",
            "    if ($have -contains 'Any') {",
            f"        Write-Output ({ps_quote(name + ' lets any address in already')})",
            "    } else {",
            "        $add = @(foreach ($cidr in $forms.Keys) {",
            "            if (-not ($forms[$cidr] | Where-Object { $have -contains $_ })) { $cidr }",
            "        })",
            "        if ($add.Count -gt 0) {",
            "            $rule | Set-NetFirewallRule -RemoteAddress @($have + $add)",
            "        }",
            "    }",
            "}",
        ]
        return lines

    def _remove(self, name: str, run: Sequence[MissingBlock], scoped: bool) -> list[str]:
        drop = [f for b in run for f in forms(b)]
        empty = (
            "$rule | Disable-NetFirewallRule"
            if scoped
            else f"Remove-NetFirewallRule -Name {ps_quote(name)}"
        )
        return [
            f"$drop = {ps_array(drop)}",
            *self._lookup(name, scoped),
            "if ($rule.Count -gt 0) {",
            "    $have = @(($rule | Get-NetFirewallAddressFilter).RemoteAddress)",
            "    $keep = @($have | Where-Object { $drop -notcontains $_ })",
            "    if ($keep.Count -eq 0) {",
            f"        {empty}",
            "    } elseif ($keep.Count -lt $have.Count) {",
            "        $rule | Set-NetFirewallRule -RemoteAddress $keep",
            "    }",
            "}",
        ]

    def artifacts(self, blocks: Sequence[MissingBlock], options: RuleOptions) -> list[Artifact]:
        how = "powershell -NoProfile -ExecutionPolicy Bypass -File FILE (as Administrator)"
        check = "Get-NetFirewallRule -Name NAME | Get-NetFirewallAddressFilter (after)"
        scoped = objects.scope_name(options) is not None
        head = ["$ErrorActionPreference = 'Stop'"]
        arts = []
        rules = self._rules(blocks, options)
        if rules:
            apply = list(head)
            back = list(head)
            for name, run in rules:
                apply += self._apply(name, run, options)
                back += self._remove(name, run, scoped)
            count = len(blocks)
            arts.append(
                Artifact("apply", None, "\n".join(apply) + "\n", "ps1", how, check, cidrs=count)
            )
            arts.append(
                Artifact("rollback", None, "\n".join(back) + "\n", "ps1", how, check, cidrs=count)
            )
        scope = objects.scope_name(options)
        found = stale(options) if scope is not None and options.prune else None
        if scope is not None and found is not None and found.blocks:
            lines = [
                f"# REMOVES the extra addresses of rule {scope}: review before use.",
                *(f"# {note}" for note in found.kept),
                *head,
                *self._remove(scope, list(found.blocks), True),
            ]
            body = "\n".join(lines) + "\n"
            arts.append(Artifact("prune", None, body, "ps1", how, check, cidrs=len(found.blocks)))
        return arts
