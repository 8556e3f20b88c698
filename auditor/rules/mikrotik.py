"""MikroTik RouterOS: ``/ip firewall address-list`` (IPv4) and ``/ipv6 firewall address-list``
(IPv6) entries and a filter rule at the top of the chain that accepts the list, one ``.rsc``
script per family (``/import file-name=FILE``).

- Each ``add`` runs only when the list has no such entry yet, and the rule only when no rule
  carries its comment: the script can be imported again.
- ``--chain`` names the filter chain (``INPUT``, the default, is ``input``; ``FORWARD`` is
  ``forward``). ``place-before`` the first static rule puts the rule first in the filter,
  ahead of any drop.
- With ``--scope``, the entries go into that list, which the accepting rule already uses, and no
  rule is added; ``--prune`` removes the extra entries from it.
- RouterOS shows an IPv4 host as ``192.0.2.7``, without ``/32``: entries are written that way so
  that ``find address=`` matches them.
"""

from __future__ import annotations

import re
import string
from collections.abc import Sequence
from dataclasses import replace

from auditor.model import MissingBlock
from auditor.rules import objects, sanitize
from auditor.rules.artifacts import Artifact
from auditor.rules.base import Generator, RuleOptions, stale
from auditor.rules.mikrotik_place import into_list, place

NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")
MENU = {4: "/ip firewall", 6: "/ipv6 firewall"}
CHAINS = {"INPUT": "input", "FORWARD": "forward"}
COMMENT_CHARS = frozenset(string.ascii_letters + string.digits + " ._:/,@+=-")
"""Inside a RouterOS double-quoted string ``$`` and ``\\`` have meaning, and ``[]``, ``()``
are kept out too; :func:`sanitize.clean` has removed the rest."""


def address(block: MissingBlock) -> str:
    """The entry as RouterOS prints it: an IPv4 /32 without its prefix length."""
    if block.family == 4 and block.prefixlen == 32:
        return objects.address(block)
    return sanitize.cidr(block)


class MikrotikGenerator(Generator):
    name = "mikrotik"
    description = "RouterOS scripts: firewall address-list entries and a filter rule on top"
    families = (4, 6)
    max_name_len = 63
    """Address-list names: no MikroTik page with a length was found; kept as it was."""
    max_comment_len = 255
    prunes = True

    def check_options(self, options: RuleOptions) -> None:
        objects.check_names(
            self.name,
            replace(options, chain=options.chain.partition(":")[0]),
            NAME,
            "letters, digits, '_', '.' and '-', starting with a letter, digit or '_'",
            self.max_name_len,
        )

    def chain(self, options: RuleOptions) -> str:
        """The filter chain (``input:ether1``, the reader's chain and interface, is ``input``)."""
        chain = options.chain.partition(":")[0]
        return CHAINS.get(chain, chain)

    def list_name(self, options: RuleOptions) -> str:
        return objects.scope_name(options) or objects.default_name(options.service)

    def note(self, parts: Sequence[str], prefix: str = sanitize.TAG) -> str:
        return objects.restrict(self.comment(parts, prefix), COMMENT_CHARS)

    def rule(self, options: RuleOptions, family: int) -> tuple[str, str]:
        """The filter rule's arguments and its comment, which finds it again."""
        service = options.service
        tag = self.note([self.list_name(options)])
        words = [f"chain={self.chain(options)}", f'src-address-list="{self.list_name(options)}"']
        if service.protocol != "any":
            words.append(f"protocol={service.protocol}")
            if service.ports:
                words.append(f"dst-port={service.port_list(',', '-')}")
        words += ["action=accept", f'comment="{tag}"']
        return " ".join(words), tag

    def artifacts(self, blocks: Sequence[MissingBlock], options: RuleOptions) -> list[Artifact]:
        how = "/import file-name=FILE"
        check = "/import file-name=FILE dry-run (RouterOS 7.16 and later)"
        scoped = objects.scope_name(options) is not None
        name = self.list_name(options)
        arts = []
        for family, mine in objects.by_family(blocks).items():
            menu = MENU[family]
            lines = [f"{menu} address-list"]
            back = [f"{menu} address-list"]
            for block in mine:
                where = f'list="{name}" address={address(block)}'
                note = self.note([str(o) for o in block.origins])
                add = f"add {where}" + (f' comment="{note}"' if note else "")
                lines.append(f":if ([:len [find {where}]] = 0) do={{ {add} }}")
                back.append(f"remove [find {where}]")
            if scoped:
                notes = into_list(mine, family, options, name)
                lines[:0] = [f"# Into address-list {name}, which the accepting rule uses."]
                lines[1:1] = [f"# {self.note([n], '')}" for n in notes]
            else:
                args, tag = self.rule(options, family)
                spot = place(mine, family, options, name, args)
                lines[:0] = [f"# {self.note([n], '')}" for n in spot.notes]
                lines.append(f"{menu} filter")
                if spot.index is None:
                    lines.append(
                        f':if ([:len [find comment="{tag}"]] = 0) do={{'
                        " :if ([:len [find dynamic=no]] = 0) do={"
                        f" add {args} }} else={{"
                        f" add {args} place-before=[:pick [find dynamic=no] 0] }} }}"
                    )
                elif not spot.before:
                    lines.append(f':if ([:len [find comment="{tag}"]] = 0) do={{ add {args} }}')
                else:
                    before = self.note([spot.before], "")
                    lines[-1:-1] = [f"# Before static rule {spot.index}: {before}"]
                    lines.append(
                        f':if ([:len [find comment="{tag}"]] = 0) do={{'
                        f" add {args} place-before=[:pick [find dynamic=no] {spot.index}] }}"
                    )
                back += [f"{menu} filter", f'remove [find comment="{tag}"]']
            body = "\n".join(lines) + "\n"
            arts.append(Artifact("apply", family, body, "rsc", how, check, cidrs=len(mine)))
            arts.append(
                Artifact(
                    "rollback", family, "\n".join(back) + "\n", "rsc", how, check, cidrs=len(mine)
                )
            )
        scope = objects.scope_name(options)
        found = stale(options) if scope is not None else None
        for family, extra in objects.by_family(found.blocks if found else ()).items():
            if scope is None or found is None:
                break
            lines = [
                f"# REMOVES the extra entries of address-list {scope}: review before use.",
                *(f"# {note}" for note in found.kept),
                f"{MENU[family]} address-list",
            ]
            lines += [f'remove [find list="{scope}" address={address(b)}]' for b in extra]
            body = "\n".join(lines) + "\n"
            arts.append(Artifact("prune", family, body, "rsc", how, check, cidrs=len(extra)))
        return arts
