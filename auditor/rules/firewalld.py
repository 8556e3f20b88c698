"""firewalld: ``firewall-cmd --permanent`` commands (a shell script) and the same change as
zone-XML lines to paste into the zone file.

Choices an admin should know about (they are also written into the output):

- One rich rule per CIDR and port range: ``rule family="ipv4" source address="CIDR" port
  port="25" protocol="tcp" accept`` [firewalld.richlanguage(5)]; ``--service any``: no port.
- The zone: the declared zone file's name (``/etc/firewalld/zones/mail.xml`` is ``mail``);
  else ``--chain`` when it is not INPUT; else ``public`` (firewalld's usual default zone).
- Order: a rich rule that accepts (priority 0) comes after the zone's rich rules that reject
  or drop at priority 0 or below. When the declared zone denies an address by such a rule,
  the accept gets a priority one below it, so that it is evaluated first.
- A zone with ``<source>`` elements applies to those addresses only (another zone decides
  the rest): an address the declared zone does not reach is added as a source of it
  (``--add-source``), and all of its connections then go to this zone. Its rich rule gets
  priority -1: the zone's rules for it do not show while it is not a source.
- ``--permanent`` changes the saved configuration; ``firewall-cmd --reload`` at the end makes
  it the running one. firewall-cmd warns ALREADY_ENABLED (exit 0) for a rule it has, so the
  script can run again; the roll back warns NOT_ENABLED for one that is gone.
- There is no prune: a zone file has no named objects a ``--scope`` could name.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath, PureWindowsPath

from auditor.errors import UsageError
from auditor.model import MissingBlock, RangeSet
from auditor.rules import sanitize
from auditor.rules.artifacts import XML, Artifact
from auditor.rules.base import Generator, RuleOptions
from auditor.service import Service

FORMAT = "firewalld-zone"
DEFAULT_ZONE = "public"
FAMILY = {4: "ipv4", 6: "ipv6"}
MIN_PRIORITY = -32768
"""Rich rule priorities are -32768..32767 [firewalld.richlanguage(5)]."""

_ZONE_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_-]*")
_PRIORITY = re.compile(r'\bpriority="(-?[0-9]+)"')


@dataclass(frozen=True)
class Change:
    """What one block needs in the zone: its rich rules, and whether it becomes a source."""

    block: MissingBlock
    rules: tuple[str, ...]
    """The rich rules, in firewalld's rule language."""
    xml: tuple[str, ...]
    """The same rules as zone-XML elements."""
    source: bool


def port_elements(service: Service) -> list[tuple[str, str]]:
    """(rule language, XML) of the element each rule needs; empty strings for ``any``."""
    if service.protocol == "any":
        return [("", "")]
    proto = service.protocol
    if not service.ports:
        return [(f'protocol value="{proto}"', f'<protocol value="{proto}"/>')]
    out = []
    for lo, hi in service.ports:
        port = str(lo) if lo == hi else f"{lo}-{hi}"
        out.append(
            (
                f'port port="{port}" protocol="{proto}"',
                f'<port port="{port}" protocol="{proto}"/>',
            )
        )
    return out


def check_zone(name: str, max_len: int) -> None:
    if not _ZONE_NAME.fullmatch(name) or len(name) > max_len:
        raise UsageError(
            f"zone name {name!r} (--chain) cannot be used for firewalld",
            hint=f"use at most {max_len} letters, digits, '_' and '-', not starting with '-'",
        )


