"""The parts of a pfSense or OPNsense ``config.xml`` that filter rules refer to: the XML itself
(parsed with expat, no document type or entity declaration accepted), the interfaces with
their addresses, and the aliases, resolved to addresses and ports.

Aliases [Netgate docs, "Aliases", https://docs.netgate.com/pfsense/en/latest/firewall/
aliases.html]: ``host`` and ``network`` aliases hold addresses, CIDRs, ranges ``a-b``, other
aliases (nested; a cycle is an error) and host names (FQDNs, resolved by the firewall at run
time: conditional); ``port`` aliases hold ports, ranges ``a:b`` and other port aliases;
``url``/``urltable`` (and their ``_ports`` forms), OPNsense's ``geoip``, ``asn``,
``dynipv6host``, ``mac``, ``external`` and ``authgroup`` are filled at run time (conditional).
pfSense keeps aliases in ``<aliases><alias>`` (entries separated by blanks in ``<address>``),
OPNsense in ``<OPNsense><Firewall><Alias><aliases><alias>`` (entries a line each in
``<content>``, ``<enabled>0</enabled>`` for one switched off), older OPNsense in the pfSense
form.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field

from auditor import ipspace
from auditor.allowlists import xmltree
from auditor.allowlists.appliances.sniffing import PFSENSE_ROOTS as _ROOTS
from auditor.allowlists.appliances.sniffing import root_name as root_name
from auditor.allowlists.base import ReadContext, ReaderError
from auditor.allowlists.xmltree import Element
from auditor.errors import AddressError
from auditor.ruleset.sweep import complement, merge

Interval = tuple[int, int]
FAMILIES = (4, 6)

El = Element
"""An element of config.xml (:class:`auditor.allowlists.xmltree.Element`)."""


def parse_xml(data: bytes, ctx: ReadContext) -> El:
    """The element tree; a document type or entity declaration is refused (a config.xml has
    none, and refusing them rules out entity expansion)."""
    root = xmltree.parse(
        data,
        ctx,
        "a config.xml",
        "give config.xml as the firewall saved it (Diagnostics > Backup & Restore)",
    )
    if root.tag.lower() not in _ROOTS:
        raise ReaderError(
            f"the root element is <{root.tag}>, not <pfsense> or <opnsense>",
            source=ctx.name,
            line=root.line,
            hint="give the config.xml of a pfSense or OPNsense firewall",
        )
    return root


@dataclass(frozen=True)
class Addrs:
    """Addresses a rule side or an alias holds: surely ``known`` (per family); with
    ``unknown`` reasons in a family, any other address of it may be in it too (an FQDN, a
    URL table, a network whose address the firewall gets at run time)."""

    known: dict[int, tuple[Interval, ...]]
    unknown: dict[int, tuple[str, ...]] = field(default_factory=dict)

    @staticmethod
    def dark(why: str, families: tuple[int, ...] = FAMILIES) -> Addrs:
        """Nothing known: any address of the families may be in it, for this reason."""
        return Addrs({}, dict.fromkeys(families, (why,)))

    @staticmethod
    def join(parts: list[Addrs]) -> Addrs:
        known = {
            f: tuple(merge([iv for p in parts for iv in p.known.get(f, ())])) for f in FAMILIES
        }
        whys = {
            f: tuple(dict.fromkeys(w for p in parts for w in p.unknown.get(f, ())))
            for f in FAMILIES
        }
        return Addrs(known, {f: w for f, w in whys.items() if w})

    def split(
        self, family: int, negated: bool
    ) -> tuple[tuple[Interval, ...], tuple[Interval, ...], str]:
        """(sure, maybe, why maybe) of this set (or of ``not`` it) in one family."""
        sure = self.known.get(family, ())
        whys = self.unknown.get(family, ())
        rest = tuple(complement(list(sure), ipspace.BITS[family]))
        if negated:
            return ((), rest, "; ".join(whys)) if whys else (rest, (), "")
        return (sure, rest, "; ".join(whys)) if whys else (sure, (), "")


@dataclass(frozen=True)
class Iface:
    """An interface of ``<interfaces>``: its key (``wan``, ``lan``, ``opt1``) and what its
    static addresses say."""

    key: str
    descr: str
    line: int
    address: Addrs
    """``wanip``: the interface's own addresses."""
    network: Addrs
    """``wan``: the interface's subnets."""
    el: El


