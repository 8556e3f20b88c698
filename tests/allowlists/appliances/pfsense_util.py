"""Writing small pfSense/OPNsense config.xml files for the tests, and reading their verdicts."""

from __future__ import annotations

from auditor import ipspace
from auditor.allowlists import ReadContext, reader_for
from auditor.model import RangeSet
from auditor.service import Service

IFACES = """  <interfaces>
    <wan><if>em0</if><descr>WAN</descr><ipaddr>203.0.113.2</ipaddr><subnet>24</subnet></wan>
    <lan><if>em1</if><ipaddr>192.168.1.1</ipaddr><subnet>24</subnet></lan>
    <opt1><if>em2</if><descr>DMZ</descr><ipaddr>dhcp</ipaddr></opt1>
  </interfaces>
"""


def rule(
    kind: str = "pass",
    iface: str = "wan",
    src: str = "<any/>",
    dst: str = "<any/>",
    proto: str | None = "tcp",
    ipp: str = "inet",
    extra: str = "",
    descr: str = "",
) -> str:
    """One <rule> element, on one line (its line number is the rule's)."""
    parts = [f"<type>{kind}</type><interface>{iface}</interface><ipprotocol>{ipp}</ipprotocol>"]
    if proto is not None:
        parts.append(f"<protocol>{proto}</protocol>")
    parts.append(f"<source>{src}</source><destination>{dst}</destination>{extra}")
    if descr:
        parts.append(f"<descr>{descr}</descr>")
    return "    <rule>" + "".join(parts) + "</rule>\n"


def config(
    *rules: str, aliases: str = "", root: str = "pfsense", ifaces: str = IFACES, more: str = ""
) -> str:
    """A config.xml: interfaces, aliases (pfSense form), the filter rules. The first rule is
    on line ``RULE_LINE`` plus the lines of ``aliases`` and ``more``."""
    return (
        f'<?xml version="1.0"?>\n<{root}>\n{ifaces}'
        f"  <aliases>\n{aliases}  </aliases>\n{more}  <filter>\n{''.join(rules)}  </filter>\n"
        f"</{root}>\n"
    )


def alias(name: str, kind: str, address: str) -> str:
    return (
        f"    <alias><name>{name}</name><type>{kind}</type><address>{address}</address></alias>\n"
    )


def read(
    text: str,
    *,
    chain: str | None = None,
    service: str = "tcp/25",
    to: str | None = None,
    name: str = "config.xml",
) -> RangeSet:
    ctx = ReadContext(name, "declared", service=Service.parse(service), chain=chain, to=to)
    return reader_for("pfsense").parse(text.encode(), ctx)


def outcome(rs: RangeSet, address: str) -> str:
    """allowed/denied/conditional of one address (accept/drop/conditional)."""
    fam, value, _ = ipspace.parse_address(address)
    for v in rs.verdicts:
        if v.family == fam:
            seg = v.lookup(value)
            assert seg is not None
            return seg.outcome
    raise AssertionError(f"no verdicts for IPv{fam}")


def deciding(rs: RangeSet, address: str) -> str:
    fam, value, _ = ipspace.parse_address(address)
    for v in rs.verdicts:
        if v.family == fam:
            seg = v.lookup(value)
            assert seg is not None
            return seg.rule.describe()
    raise AssertionError(f"no verdicts for IPv{fam}")
