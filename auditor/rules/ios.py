"""Cisco IOS / IOS XE: entries of a named access list, ``ip access-list extended`` for IPv4
(wildcard masks: ``permit tcp 192.0.2.0 0.0.0.255 any eq 25``) and ``ipv6 access-list`` for
IPv6 (prefixes), one artifact per family, for pasting into ``configure terminal``.

- ``--chain`` names the access list (the one ``ip access-group`` binds to the interface).
- Placement: entries without a sequence number would go to the end, after the deny. So the
  access list is first renumbered from 100000 (``resequence``), and the new entries take the
  numbers 10, 20, ... ahead of every entry it had. The renumbering is not undone by the
  rollback; the order of the entries stays as it was.
- With the IOS configuration it was read from given with ``--declared`` (``--rules auto``),
  the access list is the one that configuration binds to the ``--chain`` interface (``Gi0/0``,
  or a list named directly), of its own kind (standard or extended), and the new entries get
  free sequence numbers just ahead of the first entry that denies (or leaves conditional) one
  of the missing addresses today, named in a comment with its file:line; only when there is
  no room between two numbers is the list renumbered first (``resequence``, with a step that
  leaves room). The implicit deny at the end puts them after the last entry.
- An entry the access list holds already is refused by IOS; load the file once, or roll back
  first.
- ``--prune`` with ``--scope NAME`` (the access list kept for the provider's addresses): ``no``
  of each entry this tool would write for an extra CIDR and the service, per family. IOS
  removes only an entry written exactly so; one with another mask, protocol or port (which may
  also let expected addresses in) is not matched and stays, for the admin to edit by hand.
  With the declared IOS configuration, a scope that is one of its ``object-group network``
  groups loses its wholly extra members (``no`` of each member line as written, in the group
  that holds it), and a scope that is an access list loses its wholly extra permit entries by
  sequence number.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from auditor.errors import InputError, UsageError
from auditor.model import MissingBlock, RangeSet, RuleRef
from auditor.rules import objects, sanitize
from auditor.rules.artifacts import BANG, Artifact
from auditor.rules.base import Generator, RuleOptions, audited_bytes, in_scope, stale
from auditor.service import Service

if TYPE_CHECKING:
    from auditor.allowlists.appliances.ios_parse import Acl, Config

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


@dataclass(frozen=True)
class Declared:
    """The IOS configuration the blocks are missing from, as it was audited."""

    rs: RangeSet
    cfg: Config
    acls: dict[int, Acl]
    label: str


def declared_config(options: RuleOptions) -> Declared | None:
    """The declared IOS configuration and the access lists ``--chain`` picks in it; None
    without one (rules from a report), or when its file changed since it was read."""
    from auditor.allowlists.appliances.ios import choose, read_config
    from auditor.allowlists.base import ReadContext

    for rs in options.declared:
        if rs.info.format != "ios":
            continue
        data = audited_bytes(rs)
        if data is None:
            continue
        ctx = ReadContext(rs.info.name, "declared", chain=options.chain)
        try:
            cfg = read_config(data, ctx)
            chosen = choose(cfg, ctx)
        except InputError:
            continue
        return Declared(rs, cfg, chosen.acls, chosen.label)
    return None


@dataclass(frozen=True)
class Slot:
    """Where new entries go in a list: the sequence numbers they take, the renumbering that
    makes room first (0: none), and the entry they go ahead of (None: the end)."""

    numbers: tuple[int, ...]
    resequence: int
    ahead: RuleRef | None


def slot(declared: Declared, acl: Acl, blocks: Sequence[MissingBlock], count: int) -> Slot:
    """Free numbers just ahead of the first entry that does not accept one of the blocks."""
    ordered = acl.ordered()
    index = {e.line.number: k for k, e in enumerate(ordered)}
    best: tuple[int, RuleRef] | None = None
    for v in declared.rs.verdicts:
        if v.family != acl.family:
            continue
        for block in blocks:
            first, last = block.network, block.network + block.size - 1
            for seg in v.segments:
                if seg.last < first or seg.first > last or seg.outcome == "accept":
                    continue
                k = index.get(seg.rule.origin.line or 0, len(ordered))
                if best is None or k < best[0]:
                    best = (k, seg.rule)
    pos, ahead = best if best is not None else (len(ordered), None)
    before = ordered[pos - 1].seq if pos else 0
    after = ordered[pos].seq if pos < len(ordered) else None
    if after is None:
        return Slot(tuple(before + STEP * (i + 1) for i in range(count)), 0, ahead)
    if after - before > count:
        step = (after - before) // (count + 1)
        return Slot(tuple(before + step * (i + 1) for i in range(count)), 0, ahead)
    renumber = STEP * (count + 1)
    start = renumber * pos
    return Slot(tuple(start + STEP * (i + 1) for i in range(count)), renumber, ahead)


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
        if declared_config(options) is not None:
            # --chain names an interface of the declared configuration, not a new list
            options = replace(options, chain="INPUT")
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
        declared = declared_config(options)
        if declared is not None:
            return self.placed(blocks, options, declared)
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

    # --- into the declared configuration ---------------------------------------------------

    def placed(
        self, blocks: Sequence[MissingBlock], options: RuleOptions, declared: Declared
    ) -> list[Artifact]:
        how = "paste into configure terminal"
        arts = []
        for family, mine in objects.by_family(blocks).items():
            acl = declared.acls.get(family)
            if acl is None:
                raise UsageError(
                    f"{declared.label} in {declared.rs.info.name} has no IPv{family} access"
                    f" list to add the {len(mine)} missing IPv{family} CIDR(s) to",
                    hint="bind one to the interface first (ip access-group / ipv6"
                    " traffic-filter), or name a list with --chain",
                )
            kind = _kind(acl)
            texts: list[tuple[MissingBlock, str]] = []
            for block in mine:
                if acl.kind == "standard":
                    texts.append((block, f"permit {source(block)}"))
                else:
                    texts += [
                        (block, entry(block, p, m)) for p, m in matches(options.service, family)
                    ]
            where = slot(declared, acl, mine, len(texts))
            show = "show ip access-lists" if family == 4 else "show ipv6 access-list"
            check = f"{show} {acl.name}"
            ahead = (
                f"ahead of {sanitize.clean(where.ahead.describe())}"
                if where.ahead is not None and where.ahead.origin.line != acl.line.number
                else "after its last entry (the implicit deny at the end decides them today)"
            )
            lines = [
                f"! {declared.label}: the new entries go into {acl.name},",
                f"! {sanitize.cut(ahead, 300)}",
            ]
            if where.resequence:
                lines.append("! There is no free number there: the list is renumbered first.")
                lines.append(
                    f"{kind.replace(' extended', '').replace(' standard', '')} resequence"
                    f" {acl.name} {where.resequence} {where.resequence}"
                )
            lines.append(f"{kind} {acl.name}")
            shown: set[int] = set()
            for (block, text), seq in zip(texts, where.numbers, strict=True):
                note = self.origins_comment(block.origins, prefix="")
                if note and id(block) not in shown:
                    lines.append(f" ! {note}")
                shown.add(id(block))
                lines.append(f" {seq} {text}" if family == 4 else f" {text} sequence {seq}")
            lines.append("exit")
            body = "\n".join(lines) + "\n"
            arts.append(Artifact("apply", family, body, "txt", how, check, BANG, cidrs=len(mine)))
            back = [f"{kind} {acl.name}", *(f" no {text}" for _, text in texts), "exit"]
            body = "\n".join(back) + "\n"
            arts.append(
                Artifact("rollback", family, body, "txt", how, check, BANG, cidrs=len(mine))
            )
        return arts + self._prune_declared(options, how, declared)

    def _prune_declared(self, options: RuleOptions, how: str, declared: Declared) -> list[Artifact]:
        """``no`` of each wholly extra member of the scope's object group (in the group that
        holds the line), or of each wholly extra permit entry of the scope's access list."""
        scope = objects.scope_name(options)
        if scope is None:
            return []
        cfg = declared.cfg
        groups = [
            g
            for g in cfg.groups.values()
            if g.kind == "network" and in_scope(g.name, options.scope)
        ]
        lists = [a for a in cfg.acls.values() if in_scope(a.name, options.scope)]
        if not groups and not lists:
            return self._prune(options, how)
        found = stale(options)
        owner = {m.number: (g, m) for g in cfg.groups.values() for m in g.members}
        entries = {e.line.number: (a, e) for a in cfg.acls.values() for e in a.entries}
        # an entry whose source is a group, or a wildcard of several ranges, is several
        # members of the list's scope: `no SEQ` removes them all, so only when all are extra
        whole = _wholly_extra(options, declared)
        arts = []
        for family, extra in objects.by_family(found.blocks).items():
            per: dict[str, list[str]] = {}
            held: list[str] = []
            for block in extra:
                for origin in block.origins:
                    line = origin.line or 0
                    if line in owner:
                        group, member = owner[line]
                        head = f"object-group network {group.name}"
                        text = " ".join(member.words)
                    elif line in entries:
                        if line not in whole:
                            held.append(f"kept: {origin}: {block.cidr} is extra, its entry not")
                            continue
                        acl, ace = entries[line]
                        head = f"{_kind(acl)} {acl.name}"
                        text = str(ace.seq) if family == 4 else f"sequence {ace.seq}"
                    else:
                        continue
                    got = per.setdefault(head, [])
                    if f" no {text}" not in got:
                        got.append(f" no {text}")
            if not per:
                continue
            lines = [
                f"! REMOVES the wholly extra entries of {scope} in {declared.rs.info.name}:"
                " review before use.",
                *(f"! {note}" for note in found.kept),
                *(f"! {sanitize.clean(note)}" for note in dict.fromkeys(held)),
            ]
            for head, removals in per.items():
                lines += [head, *removals, "exit"]
            body = "\n".join(lines) + "\n"
            check = "show object-group" if groups else f"show access-lists {scope}"
            arts.append(Artifact("prune", family, body, "txt", how, check, BANG, cidrs=len(extra)))
        return arts


def _wholly_extra(options: RuleOptions, declared: Declared) -> set[int]:
    """The lines of the scope's entries all of whose addresses are extra."""
    from auditor import ipspace

    extra = ipspace.IPSpace.from_intervals(
        (b.family, b.network, b.network + b.size - 1) for b in options.prune
    )
    lines: dict[int, bool] = {}
    for entry in declared.rs.scope_entries:
        if entry.group is None or not in_scope(entry.group, options.scope):
            continue
        line = entry.origin.line or 0
        inside = extra.covered(entry.family, entry.first, entry.last) == entry.size
        lines[line] = lines.get(line, True) and inside
    return {line for line, all_extra in lines.items() if all_extra}


def _kind(acl: Acl) -> str:
    if acl.family == 6:
        return "ipv6 access-list"
    return f"ip access-list {acl.kind}"
