"""ipset: an ``ipset restore`` file that adds the missing CIDRs to ``hash:net`` sets.

Choices an admin should know about (they are also written into the output):

- Every line can be loaded again: ``create ... -exist`` leaves a set with the same settings as
  it is, and ``add ... -exist`` an element that is there already [ipset(8), ``-exist``].
- The set the CIDRs go into: the set named with ``--scope`` in a declared ``ipset save`` file;
  else, when such a file has one set holding addresses of the family, that set; else a set of
  this tool's own, ``auditor-tcp25-v4`` (one per family: a set holds one family), created here.
  A set that the declared file shows is not created again (its settings are not known here,
  and ``create -exist`` fails when they differ).
- A set holds at most ``maxelem`` elements (65536 unless created otherwise); more CIDRs go
  into further sets of this tool's own, ``NAME-2`` and so on, each created here.
- The rule that matches a set (``iptables -I INPUT -m set --match-set NAME src ...``) is not
  in the file (an ipset file holds sets only); the commands are in its comments, to run once
  for a set of this tool's own.
- ``hash:net`` cannot hold a /0: a missing /0 is written as its two halves.
- Roll back: ``del ... -exist`` of every element added; the sets stay (``ipset destroy`` one
  of this tool's own once no rule uses it). Prune: ``del`` of the entries of the scoped set
  that lie wholly in the extra addresses; an entry only partly extra stays (removing it
  would remove expected addresses too) and is named in a comment.
"""

from __future__ import annotations

import bisect
import hashlib
import re
import shlex
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

from auditor import ipspace
from auditor.errors import UsageError
from auditor.model import MissingBlock, RangeSet
from auditor.rules import sanitize
from auditor.rules.artifacts import Artifact, chunk_name
from auditor.rules.base import Generator, RuleOptions
from auditor.service import Service

FORMAT = "ipset"
"""The reader format whose sets the rules use."""

FAMILY = {4: "inet", 6: "inet6"}
PROGRAM = {4: "iptables", 6: "ip6tables"}

# Letters, digits and ``_.:+-``, not starting with '-' (it would read as an option): what
# admins and tools name sets (f2b-postfix, blacklist_v4) and needs no quoting anywhere.
_SET_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.:+-]*")
_CHAIN_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")


@dataclass(frozen=True)
class Target:
    """The set the CIDRs of one family go into."""

    name: str
    family: int
    own: bool
    """A set of this tool's own (created here), not one the declared file shows."""
    why: str


def check_set_name(name: str, max_len: int) -> None:
    if not _SET_NAME.fullmatch(name) or len(name) > max_len:
        raise UsageError(
            f"set name {name!r} cannot be used for ipset",
            hint=f"use at most {max_len} letters, digits and '_.:+-', not starting with '-'",
        )


def service_tag(service: Service) -> str:
    """``tcp25``, ``tcp25_465_587``, ``udp53``, ``any``: the service in a set name."""
    if service.protocol == "any":
        return "any"
    return service.protocol + service.port_list("_", "-")


