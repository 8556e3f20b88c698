"""The named things JunOS rules refer to: prefix lists (``policy-options prefix-list``),
security address books and address sets, applications and application sets, port and
protocol names.

An address an entry holds is kept per family as intervals; what the configuration names but
does not hold (a prefix list filled by ``apply-path``, a ``dns-name`` address, a wildcard
address whose mask is not a prefix) is kept as a reason: a rule matching it is conditional.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from auditor import ipspace
from auditor.allowlists.appliances.junos_parse import Node
from auditor.allowlists.base import ReaderError
from auditor.errors import AddressError
from auditor.ruleset.sweep import merge

Interval = tuple[int, int]
Pairs = list[tuple[int, Interval]]

# Junos port synonyms ("How to Specify Firewall Filter Match Conditions": a text synonym
# stands for the numeric value, smtp for 25), the common ones.
PORTS = {
    "bgp": 179, "biff": 512, "bootpc": 68, "bootps": 67, "cvspserver": 2401, "dhcp": 67,
    "domain": 53, "eklogin": 2105, "ekshell": 2106, "exec": 512, "finger": 79, "ftp": 21,
    "ftp-data": 20, "http": 80, "https": 443, "ident": 113, "imap": 143, "kerberos-sec": 88,
    "klogin": 543, "kpasswd": 761, "krb-prop": 754, "krbupdate": 760, "kshell": 544,
    "ldap": 389, "ldp": 646, "login": 513, "msdp": 639, "netbios-dgm": 138,
    "netbios-ns": 137, "netbios-ssn": 139, "nfsd": 2049, "nntp": 119, "ntalk": 518,
    "ntp": 123, "pop3": 110, "pptp": 1723, "printer": 515, "radacct": 1813, "radius": 1812,
    "rip": 520, "rkinit": 2108, "smtp": 25, "snmp": 161, "snmptrap": 162, "snpp": 444,
    "socks": 1080, "ssh": 22, "sunrpc": 111, "syslog": 514, "tacacs": 49, "tacacs-ds": 65,
    "talk": 517, "telnet": 23, "tftp": 69, "timed": 525, "who": 513, "xdmcp": 177,
}  # fmt: skip

PROTOCOL_NUMBERS = {"1": "icmp", "6": "tcp", "17": "udp", "58": "icmp6", "132": "sctp"}
ICMP = frozenset({"icmp", "icmp6", "icmpv6"})

# Predefined applications (Junos OS "Predefined Applications"): the ones whose protocol and
# port are read here; any other junos-* name makes a policy conditional.
PREDEFINED: dict[str, tuple[tuple[str, int, int], ...]] = {
    "junos-smtp": (("tcp", 25, 25),),
    "junos-smtps": (("tcp", 465, 465),),
    "junos-mail": (("tcp", 25, 25), ("tcp", 110, 110), ("tcp", 143, 143)),
    "junos-http": (("tcp", 80, 80),),
    "junos-https": (("tcp", 443, 443),),
    "junos-ssh": (("tcp", 22, 22),),
    "junos-telnet": (("tcp", 23, 23),),
    "junos-ftp": (("tcp", 21, 21),),
    "junos-pop3": (("tcp", 110, 110),),
    "junos-imap": (("tcp", 143, 143),),
    "junos-imaps": (("tcp", 993, 993),),
    "junos-dns-udp": (("udp", 53, 53),),
    "junos-dns-tcp": (("tcp", 53, 53),),
    "junos-ntp": (("udp", 123, 123),),
    "junos-ping": (("icmp", 0, 65535),),
    "junos-icmp-all": (("icmp", 0, 65535),),
}


def port_range(text: str) -> Interval | None:
    """``25``, ``smtp``, ``1024-65535``; None for a name not known here."""
    lo, sep, hi = text.partition("-")
    if text in PORTS:
        return PORTS[text], PORTS[text]
    if lo.isdigit() and (not sep or hi.isdigit()):
        a, b = int(lo), int(hi) if sep else int(lo)
        if 0 <= a <= b <= 65535:
            return a, b
    return None


def protocol_name(text: str) -> str:
    low = text.lower()
    return PROTOCOL_NUMBERS.get(low, "icmp6" if low == "icmpv6" else low)


@dataclass
class Named:
    """A prefix list, address or address set: its addresses, and why more may belong."""

    name: str
    line: int
    pairs: Pairs = field(default_factory=list)
    whys: list[str] = field(default_factory=list)


def cidr(text: str, source: str, line: int) -> tuple[int, Interval]:
    """A prefix as JunOS writes it (a bare address is a host)."""
    try:
        p = ipspace.parse(text, "fix")
    except AddressError as e:
        raise ReaderError(
            f"{text!r} is not an address or prefix: {e}",
            source=source,
            line=line,
            hint="write a prefix as 192.0.2.0/24 or 2001:db8::/32",
        ) from None
    if "-" in text:
        raise ReaderError(f"{text!r} is a range, not a prefix", source=source, line=line)
    return p.family, (p.first, p.last)


def masked(text: str, source: str, line: int) -> tuple[int, Interval] | str:
    """``ADDRESS/MASK`` with a dotted mask (a filter's ``1.2.3.4/255.0.255.0``, a
    ``wildcard-address``): the prefix when the mask is one, else why it cannot be read as
    addresses here (a mask with gaps matches addresses scattered over the space)."""
    addr, _, mask = text.partition("/")
    if "." not in mask and ":" not in mask:
        return cidr(text, source, line)
    try:
        fam, m, _ = ipspace.parse_address(mask)
    except AddressError:
        raise ReaderError(f"{text!r}: cannot read the mask", source=source, line=line) from None
    bits = ipspace.BITS[fam]
    ones = bin(m).count("1")
    if m != ((1 << bits) - 1) ^ ((1 << (bits - ones)) - 1):
        return f"{text} (a mask that is not a prefix)"
    return cidr(f"{addr}/{ones}", source, line)


def prefix_lists(root: Node, source: str) -> dict[str, Named]:
    """``policy-options prefix-list NAME`` with its prefixes; ``apply-path`` lists are
    filled from the configuration's own addresses when it is committed: not read here."""
    out: dict[str, Named] = {}
    node = root.get("policy-options", "prefix-list")
    for name, pl in (node.children if node else {}).items():
        named = Named(name, pl.line)
        for key, child in pl.children.items():
            if key == "apply-path":
                path = " ".join(child.keys())
                named.whys.append(f"prefix-list {name} apply-path {path!r} (not expanded)")
            elif key in ("description", "dynamic-db"):
                continue
            else:
                named.pairs.append(cidr(key, source, child.line))
        out[name] = named
    return out


