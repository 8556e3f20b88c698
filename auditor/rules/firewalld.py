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
- ``--prune --scope ZONE`` (the zone is a scope of the firewalld-zone reader, by its file's
  name): from the zone file as it was audited (unchanged since: same SHA-256), the
  ``<source address>`` elements and the rich rules that accept from a ``source address``
  whose addresses are all extra: ``--remove-source``/``--remove-rich-rule`` commands, and the
  same as the zone-XML elements to delete. A source or rule that also holds addresses that
  are not extra (expected, or not accepted by the zone) is kept and named; so is a rich rule
  with words not written back here (log, audit, limit, an inverted or ipset source). A rule
  that rejects or drops is never removed; only what the zone accepts is extra, so a source
  removed was accepted here for all of its addresses.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath, PureWindowsPath

from auditor import ipspace
from auditor.allowlists.base import ReadContext, ReaderError
from auditor.allowlists.firewalls.firewalld_zone import parse_xml, zone_name
from auditor.allowlists.xmltree import Element
from auditor.errors import AddressError, UsageError
from auditor.model import MissingBlock, RangeSet
from auditor.rules import sanitize
from auditor.rules.artifacts import XML, Artifact
from auditor.rules.base import Generator, RuleOptions, audited_bytes
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
    prunes = True
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
        arts = self._rules(blocks, options) if blocks else []
        if options.prune:
            arts += self._prune(options)
        return arts

    def _prune(self, options: RuleOptions) -> list[Artifact]:
        """The commands removing the scoped zones' wholly extra sources and accepting rich
        rules, and the same as zone-XML elements to delete."""
        found = [
            prune_zone(rs, options.prune)
            for rs in _zone_sources(options.declared)
            if zone_name(rs.info.name) in options.scope
        ]
        if not any(f.removes or f.kept for f in found):
            return []
        script = ["set -e"]
        xml: list[str] = []
        count = 0
        for f in found:
            base = ["firewall-cmd", "--permanent", f"--zone={f.zone}"]
            script.append(
                f"# Zone {f.zone}: removes its sources and accepting rich rules that hold only"
                " extra addresses (NOT_ENABLED: already gone)."
            )
            script += [f"# {note}" for note in f.kept]
            if f.removes:
                script.append("# Roll back: the same commands with --add-source, --add-rich-rule.")
            script += [shlex.join([*base, option]) for option, _, _ in f.removes]
            xml.append(
                f"<!-- Delete these elements from /etc/firewalld/zones/{f.zone}.xml, then reload"
                " firewalld (the roll back: paste them again). -->"
            )
            xml += [XML.line(note) for note in f.kept]
            for _, element, at in f.removes:
                xml += [XML.line(at), element]
            count += len(f.removes)
        script.append(shlex.join(["firewall-cmd", "--reload"]))
        how = "sh FILE (as root)"
        zones = ", ".join(f"/etc/firewalld/zones/{f.zone}.xml" for f in found)
        return [
            Artifact("prune", None, "\n".join(script) + "\n", "sh", how, script=True, cidrs=count),
            Artifact(
                "prune",
                None,
                "\n".join(xml) + "\n",
                "xml",
                f"delete these elements from {zones}; then systemctl reload firewalld",
                syntax=XML,
                cidrs=count,
            ),
        ]

    def _rules(self, blocks: Sequence[MissingBlock], options: RuleOptions) -> list[Artifact]:
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


@dataclass(frozen=True)
class ZonePrune:
    """What ``--prune`` removes from one zone, and comments for what is kept."""

    zone: str
    removes: tuple[tuple[str, str, str], ...]
    """(firewall-cmd option, zone-XML element, where it is: file:line)."""
    kept: tuple[str, ...]


_ADDRESS = re.compile(r"[0-9A-Fa-f:.]+(?:/[0-9]{1,3})?")
_WORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.+-]{0,63}")
_PORT = re.compile(r"[0-9]{1,5}(?:-[0-9]{1,5})?")