def _iface_addrs(key: str, el: El) -> tuple[Addrs, Addrs]:
    addr: dict[int, list[Interval]] = {4: [], 6: []}
    net: dict[int, list[Interval]] = {4: [], 6: []}
    whys: dict[int, tuple[str, ...]] = {}
    for tag, sub, fam in (("ipaddr", "subnet", 4), ("ipaddrv6", "subnetv6", 6)):
        value = el.get(tag) or ""
        if not value or value == "none":
            continue
        try:
            f, host, _ = ipspace.parse_address(value)
            bits = int(el.get(sub) or ipspace.BITS[f])
            if f != fam or not 0 <= bits <= ipspace.BITS[f]:
                raise ValueError(value)
        except (AddressError, ValueError):
            whys[fam] = (f"the {key} IPv{fam} address is {value!r} (set at run time)",)
            continue
        span = ipspace.BITS[f] - bits
        addr[f].append((host, host))
        net[f].append((host >> span << span, (host >> span << span) + (1 << span) - 1))
    return (
        Addrs({f: tuple(merge(v)) for f, v in addr.items()}, whys),
        Addrs({f: tuple(merge(v)) for f, v in net.items()}, whys),
    )


def interfaces(root: El) -> dict[str, Iface]:
    out: dict[str, Iface] = {}
    section = root.find("interfaces")
    for el in section.children if section is not None else []:
        address, network = _iface_addrs(el.tag, el)
        out[el.tag] = Iface(el.tag, el.get("descr") or "", el.line, address, network, el)
    return out


@dataclass(frozen=True)
class Alias:
    name: str
    type: str
    entries: tuple[str, ...]
    line: int
    enabled: bool = True


_RUNTIME = {
    "url": "a URL list (fetched by the firewall)",
    "urltable": "a URL table (fetched by the firewall)",
    "url_ports": "a URL list of ports (fetched by the firewall)",
    "urltable_ports": "a URL table of ports (fetched by the firewall)",
    "geoip": "a GeoIP country list",
    "asn": "an AS number list",
    "dynipv6host": "a dynamic IPv6 host",
    "mac": "MAC addresses (matched through the ARP/NDP table)",
    "external": "an external alias (filled by other software)",
    "authgroup": "a VPN user group",
    "internal": "an internal alias",
}
PORT_TYPES = frozenset({"port", "url_ports", "urltable_ports"})


def aliases(root: El, ctx: ReadContext) -> dict[str, Alias]:
    """Every alias by name, both forms; a name defined twice is an error."""
    found: list[Alias] = []
    legacy = root.find("aliases")
    for el in legacy.findall("alias") if legacy is not None else []:
        text = el.get("address") or ""
        found.append(
            Alias(
                el.get("name") or "", (el.get("type") or "").lower(), tuple(text.split()), el.line
            )
        )
    mvc = root.walk("OPNsense", "Firewall", "Alias", "aliases")
    for el in mvc.findall("alias") if mvc is not None else []:
        text = el.get("content") or ""
        entries = tuple(t.strip() for t in re.split(r"[\n,]", text) if t.strip())
        enabled = el.get("enabled") not in ("0",)
        found.append(
            Alias(el.get("name") or "", (el.get("type") or "").lower(), entries, el.line, enabled)
        )
    out: dict[str, Alias] = {}
    for alias in found:
        if not alias.name:
            raise ReaderError(
                "an alias without a <name>",
                source=ctx.name,
                line=alias.line,
                hint="every alias has a name; fix or remove this one",
            )
        if alias.name in out:
            raise ReaderError(
                f"alias {alias.name} is defined twice (also line {out[alias.name].line})",
                source=ctx.name,
                line=alias.line,
                hint="the firewall refuses two aliases of one name; keep one",
            )
        out[alias.name] = alias
    return out


def _range(text: str) -> tuple[int, Interval] | None:
    a, sep, b = text.partition("-")
    if not sep:
        return None
    try:
        fa, lo, _ = ipspace.parse_address(a.strip())
        fb, hi, _ = ipspace.parse_address(b.strip())
    except AddressError:
        return None
    return (fa, (lo, hi)) if fa == fb and lo <= hi else None