@dataclass
class Book:
    """One address book: its addresses and address sets by name."""

    name: str
    addresses: dict[str, Node] = field(default_factory=dict)
    sets: dict[str, Node] = field(default_factory=dict)


def books(root: Node) -> tuple[Book, dict[str, list[Book]]]:
    """The global address book and, per zone, the books it uses first (its own, the named
    books attached to it)."""
    glob = Book("global")
    zones: dict[str, list[Book]] = {}
    ab = root.get("security", "address-book")
    for bname, bnode in (ab.children if ab else {}).items():
        book = glob if bname == "global" else Book(bname)
        book.addresses.update((bnode.get("address") or Node("", 0)).children)
        book.sets.update((bnode.get("address-set") or Node("", 0)).children)
        attach = bnode.get("attach", "zone")
        for zone in attach.keys() if attach else []:
            zones.setdefault(zone, []).append(book)
    zs = root.get("security", "zones", "security-zone")
    for zname, znode in (zs.children if zs else {}).items():
        zb = znode.get("address-book")
        if zb is not None:
            book = Book(f"zone {zname}")
            book.addresses.update((zb.get("address") or Node("", 0)).children)
            book.sets.update((zb.get("address-set") or Node("", 0)).children)
            zones.setdefault(zname, []).insert(0, book)
    return glob, zones