class IpsetGenerator(Generator):
    name = "ipset"
    description = "ipset restore file: hash:net sets (-exist), with del for roll back and prune"
    families = (4, 6)
    max_comment_len = 255
    """An element's comment: at most 255 bytes [ipset(8), comment extension]."""
    max_name_len = 28
    """Of ``--chain`` (the iptables chain the advised rule goes to)."""
    max_set_name_len: ClassVar[int] = 31
    """Set names: IPSET_MAXNAMELEN is 32 with the terminating NUL [linux ipset.h]."""
    max_set_entries: ClassVar[int] = 65536
    """``maxelem`` of the sets made here (ipset's default); more go into further sets."""
    prunes = True

    def own_limits(self) -> list[str]:
        return [f"{self.max_set_entries} entries a set", f"set names up to {self.max_set_name_len}"]

    def check_options(self, options: RuleOptions) -> None:
        if not _CHAIN_NAME.fullmatch(options.chain):
            raise UsageError(
                f"chain name {options.chain!r} cannot be used for iptables",
                hint="use letters, digits, '_' and '-', starting with a letter or '_'",
            )
        for name in options.scope:
            check_set_name(name, self.max_set_name_len)

    # --- where the CIDRs go ------------------------------------------------------------------

    def declared_sets(self, options: RuleOptions) -> dict[str, set[int]]:
        """Every set of the declared ipset files, with the families of its entries."""
        out: dict[str, set[int]] = {}
        for rs in _ipset_sources(options.declared):
            for group in rs.entries.groups:
                out.setdefault(group, set())
            for entry in rs.entries:
                if entry.group is not None:
                    out.setdefault(entry.group, set()).add(entry.family)
        return out

    def default_name(self, family: int, service: Service) -> str:
        base = f"auditor-{service_tag(service)}-v{family}"
        if len(base) + len("-99") > self.max_set_name_len:
            digest = hashlib.sha256(str(service).encode()).hexdigest()[:8]
            base = f"auditor-{service.protocol}-{digest}-v{family}"
        return base

    def target(self, family: int, options: RuleOptions) -> Target:
        sets = self.declared_sets(options)
        for name in options.scope:
            if name in sets and sets[name] <= {family} and (sets[name] or family == 4):
                why = f"the scoped set {name}"
                if not sets[name]:
                    why += " (empty in the declared file: taken as family inet, ipset's default)"
                return Target(name, family, False, why)
        usable = sorted(
            n for n, fams in sets.items() if fams == {family} and _SET_NAME.fullmatch(n)
        )
        if len(usable) == 1 and len(usable[0]) <= self.max_set_name_len:
            return Target(usable[0], family, False, f"the declared file's one IPv{family} set")
        why = "a set of this tool's own"
        if usable:
            why += f" (the declared file has {len(usable)} IPv{family} sets; --scope names one)"
        return Target(self.default_name(family, options.service), family, True, why)

    # --- the artifacts ------------------------------------------------------------------------

    def artifacts(self, blocks: Sequence[MissingBlock], options: RuleOptions) -> list[Artifact]:
        arts: list[Artifact] = []
        for family in (4, 6):
            mine = [b for b in sanitize.sorted_blocks(blocks) if b.family == family]
            if mine:
                arts += self._family(family, mine, options)
        prune = self._prune(options)
        if prune is not None:
            arts.append(prune)
        return arts

    def _family(
        self, family: int, blocks: Sequence[MissingBlock], options: RuleOptions
    ) -> list[Artifact]:
        target = self.target(family, options)
        elements: list[tuple[str, str]] = []
        for block in blocks:
            note = self.origins_comment(block.origins)
            elements += [(cidr, note) for cidr in _hash_net_cidrs(block)]
        runs: list[tuple[str, Sequence[tuple[str, str]]]]
        if target.own:
            size = self.max_set_entries
            parts = [elements[i : i + size] for i in range(0, len(elements), size)]
            runs = [
                (chunk_name(target.name, i, len(parts), self.max_set_name_len), part)
                for i, part in enumerate(parts)
            ]
        else:
            runs = [(target.name, elements)]
        lines = [
            f"# The IPv{family} CIDRs go into {target.why}.",
            "# Every line can be loaded again (-exist).",
        ]
        if not target.own:
            lines += [
                f"# {target.name} is not created here: the declared file shows it. A set holds",
                "# at most its maxelem elements (65536 unless created otherwise).",
            ]
        rollback = []
        for name, part in runs:
            lines.append("")
            if target.own:
                lines.append(
                    f"create {name} hash:net family {FAMILY[family]}"
                    f" maxelem {self.max_set_entries} comment -exist"
                )
                for cidr, note in part:
                    tail = f' comment "{note}"' if note else ""
                    lines.append(f"add {name} {cidr}{tail} -exist")
            else:
                lines += [f"add {name} {cidr} -exist" for cidr, _ in part]
            rollback += [f"del {name} {cidr} -exist" for cidr, _ in part]
        if target.own:
            lines += ["", *self._advice(family, [n for n, _ in runs], options)]
        how = ("ipset restore -file FILE", "")
        count = len(blocks)
        body = "\n".join(lines) + "\n"
        arts = [Artifact("apply", family, body, "ipset", *how, cidrs=count)]
        back = [
            "# Takes the elements added out again; the sets stay (ipset destroy NAME removes a",
            "# set of this tool's own once no rule uses it).",
            *rollback,
        ]
        arts.append(
            Artifact("rollback", family, "\n".join(back) + "\n", "ipset", *how, cidrs=count)
        )
        return arts

    def _advice(self, family: int, names: Sequence[str], options: RuleOptions) -> list[str]:
        """The rule that makes a set of this tool's own take effect, once, as comments."""
        from auditor.rules.iptables import port_matches

        lines = [
            "# These sets let nothing in by themselves. Once, after loading this file, add the",
            f"# rule that accepts them at the top of {options.chain} (ahead of any DROP):",
        ]
        for name in names:
            for match in port_matches(options.service):
                argv = ["-I", options.chain, "-m", "set", "--match-set", name, "src", *match]
                lines.append("#   " + shlex.join([PROGRAM[family], *argv, "-j", "ACCEPT"]))
        return lines

    def _prune(self, options: RuleOptions) -> Artifact | None:
        """``del`` of every entry of the scoped sets that lies wholly in the extra addresses."""
        if not options.prune or not options.scope:
            return None
        extra: dict[int, list[tuple[int, int]]] = {4: [], 6: []}
        for b in sanitize.sorted_blocks(options.prune):
            extra[b.family].append((b.network, b.network + b.size - 1))
        merged = {f: _merge(iv) for f, iv in extra.items()}
        scoped = set(options.scope)
        lines = [
            "# REMOVES the entries of the scoped set(s) that hold only extra addresses (none",
            "# of the expected ones). Review before use.",
        ]
        dels: list[str] = []
        partial: list[str] = []
        for rs in _ipset_sources(options.declared):
            for entry in rs.entries:
                if entry.group not in scoped or not _SET_NAME.fullmatch(entry.group):
                    continue
                fam, first, last = entry.family, entry.first, entry.last
                within = _covered(merged[fam], first, last)
                text = ipspace.format_interval(fam, first, last)
                if within == last - first + 1:
                    for net, plen in ipspace.cidr_blocks(fam, first, last):
                        dels.append(
                            f"del {entry.group} {ipspace.format_cidr(fam, net, plen)} -exist"
                        )
                elif within:
                    partial.append(f"#   {entry.group} {sanitize.clean(text)}")
        if partial:
            lines += [
                "# These entries hold extra and expected addresses; they stay (removing one",
                "# would remove expected addresses too):",
                *partial,
            ]
        if not dels and not partial:
            return None
        lines += dels
        body = "\n".join(lines) + "\n"
        return Artifact("prune", None, body, "ipset", "ipset restore -file FILE", cidrs=len(dels))


def _ipset_sources(declared: Sequence[RangeSet]) -> list[RangeSet]:
    return [rs for rs in declared if rs.info.format == FORMAT]


def _hash_net_cidrs(block: MissingBlock) -> list[str]:
    """The block as hash:net elements: a /0 (which hash:net cannot hold) as its two halves."""
    cidr = sanitize.cidr(block)
    if block.prefixlen:
        return [cidr]
    half = 1 << (ipspace.BITS[block.family] - 1)
    return [ipspace.format_cidr(block.family, n, 1) for n in (0, half)]


def _merge(intervals: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for a, b in sorted(intervals):
        if out and a <= out[-1][1] + 1:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out


def _covered(merged: list[tuple[int, int]], first: int, last: int) -> int:
    """How many addresses of ``first..last`` the merged intervals hold."""
    i = max(bisect.bisect_right(merged, (first, ipspace.MAX[6] + 1)) - 1, 0)
    total = 0
    while i < len(merged) and merged[i][0] <= last:
        a, b = merged[i]
        lo, hi = max(a, first), min(b, last)
        if lo <= hi:
            total += hi - lo + 1
        i += 1
    return total
