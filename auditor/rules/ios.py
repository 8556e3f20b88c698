"""Cisco IOS / IOS XE: entries of a named access list, ``ip access-list extended`` for IPv4
(wildcard masks: ``permit tcp 192.0.2.0 0.0.0.255 any eq 25``) and ``ipv6 access-list`` for
IPv6 (prefixes), one artifact per family, for pasting into ``configure terminal``.

- ``--chain`` names the access list (the one ``ip access-group`` binds to the interface).
- Placement: entries without a sequence number would go to the end, after the deny. So the
  access list is first renumbered from 100000 (``resequence``), and the new entries take the
  numbers 10, 20, ... ahead of every entry it had. The renumbering is not undone by the
  rollback; the order of the entries stays as it was.
- An entry the access list holds already is refused by IOS; load the file once, or roll back
  first.
- ``--prune`` with ``--scope NAME`` (the access list kept for the provider's addresses): ``no``
  of each entry this tool would write for an extra CIDR and the service, per family. IOS
  removes only an entry written exactly so; one with another mask, protocol or port (which may
  also let expected addresses in) is not matched and stays, for the admin to edit by hand.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from auditor.errors import UsageError
from auditor.model import MissingBlock
from auditor.rules import objects, sanitize
from auditor.rules.artifacts import BANG, Artifact
from auditor.rules.base import Generator, RuleOptions, stale
from auditor.service import Service

NAME = re.compile(r"[A-Za-z][A-Za-z0-9_.-]*")
"""A named access list starts with a letter (a number would make it a numbered one)."""

RESEQUENCE_FROM = 100000
STEP = 10
MAX_ENTRIES = RESEQUENCE_FROM // STEP - 1
"""New entries that fit ahead of the renumbered ones."""


def source(block: MissingBlock) -> str:
    """``192.0.2.0 0.0.0.255`` (IPv4: address and wildcard) or ``2001:db8::/32`` (IPv6)."""
    if block.family == 4:
        return f"{objects.address(block)} {objects.wildcard(block)}"
    return sanitize.cidr(block)


def matches(service: Service, family: int) -> list[tuple[str, str]]:
    """(protocol, port match) per entry: ``("tcp", "eq 25")``, ``("ip", "")`` for any."""
    if service.protocol == "any":
        return [("ip" if family == 4 else "ipv6", "")]
    ranges = objects.port_ranges(service)
    if not ranges:
        return [(service.protocol, "")]
    return [(service.protocol, f"eq {lo}" if lo == hi else f"range {lo} {hi}") for lo, hi in ranges]


def entry(block: MissingBlock, proto: str, match: str) -> str:
    return " ".join(w for w in ("permit", proto, source(block), "any", match) if w)


class IosGenerator(Generator):
    name = "ios"
    description = "Cisco IOS named access-list entries (ip access-list extended, ipv6 access-list)"
    families = (4, 6)
    max_name_len = 64
    max_comment_len = 100
    """Origins go into ``!`` lines, which the CLI ignores; cut as a ``remark`` would be ("up
    to 100 characters long": Cisco IOS command reference, ``remark``,
    cisco.com/E-Learning/bulk/public/tac/cim/cib/using_cisco_ios_software/cmdrefs/remark.htm).
    The 64 of names is not from a page found; kept as it was."""
    prunes = True

    def check_options(self, options: RuleOptions) -> None:
        objects.check_names(
            self.name,
            options,
            NAME,
            "letters, digits, '_', '.' and '-', starting with a letter",
            self.max_name_len,
        )

    def entries(self, blocks: Sequence[MissingBlock], options: RuleOptions) -> list[str]:
        out = []
        for block in blocks:
            for proto, match in matches(options.service, block.family):
                out.append(entry(block, proto, match))
        return out

    def artifacts(self, blocks: Sequence[MissingBlock], options: RuleOptions) -> list[Artifact]:
        acl = options.chain
        how = "paste into configure terminal"
        arts = []
        for family, mine in objects.by_family(blocks).items():
            entries = self.entries(mine, options)
            if len(entries) > MAX_ENTRIES:
                raise UsageError(
                    f"{len(entries)} IOS access-list entries do not fit ahead of the existing"
                    f" ones (at most {MAX_ENTRIES})",
                    hint="narrow the expected sources with filters",
                )
            kind = "ip access-list extended" if family == 4 else "ipv6 access-list"
            show = "show ip access-lists" if family == 4 else "show ipv6 access-list"
            check = f"{show} {acl}"
            lines = [
                f"! {acl} must be the access list bound to the interface (name it with --chain).",
                f"! Its entries are renumbered from {RESEQUENCE_FROM}; the new ones come first.",
                f"{kind.replace(' extended', '')} resequence {acl} {RESEQUENCE_FROM} {STEP}",
                f"{kind} {acl}",
            ]
            seq = STEP
            per_block = len(entries) // len(mine)
            for i, block in enumerate(mine):
                note = self.origins_comment(block.origins, prefix="")
                if note:
                    lines.append(f" ! {note}")
                for text in entries[i * per_block : (i + 1) * per_block]:
                    if family == 4:
                        lines.append(f" {seq} {text}")
                    else:
                        lines.append(f" {text} sequence {seq}")
                    seq += STEP
            lines.append("exit")
            body = "\n".join(lines) + "\n"
            arts.append(Artifact("apply", family, body, "txt", how, check, BANG, cidrs=len(mine)))
            back = [f"{kind} {acl}", *(f" no {text}" for text in entries), "exit"]
            arts.append(
                Artifact(
                    "rollback",
                    family,
                    "\n".join(back) + "\n",
                    "txt",
                    how,
                    check,
                    BANG,
                    cidrs=len(mine),
                )
            )
        return arts + self._prune(options, how)

    def _prune(self, options: RuleOptions, how: str) -> list[Artifact]:
        scope = objects.scope_name(options)
        if scope is None:
            return []
        arts = []
        found = stale(options)
        for family, extra in objects.by_family(found.blocks).items():
            kind = "ip access-list extended" if family == 4 else "ipv6 access-list"
            show = "show ip access-lists" if family == 4 else "show ipv6 access-list"
            lines = [
                f"! REMOVES the extra entries of access list {scope}: review before use.",
                "! Only entries written as below are removed; one with another mask, protocol",
                "! or port is not matched and stays (it may let expected addresses in too).",
                *(f"! {note}" for note in found.kept),
                f"{kind} {scope}",
                *(f" no {text}" for text in self.entries(extra, options)),
                "exit",
            ]
            body = "\n".join(lines) + "\n"
            check = f"{show} {scope}"
            arts.append(Artifact("prune", family, body, "txt", how, check, BANG, cidrs=len(extra)))
        return arts