class FirewalldGenerator(Generator):
    name = "firewalld"
    description = "firewall-cmd --permanent rich rules (a shell script) and zone-XML lines"
    families = (4, 6)
    max_name_len = 17
    """Zone names: at most 17 characters [firewalld, io/zone.py]; ``--chain`` names the zone."""

    def check_options(self, options: RuleOptions) -> None:
        if options.chain != "INPUT":
            check_zone(options.chain, self.max_name_len)

    def zone(self, options: RuleOptions) -> tuple[str, str]:
        """The zone's name, and where it comes from."""
        for rs in _zone_sources(options.declared):
            stem = _stem(rs.info.name)
            if _ZONE_NAME.fullmatch(stem) and len(stem) <= self.max_name_len:
                return stem, f"the zone of {sanitize.clean(rs.info.name)}"
        if options.chain != "INPUT":
            return options.chain, "the zone named with --chain"
        return DEFAULT_ZONE, "firewalld's usual default zone; --chain ZONE names another"

    def changes(self, blocks: Sequence[MissingBlock], options: RuleOptions) -> list[Change]:
        elements = port_elements(options.service)
        out = []
        zones = _zone_sources(options.declared)
        for block in sanitize.sorted_blocks(blocks):
            source = sanitize.cidr(block)
            priority, becomes_source = _placement(block, zones)
            fam = FAMILY[block.family]
            attrs = f'family="{fam}"'
            if priority is not None:  # in the order firewalld writes them
                attrs = f'priority="{priority}" {attrs}'
            head = f"rule {attrs}"
            rules, xml = [], []
            for words, element in elements:
                rule = " ".join(
                    w for w in (head, f'source address="{source}"', words, "accept") if w
                )
                rules.append(rule)
                xml.append(f'<rule {attrs}><source address="{source}"/>{element}<accept/></rule>')
            out.append(Change(block, tuple(rules), tuple(xml), becomes_source))
        return out

    def commands(self, changes: Sequence[Change], zone: str, add: bool) -> list[list[str]]:
        verb = "add" if add else "remove"
        base = ["firewall-cmd", "--permanent", f"--zone={zone}"]
        out = []
        for change in changes:
            if change.source:
                out.append([*base, f"--{verb}-source={sanitize.cidr(change.block)}"])
            out += [[*base, f"--{verb}-rich-rule={rule}"] for rule in change.rules]
        out.append(["firewall-cmd", "--reload"])
        return out

    def artifacts(self, blocks: Sequence[MissingBlock], options: RuleOptions) -> list[Artifact]:
        if not blocks:
            return []
        zone, why = self.zone(options)
        changes = self.changes(blocks, options)
        count = len(blocks)
        sources = [c for c in changes if c.source]
        intro = [
            f"# Zone {zone} ({why}), {options.service.describe()}.",
            "# --permanent changes the saved configuration; --reload at the end makes it the",
            "# running one. A rule that is there already gets a warning (ALREADY_ENABLED).",
        ]
        if any(c.rules and "priority=" in c.rules[0] for c in changes):
            intro.append(
                "# A priority below that of the rich rule denying an address today puts the"
                " accept first."
            )
        if sources:
            intro += [
                f"# {len(sources)} CIDR(s) are not sources of the zone today (another zone decides"
                " them):",
                "# they are added as sources, and all of their connections then go to this zone.",
            ]
        script = [
            "set -e",
            *intro,
            *(shlex.join(a) for a in self.commands(changes, zone, True)),
        ]
        how = "sh FILE (as root)"
        arts = [
            Artifact("apply", None, "\n".join(script) + "\n", "sh", how, script=True, cidrs=count)
        ]
        back = [
            "set -e",
            "# Removes what the apply script added (NOT_ENABLED: already gone).",
            *(shlex.join(a) for a in self.commands(changes, zone, False)),
        ]
        arts.append(
            Artifact("rollback", None, "\n".join(back) + "\n", "sh", how, script=True, cidrs=count)
        )
        xml = [
            f"<!-- The same change as lines of /etc/firewalld/zones/{zone}.xml: paste them"
            " before </zone>. -->",
            "<!-- Roll back: delete them again, then reload firewalld. -->",
        ]
        for change in changes:
            if change.source:
                xml.append(f'<source address="{sanitize.cidr(change.block)}"/>')
            xml += list(change.xml)
        arts.append(
            Artifact(
                "apply",
                None,
                "\n".join(xml) + "\n",
                "xml",
                f"paste into /etc/firewalld/zones/{zone}.xml before </zone>;"
                " then systemctl reload firewalld",
                syntax=XML,
                cidrs=count,
            )
        )
        return arts


def _zone_sources(declared: Sequence[RangeSet]) -> list[RangeSet]:
    return [rs for rs in declared if rs.info.format == FORMAT]


def _stem(name: str) -> str:
    return PurePosixPath(PureWindowsPath(name).name).stem


def _placement(block: MissingBlock, zones: Sequence[RangeSet]) -> tuple[int | None, bool]:
    """The priority the accept needs (None: the default, 0), and whether the block must
    become a source of the zone to reach it."""
    first, last = block.network, block.network + block.size - 1
    lowest: int | None = None
    source = False
    for rs in zones:
        for verdicts in rs.verdicts:
            if verdicts.family != block.family:
                continue
            for seg in verdicts.segments:
                if seg.last < first or seg.first > last or seg.outcome == "accept":
                    continue
                if seg.outcome == "return":
                    source = True
                elif seg.rule.text.startswith("<rule"):
                    m = _PRIORITY.search(seg.rule.text.split(">", 1)[0])
                    prio = int(m.group(1)) if m else 0
                    if prio <= 0:
                        lowest = prio if lowest is None else min(lowest, prio)
    if source:
        # the zone's rich rules for this address do not show while it is not a source (they
        # decide nothing for it): go ahead of any at priority 0
        lowest = min(lowest if lowest is not None else 0, 0)
    if lowest is None:
        return None, source
    return max(lowest - 1, MIN_PRIORITY), source