def prune_zone(rs: RangeSet, prune: Sequence[MissingBlock]) -> ZonePrune:
    """The zone file's ``<source address>`` elements and accepting rich rules whose
    addresses are all extra (read again as audited; never a rule that rejects or drops)."""
    zone = zone_name(rs.info.name) or ""
    where = sanitize.clean(rs.info.name)
    data = audited_bytes(rs)
    if data is None:
        note = f"kept all of {where}: it is no file, or it changed since it was audited"
        return ZonePrune(zone, (), (note,))
    try:
        root = parse_xml(data, ReadContext(rs.info.name, "declared"))
    except ReaderError:
        return ZonePrune(zone, (), (f"kept all of {where}: it cannot be read again",))
    extra = ipspace.IPSpace.from_text(b.cidr for b in prune)
    removes: list[tuple[str, str, str]] = []
    kept: list[str] = []
    for node in root.children:
        address = _source_address(node if node.tag == "source" else _rule_source(node))
        if address is None:
            continue
        parsed = ipspace.parse(address)
        covered = extra.covered(parsed.family, parsed.first, parsed.last)
        if not covered:
            continue
        at = f"{where}:{node.line}"
        if covered <= parsed.last - parsed.first:
            kept.append(f"kept {at}: {address} is only partly extra")
        elif node.tag == "source":
            removes.append((f"--remove-source={address}", f'<source address="{address}"/>', at))
        else:
            rule = _rich_rule(node, address)
            if rule is None:
                kept.append(f"kept {at}: a rich rule with words not written back here")
            else:
                removes.append((f"--remove-rich-rule={rule[0]}", rule[1], at))
    return ZonePrune(zone, tuple(removes), tuple(kept))


def _source_address(node: Element | None) -> str | None:
    """The address of a ``<source address>`` (not inverted) this tool can write back."""
    attrib = node.attrib if node is not None else {}
    if set(attrib) != {"address"} or not _ADDRESS.fullmatch(attrib["address"]):
        return None
    try:
        ipspace.parse(attrib["address"])
    except AddressError:
        return None
    return attrib["address"]


def _rule_source(node: Element) -> Element | None:
    """The ``<source>`` of a rich rule that accepts (None for any other element)."""
    if node.tag != "rule" or not any(c.tag == "accept" for c in node.children):
        return None
    return next((c for c in node.children if c.tag == "source"), None)


def _rich_rule(node: Element, address: str) -> tuple[str, str] | None:
    """The rule in firewalld's rule language (as firewalld writes it) and as zone XML, when
    every word of it is one written back here: family, priority, source and destination
    addresses, one service, port or protocol, and accept."""
    attrib = node.attrib
    if not set(attrib) <= {"family", "priority"}:
        return None
    family = attrib.get("family")
    priority = attrib.get("priority", "0")
    if family not in (None, "ipv4", "ipv6") or not re.fullmatch(r"-?[0-9]{1,5}", priority):
        return None
    words = ["rule"]
    xml_attrs = ""
    if int(priority):
        words.append(f'priority="{int(priority)}"')
        xml_attrs += f' priority="{int(priority)}"'
    if family:
        words.append(f'family="{family}"')
        xml_attrs += f' family="{family}"'
    words.append(f'source address="{address}"')
    inner = f'<source address="{address}"/>'
    elements = 0
    for child in node.children:
        tag, attrs = child.tag, child.attrib
        if tag in ("source", "accept") and not child.children:
            if tag == "accept" and attrs:
                return None
            continue
        if tag == "destination":
            dest = _source_address(child)
            if dest is None:
                return None
            words.append(f'destination address="{dest}"')
            inner += f'<destination address="{dest}"/>'
        elif tag == "service" and set(attrs) == {"name"} and _WORD.fullmatch(attrs["name"]):
            words.append(f'service name="{attrs["name"]}"')
            inner += f'<service name="{attrs["name"]}"/>'
            elements += 1
        elif (
            tag == "port"
            and set(attrs) == {"port", "protocol"}
            and _PORT.fullmatch(attrs["port"])
            and _WORD.fullmatch(attrs["protocol"])
        ):
            words.append(f'port port="{attrs["port"]}" protocol="{attrs["protocol"]}"')
            inner += f'<port port="{attrs["port"]}" protocol="{attrs["protocol"]}"/>'
            elements += 1
        elif tag == "protocol" and set(attrs) == {"value"} and _WORD.fullmatch(attrs["value"]):
            words.append(f'protocol value="{attrs["value"]}"')
            inner += f'<protocol value="{attrs["value"]}"/>'
            elements += 1
        else:
            return None
    if elements > 1:
        return None
    words.append("accept")
    return " ".join(words), f"<rule{xml_attrs}>{inner}<accept/></rule>"