class Resolver:
    """Alias names to addresses and ports, nested aliases followed, cycles refused."""

    def __init__(self, table: dict[str, Alias], ctx: ReadContext) -> None:
        self.table = table
        self.ctx = ctx
        self.memo: dict[str, Addrs] = {}
        self.port_memo: dict[str, tuple[tuple[Interval, ...], tuple[str, ...]]] = {}
        self.stack: list[str] = []

    def _enter(self, name: str, line: int) -> Alias:
        alias = self.table[name]
        if name in self.stack:
            loop = " -> ".join([*self.stack[self.stack.index(name) :], name])
            raise ReaderError(
                f"aliases nest in a loop: {loop}",
                source=self.ctx.name,
                line=alias.line,
                hint="an alias cannot hold itself; remove one of the nested names",
            )
        self.stack.append(name)
        return alias

    def address(self, text: str, line: int, where: str) -> Addrs:
        """An address, CIDR, range or alias name as a rule or an alias writes it."""
        try:
            p = ipspace.parse(text, self.ctx.host_bits)
        except AddressError:
            p = None
        if p is not None and "-" not in text:
            return Addrs({p.family: ((p.first, p.last),)})
        got = _range(text)
        if got is not None:
            return Addrs({got[0]: (got[1],)})
        if text in self.table:
            return self.alias(text, line)
        raise ReaderError(
            f"{where} {text!r} is neither an address, a network nor a defined alias",
            source=self.ctx.name,
            line=line,
            hint="define the alias (Firewall > Aliases) or correct the name",
        )

    def alias(self, name: str, line: int) -> Addrs:
        got = self.memo.get(name)
        if got is not None:
            return got
        alias = self._enter(name, line)
        try:
            if not alias.enabled:
                got = Addrs.dark(f"alias {name} is disabled (its use is then not in config.xml)")
            elif alias.type in PORT_TYPES:
                raise ReaderError(
                    f"alias {name} is a {alias.type} alias, used as addresses",
                    source=self.ctx.name,
                    line=line,
                    hint="a rule's address names a host or network alias",
                )
            elif alias.type in _RUNTIME:
                got = Addrs.dark(f"alias {name} is {_RUNTIME[alias.type]}")
            elif alias.type in ("host", "network", "networkgroup", ""):
                parts = []
                for entry in alias.entries:
                    if entry not in self.table and _fqdn(entry):
                        parts.append(Addrs.dark(f"alias {name} holds the host name {entry}"))
                    else:
                        parts.append(self.address(entry, alias.line, f"alias {name} entry"))
                got = Addrs.join(parts)
            else:
                got = Addrs.dark(f"alias {name} has the unsupported type {alias.type!r}")
        finally:
            self.stack.pop()
        self.memo[name] = got
        return got

    def ports(self, text: str, line: int) -> tuple[tuple[Interval, ...], tuple[str, ...]]:
        """A port, a range ``a-b`` or ``a:b``, or a port alias: (ranges, unknown reasons)."""
        m = re.fullmatch(r"(\d+)(?:\s*[-:]\s*(\d+))?", text)
        if m:
            lo, hi = int(m.group(1)), int(m.group(2) or m.group(1))
            if not 0 <= lo <= hi <= 65535:
                raise ReaderError(
                    f"port {text!r} is out of range",
                    source=self.ctx.name,
                    line=line,
                    hint="ports are 0 to 65535, ranges low-high",
                )
            return ((lo, hi),), ()
        alias = self.table.get(text)
        if alias is None:
            raise ReaderError(
                f"port {text!r} is neither a port nor a defined port alias",
                source=self.ctx.name,
                line=line,
                hint="define the port alias (Firewall > Aliases > Ports)",
            )
        got = self.port_memo.get(text)
        if got is not None:
            return got
        self._enter(text, line)
        try:
            if alias.type not in PORT_TYPES:
                raise ReaderError(
                    f"alias {text} is a {alias.type} alias, used as ports",
                    source=self.ctx.name,
                    line=line,
                    hint="a rule's port names a port alias",
                )
            if alias.type != "port" or not alias.enabled:
                what = _RUNTIME.get(alias.type, "disabled")
                got = ((), (f"port alias {text} is {what}",))
            else:
                ranges: list[Interval] = []
                whys: list[str] = []
                for entry in alias.entries:
                    r, w = self.ports(entry, alias.line)
                    ranges += r
                    whys += w
                got = (tuple(merge(ranges)), tuple(whys))
        finally:
            self.stack.pop()
        self.port_memo[text] = got
        return got


def _fqdn(text: str) -> bool:
    return bool(re.fullmatch(r"(?=.*[A-Za-z])[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)+\.?", text))


def iter_rules(root: El) -> Iterator[tuple[int, El]]:
    """The ``<filter><rule>`` elements with their position (1-based)."""
    section = root.find("filter")
    yield from enumerate(section.findall("rule") if section is not None else [], 1)
