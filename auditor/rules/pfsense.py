"""pfSense and OPNsense: a network alias holding the CIDRs (both families), as the text of
Firewall > Aliases > Import (one CIDR a line, with its origins as the description) and as the
``<alias>`` element of ``config.xml``.

- ``--scope`` names the alias: import into it (or add the lines to it), and the rule that
  already uses it lets the addresses in. When the audit read the firewall's config.xml (and
  it is unchanged since), the header names the pass rules on the interface (``--chain``,
  default ``wan``) that take their source from the alias (file:line), or says that none
  does. Otherwise the alias is ``auditor_tcp25``, and a pass
  rule on the interface, above the block rule, must name it as its source (the GUI moves rules;
  this file cannot say where a rule goes).
- Alias names: letters, digits and ``_``, at most 31 characters.
- The rollback lists the same CIDRs to take out of the alias again (or delete the alias this
  tool created).
- ``--prune`` with ``--scope ALIAS``: the alias content without its wholly extra entries, to
  replace the alias's networks with (Edit, or Import into the emptied alias), when the audit
  read the alias's entries (a declared source with a group of that name); an entry that also
  holds expected addresses is kept and named. Otherwise the extra CIDRs to delete from it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from auditor import ipspace
from auditor.model import MissingBlock
from auditor.rules import objects, sanitize
from auditor.rules.artifacts import XML, Artifact
from auditor.rules.base import Generator, RuleOptions, audited_bytes

NAME = re.compile(r"[A-Za-z0-9_]+")


class PfsenseGenerator(Generator):
    name = "pfsense"
    description = "pfSense/OPNsense: alias import text and the config.xml <alias> element"
    families = (4, 6)
    max_name_len = 31
    max_comment_len = 200
    prunes = True

    def check_options(self, options: RuleOptions) -> None:
        objects.check_names(self.name, options, NAME, "letters, digits and '_'", self.max_name_len)

    def alias(self, options: RuleOptions) -> str:
        return objects.scope_name(options) or objects.default_name(options.service, "_")

    def artifacts(self, blocks: Sequence[MissingBlock], options: RuleOptions) -> list[Artifact]:
        ordered = sanitize.sorted_blocks(blocks)
        if not ordered:
            return self._prune(options)
        return self._apply(ordered, options) + self._prune(options)

    def _prune(self, options: RuleOptions) -> list[Artifact]:
        scope = objects.scope_name(options)
        extra = sanitize.sorted_blocks(options.prune)
        if scope is None or not extra:
            return []
        head = f"# REMOVES the extra entries of alias {scope}: review before use."
        entries = _alias_entries(options, scope)
        if entries is None:
            lines = [
                head,
                f"# Firewall > Aliases > Edit {scope}: delete these networks from it.",
                "# An entry with another mask that holds one of them also holds more: edit it",
                "# by hand.",
                *(sanitize.cidr(b) for b in extra),
            ]
            how = "by hand, as it says"
        else:
            gone = {
                f: ipspace.normalize(
                    [b.network for b in bs],
                    [b.network + (1 << (ipspace.BITS[f] - b.prefixlen)) - 1 for b in bs],
                )
                for f, bs in objects.by_family(extra).items()
            }
            keep, kept = [], []
            for family, first, last in entries:
                iv = gone.get(family, ipspace.EMPTY)
                inside = ipspace.covered(iv, first, last)
                text = ipspace.format_interval(family, first, last)
                if inside == last - first + 1:
                    continue
                keep.append(text)
                if inside:
                    kept.append(f"# kept: {text} is only partly extra")
            lines = [
                head,
                f"# The networks {scope} keeps: its networks become the lines that follow",
                "# (Firewall > Aliases > Edit, or Import into the emptied alias).",
                *kept,
            ]
            if not keep:
                lines.append(f"# Nothing is left: delete alias {scope} or the rule that uses it.")
            lines += keep
            how = f"Firewall > Aliases > Edit alias {scope}: its networks become these lines"
        body = "\n".join(lines) + "\n"
        return [Artifact("prune", None, body, "txt", how, cidrs=len(extra))]

    def _apply(self, ordered: Sequence[MissingBlock], options: RuleOptions) -> list[Artifact]:
        alias = self.alias(options)
        count = len(ordered)
        cidrs = [sanitize.cidr(b) for b in ordered]
        notes = [self.origins_comment(b.origins, prefix="") for b in ordered]
        lines = [f"{c} {n}".rstrip() for c, n in zip(cidrs, notes, strict=True)]
        how = f"Firewall > Aliases > Import into alias {alias} (the lines below the # lines)"
        xml = [
            "<alias>",
            f"  <name>{alias}</name>",
            "  <type>network</type>",
            f"  <address>{' '.join(cidrs)}</address>",
            f"  <descr><![CDATA[{self.comment([options.service.describe()])}]]></descr>",
            f"  <detail><![CDATA[{'||'.join(n or 'allowlist-auditor' for n in notes)}]]></detail>",
            "</alias>",
        ]
        where = (
            _users(options, alias)
            if options.scope
            else f"a pass rule above the block rule must name alias {alias} as its source"
        )
        how_xml = (
            f"append the addresses to the <address> of the alias {alias} that config.xml has"
            " (backup first), then reload"
            if options.scope
            else "add the element into <aliases> of config.xml (backup first), then reload"
        )
        back = [
            f"# Take these CIDRs out of alias {alias} (Firewall > Aliases > Edit);",
            f"# if this tool created {alias}, delete the alias instead.",
            *cidrs,
        ]
        return [
            Artifact(
                "apply", None, f"# {where}\n" + "\n".join(lines) + "\n", "txt", how, cidrs=count
            ),
            Artifact("apply", None, "\n".join(xml) + "\n", "xml", how_xml, syntax=XML, cidrs=count),
            Artifact(
                "rollback", None, "\n".join(back) + "\n", "txt", "by hand, as it says", cidrs=count
            ),
        ]


def _users(options: RuleOptions, alias: str) -> str:
    """Which pass rules use the alias, from the config.xml the audit read (unchanged since)."""
    from auditor.allowlists.appliances.pfsense import Config, alias_users
    from auditor.allowlists.base import ReadContext

    for rs in options.declared:
        data = audited_bytes(rs) if rs.info.format == "pfsense" else None
        if data is None:
            continue
        ctx = ReadContext(rs.info.name, "declared", service=options.service, chain=options.chain)
        cfg = Config(data, ctx)
        if alias not in cfg.aliases:
            return f"alias {alias} is not in {sanitize.clean(rs.info.name)}: create it first"
        users = alias_users(cfg, cfg.aliases[alias])
        if not users:
            return (
                f"no pass rule on {cfg.chain} takes its source from alias {alias}: add one"
                " above the block rule"
            )
        return f"alias {alias} is the source of: " + "; ".join(sanitize.clean(u) for u in users)
    return f"alias {alias} is used by the pass rule already"


def _alias_entries(options: RuleOptions, scope: str) -> list[tuple[int, int, int]] | None:
    """(family, first, last) of every entry the declared sources hold in group ``scope``, in
    their order; None when no declared source has such a group."""
    found = None
    for rs in options.declared:
        entries = rs.scope_entries
        if scope not in entries.groups:
            continue
        found = found or []
        found += [(e.family, e.first, e.last) for e in entries if e.group == scope]
    return found