class Resolver:
    """Address names of the security policies, per zone: the zone's books, then the global
    one; address sets expanded (a set that contains itself is an error)."""

    def __init__(self, root: Node, source: str) -> None:
        self.glob, self.zones = books(root)
        self.source = source
        self.memo: dict[tuple[str, str], Named] = {}

    def lookup(self, zone: str | None, name: str, line: int, stack: Sequence[str] = ()) -> Named:
        key = (zone or "", name)
        got = self.memo.get(key)
        if got is not None:
            return got
        if name in stack:
            raise ReaderError(
                f"address-set {name} contains itself: {' -> '.join([*stack, name])}",
                source=self.source,
                line=line,
                hint="an address set cannot hold itself, directly or through another set",
            )
        books = [*(self.zones.get(zone, []) if zone else []), self.glob]
        for book in books:
            if name in book.addresses:
                got = self.address(name, book.addresses[name])
                break
            if name in book.sets:
                got = Named(name, book.sets[name].line)
                snode = book.sets[name]
                for kind in ("address", "address-set"):
                    members = snode.get(kind)
                    for member, mnode in (members.children if members else {}).items():
                        sub = self.lookup(zone, member, mnode.line, [*stack, name])
                        got.pairs += sub.pairs
                        got.whys += sub.whys
                break
        if got is None:
            where = f"zone {zone}'s address book or " if zone else ""
            raise ReaderError(
                f"address {name} is not defined (in {where}the global address book)",
                source=self.source,
                line=line,
                hint="define it under security address-book global address, or fix the name",
            )
        self.memo[key] = got
        return got

    def address(self, name: str, node: Node) -> Named:
        named = Named(name, node.line)
        for key, child in node.children.items():
            if key == "description":
                continue
            if key == "range-address":
                lo = child.keys()[0] if child.children else ""
                to = child.get(lo, "to") if lo else None
                hi = to.keys()[0] if to and to.children else ""
                try:
                    fa, a, _ = ipspace.parse_address(lo)
                    fb, b, _ = ipspace.parse_address(hi)
                except AddressError as e:
                    raise ReaderError(
                        f"address {name}: cannot read range-address: {e}",
                        source=self.source,
                        line=child.line,
                        hint="write range-address FIRST to LAST",
                    ) from None
                if fa != fb or a > b:
                    raise ReaderError(
                        f"address {name}: range-address {lo} to {hi} is not a range",
                        source=self.source,
                        line=child.line,
                    )
                named.pairs.append((fa, (a, b)))
            elif key == "dns-name":
                host = " ".join(child.keys()[:1])
                named.whys.append(f"address {name} dns-name {host} (resolved by the device)")
            elif key == "wildcard-address":
                text = child.keys()[0] if child.children else ""
                got = masked(text, self.source, child.line)
                if isinstance(got, str):
                    named.whys.append(f"address {name} wildcard-address {got}")
                else:
                    named.pairs.append(got)
            else:
                named.pairs.append(cidr(key, self.source, child.line))
        return named

    def names(self) -> list[tuple[str, Node]]:
        """Every address and address set of every book (the scopes)."""
        out: list[tuple[str, Node]] = []
        for book in [self.glob, *(b for bs in self.zones.values() for b in bs)]:
            out += list(book.addresses.items()) + list(book.sets.items())
        return out

    def zone_of(self, name: str) -> str | None:
        for zone, bs in self.zones.items():
            if any(name in b.addresses or name in b.sets for b in bs):
                return zone
        return None


@dataclass(frozen=True)
class App:
    """One application term: protocol (None: any), destination and source ports, and why
    it cannot be read (a predefined application not known here)."""

    protocol: str | None
    dports: tuple[Interval, ...] = ()
    sports: tuple[Interval, ...] = ()
    why: str = ""


ANY_APP = App(None)


class Applications:
    """``applications application`` and ``application-set``, and the predefined ones."""

    def __init__(self, root: Node, source: str) -> None:
        apps = root.get("applications")
        self.apps = dict((apps.get("application") or Node("", 0)).children) if apps else {}
        self.sets = dict((apps.get("application-set") or Node("", 0)).children) if apps else {}
        self.source = source

    def lookup(self, name: str, line: int, stack: Sequence[str] = ()) -> list[App]:
        if name == "any":
            return [ANY_APP]
        if name in stack:
            raise ReaderError(
                f"application-set {name} contains itself: {' -> '.join([*stack, name])}",
                source=self.source,
                line=line,
                hint="an application set cannot hold itself",
            )
        if name in self.apps:
            return self.custom(name, self.apps[name])
        if name in self.sets:
            out: list[App] = []
            snode = self.sets[name]
            for kind in ("application", "application-set"):
                members = snode.get(kind)
                for member, mnode in (members.children if members else {}).items():
                    out += self.lookup(member, mnode.line, [*stack, name])
            return out
        if name in PREDEFINED:
            return [App(p, ((a, b),)) for p, a, b in PREDEFINED[name]]
        if name.startswith("junos-"):
            return [App(None, why=f"predefined application {name}: its ports are not known here")]
        raise ReaderError(
            f"application {name} is not defined",
            source=self.source,
            line=line,
            hint="define it under applications application, or use a predefined junos-* one",
        )

    def custom(self, name: str, node: Node) -> list[App]:
        terms: dict[str, dict[str, list[str]]] = {}
        for words, _ in node.paths():
            key = ""
            if words[0] == "term" and len(words) > 1:
                key, words = words[1], words[2:]
            attrs = terms.setdefault(key, {})
            for k in range(0, len(words) - 1, 2):
                attrs.setdefault(words[k], []).append(words[k + 1])
        out = []
        for attrs in terms.values():
            if not attrs:
                continue
            proto = protocol_name(attrs["protocol"][0]) if "protocol" in attrs else None
            whys = []
            ports: dict[str, list[Interval]] = {"destination-port": [], "source-port": []}
            for key, values in attrs.items():
                if key in ports:
                    for v in values:
                        got = port_range(v)
                        if got is None:
                            whys.append(f"application {name} {key} {v} (not known here)")
                        else:
                            ports[key].append(got)
                elif key in ("rpc-program-number", "uuid"):
                    whys.append(f"application {name} {key} {' '.join(values)}")
            out.append(
                App(
                    proto,
                    tuple(merge(ports["destination-port"])),
                    tuple(merge(ports["source-port"])),
                    "; ".join(whys),
                )
            )
        return out or [App(None, why=f"application {name} says no protocol")]
