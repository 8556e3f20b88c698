"""Juniper JunOS: ``set policy-options prefix-list`` entries and a firewall filter term that
accepts them, one artifact per family (``family inet`` / ``family inet6``), for
``load set terminal`` (or ``load set FILE``) in configuration mode, then ``commit check``.

- ``set`` and ``delete`` change nothing that is already so: the file can be loaded again.
- ``--chain`` names the firewall filter (the one the interface applies as its input filter).
  A new term goes to the end of the filter, after a term that discards. ``--chain
  FILTER:TERM`` names that term too, and the file moves the new term before it with
  ``insert``: ``load set`` runs configuration-mode commands line by line, ``insert`` among
  them (Junos CLI configuration mode commands; NETCONF Java toolkit, "Junos OS executes the
  configuration instructions line by line"). Without it, the file says how to move it.
- ``#`` lines are documented as comments for operational-mode commands only (Junos CLI
  comment character), not for ``load set``: every ``#`` line (the header and the advice)
  comes first, and the header says to load the lines below them.
- With ``--scope``, the CIDRs go into that prefix-list, which the filter already uses, and no
  term is written; ``--prune`` deletes the extra entries from it.
- With a JunOS configuration read as the declared source (``--rules auto``), ``--chain`` is
  resolved as the reader resolves it (an interface unit names the filter it applies as input,
  per family), and the new term is inserted before the term that discards the missing
  addresses today (named with its file and line), or goes to the end of the filter when its
  implicit discard is what decides them.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from auditor.errors import UsageError
from auditor.model import MissingBlock, RangeSet
from auditor.rules import objects, sanitize
from auditor.rules.artifacts import Artifact
from auditor.rules.base import Generator, RuleOptions, audited_bytes, source_path, stale

if TYPE_CHECKING:
    from auditor.allowlists.appliances.junos import FilterPlace

NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
FILTER_FAMILY = {4: "inet", 6: "inet6"}
PROTOCOL = {4: "protocol", 6: "next-header"}
"""``family inet6`` filters match the protocol as ``next-header``."""


HOW = (
    "load set terminal (configuration mode) and paste the lines below the # lines, then"
    " commit check and commit"
)


def placement(options: RuleOptions) -> tuple[str, str | None]:
    """The filter ``--chain`` names, and the term the new one goes before (``FILTER:TERM``)."""
    filt, sep, term = options.chain.partition(":")
    return filt, (term if sep else None)


def declared_places(options: RuleOptions) -> tuple[RangeSet, dict[int, FilterPlace]] | None:
    """The declared JunOS configuration and, per family, the filters ``--chain`` evaluates
    there (None: no such source, a zone pair, or ``--chain FILTER:TERM`` naming the place)."""
    from auditor.allowlists.appliances.junos import filter_places

    for rs in options.declared:
        if rs.info.format != "junos":
            continue
        data = audited_bytes(rs)
        if data is None:
            continue
        filt, sep, _ = options.chain.partition(":")
        places = filter_places(data, rs.info.name, options.chain)
        if sep and places is None:
            return None  # FILTER:TERM as given (or a zone pair, which takes no term)
        if places:
            return rs, places
    return None


def deciding(
    rs: RangeSet, place: FilterPlace, family: int, blocks: Sequence[MissingBlock]
) -> tuple[str, str | None, str]:
    """The filter the new term goes into, the term it goes before (None: the end), and
    which line decides the blocks today: the first, in evaluation order, of the terms and
    implicit discards that refuse some of them (or leave them conditional)."""
    best: tuple[int, float, str, str | None, str] | None = None
    path = source_path(rs)
    for v in rs.verdicts:
        if v.family != family:
            continue
        for block in blocks:
            last = block.network + block.size - 1
            for seg in v.segments:
                if seg.last < block.network or seg.first > last or seg.outcome == "accept":
                    continue
                found = place.locate(seg.rule)
                if found is None:
                    continue
                got = (*found, f"{path}:{seg.rule.origin.line}")
                if best is None or got[:2] < best[:2]:
                    best = got
    if best is None:
        return place.filters[-1], None, ""
    return best[2], best[3], best[4]


class JunosGenerator(Generator):
    name = "junos"
    description = "JunOS set commands: a policy-options prefix-list and a firewall filter term"
    families = (4, 6)
    max_name_len = 63
    """Prefix-list, filter and term names: no Juniper page with a length was found; kept as
    it was. Nor was a limit on the entries of one prefix-list (none is enforced here)."""
    prunes = True

    def check_options(self, options: RuleOptions) -> None:
        allowed = "letters, digits, '_', '.' and '-', starting with a letter or digit"
        filt, term = placement(options)
        declared = declared_places(options)
        if declared is not None:
            # the filters the configuration applies: names JunOS itself accepted
            for place in declared[1].values():
                for name in place.filters:
                    self.check_name("filter", name)
            filt, term = "", None
        objects.check_names(
            self.name,
            replace(options, chain=filt or objects.DEFAULT_CHAIN),
            NAME,
            allowed,
            self.max_name_len,
        )
        if term is not None and not NAME.fullmatch(term):
            raise UsageError(
                f"term name {term!r} (after ':' in --chain) cannot be used for {self.name}",
                hint=f"use {allowed}: --chain FILTER:TERM",
            )
        if term is not None:
            self.check_name("term", term)

    def check(self, options: RuleOptions) -> None:
        """:meth:`check_options` alone: it checks the filter and the term of ``--chain``
        each against :attr:`max_name_len`, not the two together."""
        self.check_options(options)

    def prefix_list(self, family: int, options: RuleOptions) -> str:
        scope = objects.scope_name(options)
        if scope is not None:
            return scope
        return f"{objects.default_name(options.service)}-v{family}"

    def term(self, options: RuleOptions) -> list[str]:
        """The ``from`` and ``then`` parts of the term, after ``term NAME``."""
        service = options.service
        out = []
        if service.protocol != "any":
            out.append(f"from {{proto}} {service.protocol}")
            ranges = objects.port_ranges(service)
            if ranges:
                ports = " ".join(f"{lo}" if lo == hi else f"{lo}-{hi}" for lo, hi in ranges)
                out.append(
                    f"from destination-port [ {ports} ]"
                    if len(ranges) > 1
                    else f"from destination-port {ports}"
                )
        out.append("then accept")
        return out

    def artifacts(self, blocks: Sequence[MissingBlock], options: RuleOptions) -> list[Artifact]:
        how = HOW
        check = "commit check (after loading; rollback 0 discards)"
        scoped = objects.scope_name(options) is not None
        filt, before = placement(options)
        declared = declared_places(options)
        term_name = objects.default_name(options.service)
        arts = []
        for family, mine in objects.by_family(blocks).items():
            plist = self.prefix_list(family, options)
            where = ""
            if declared is not None and family in declared[1]:
                filt, before, where = deciding(declared[0], declared[1][family], family, mine)
                if before is not None and not NAME.fullmatch(before):
                    raise UsageError(
                        f"term {sanitize.clean(before)[:60]!r} of filter {filt}, which decides"
                        " the missing addresses, has a name that cannot be written safely",
                        hint="rename the term (letters, digits, '_', '.', '-'), or name the"
                        " place yourself with --chain FILTER:TERM",
                    )
            ff = f"firewall family {FILTER_FAMILY[family]} filter {filt}"
            lines = []
            if scoped:
                lines.append(f"# Into prefix-list {plist}, which the filter already uses.")
            elif declared is not None and family in declared[1]:
                said = sanitize.clean(where)
                lines.append(f"# Filter {filt} is the input filter of --chain {options.chain}.")
                if before is not None:
                    lines.append(
                        f"# The term is inserted before term {before} ({said}), which"
                        " discards these addresses today."
                    )
                else:
                    lines.append(
                        f"# The term goes to the end of filter {filt}, before its implicit"
                        f" discard{f' ({said})' if said else ''}."
                    )
            elif before is not None:
                lines += [
                    f"# Filter {filt} must be the input filter of the interface (--chain).",
                    f"# The term is inserted before term {before}, which discards these addresses.",
                ]
            else:
                lines += [
                    f"# Filter {filt} must be the input filter of the interface (--chain).",
                    "# The term goes to the end of the filter: move it before the term that",
                    "# discards these addresses (or name it: --chain FILTER:TERM):",
                    f"#   insert {ff} term {term_name} before term NAME-OF-THAT-TERM",
                ]
            for block in mine:
                lines.append(f"set policy-options prefix-list {plist} {sanitize.cidr(block)}")
            back = [f"delete policy-options prefix-list {plist} {sanitize.cidr(b)}" for b in mine]
            if not scoped:
                lines.append(f"set {ff} term {term_name} from source-prefix-list {plist}")
                for part in self.term(options):
                    lines.append(f"set {ff} term {term_name} {part.format(proto=PROTOCOL[family])}")
                if before is not None:
                    lines.append(f"insert {ff} term {term_name} before term {before}")
                back = [
                    f"delete {ff} term {term_name}",
                    f"delete policy-options prefix-list {plist}",
                ]
            body = "\n".join(lines) + "\n"
            arts.append(Artifact("apply", family, body, "set", how, check, cidrs=len(mine)))
            arts.append(
                Artifact(
                    "rollback", family, "\n".join(back) + "\n", "set", how, check, cidrs=len(mine)
                )
            )
        scope = objects.scope_name(options)
        found = stale(options)
        extra = list(found.blocks)
        if scope is not None and extra:
            lines = [
                f"# REMOVES the extra entries of prefix-list {scope}: review before use.",
                *(f"# {note}" for note in found.kept),
                *(f"delete policy-options prefix-list {scope} {sanitize.cidr(b)}" for b in extra),
            ]
            body = "\n".join(lines) + "\n"
            arts.append(Artifact("prune", None, body, "set", how, check, cidrs=len(extra)))
        return arts
