"""The parsed form of a Cisco ASA configuration (:mod:`auditor.allowlists.appliances.asa`):
its names, objects and object-groups, access lists, access-group bindings and interfaces, and
the address and port helpers the resolution uses."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from auditor import ipspace
from auditor.allowlists.base import (
    MAX_FINDINGS_PER_KIND,
    ReadContext,
    ReaderError,
    address_findings,
)
from auditor.errors import AddressError
from auditor.model import Finding, Origin, Severity

Interval = tuple[int, int]

# Cisco, "Addresses, Protocols, and Ports" (cisco.com/c/en/us/td/docs/security/asa/roadmap/
# asaportref.html), "TCP and UDP Ports": the names the ASA accepts for ports.
PORT_NAMES: dict[str, int] = {
    "aol": 5190, "bgp": 179, "biff": 512, "bootpc": 68, "bootps": 67, "chargen": 19,
    "cifs": 3020, "citrix-ica": 1494, "cmd": 514, "ctiqbe": 2748, "daytime": 13,
    "discard": 9, "dnsix": 195, "domain": 53, "echo": 7, "exec": 512, "finger": 79,
    "ftp": 21, "ftp-data": 20, "gopher": 70, "h323": 1720, "hostname": 101, "http": 80,
    "https": 443, "ident": 113, "imap4": 143, "irc": 194, "isakmp": 500, "kerberos": 750,
    "klogin": 543, "kshell": 544, "ldap": 389, "ldaps": 636, "login": 513,
    "lotusnotes": 1352, "lpd": 515, "mobile-ip": 434, "nameserver": 42, "netbios-dgm": 138,
    "netbios-ns": 137, "netbios-ssn": 139, "nfs": 2049, "nntp": 119, "ntp": 123,
    "pcanywhere-data": 5631, "pcanywhere-status": 5632, "pim-auto-rp": 496, "pop2": 109,
    "pop3": 110, "pptp": 1723, "radius": 1645, "radius-acct": 1646, "rip": 520, "rsh": 514,
    "rtsp": 554, "secureid-udp": 5510, "sip": 5060, "smtp": 25, "snmp": 161,
    "snmptrap": 162, "sqlnet": 1521, "ssh": 22, "sunrpc": 111, "syslog": 514, "tacacs": 49,
    "talk": 517, "telnet": 23, "tftp": 69, "time": 37, "uucp": 540, "vxlan": 4789,
    "who": 513, "whois": 43, "www": 80, "xdmcp": 177,
}  # fmt: skip

# The same page, "Protocols": the names of IP protocols.
PROTOCOL_NAMES: dict[str, str] = {
    "ah": "51", "eigrp": "88", "esp": "50", "gre": "47", "icmp": "icmp", "icmp6": "icmp6",
    "igmp": "2", "igrp": "9", "ipinip": "4", "ipsec": "50", "nos": "94", "ospf": "89",
    "pcp": "108", "pim": "103", "pptp": "47", "sctp": "sctp", "snp": "109", "tcp": "tcp",
    "udp": "udp",
}  # fmt: skip
_PROTOCOL_NUMBERS = {"6": "tcp", "17": "udp", "1": "icmp", "58": "icmp6", "132": "sctp"}

PORT_OPS = frozenset({"eq", "lt", "gt", "neq", "range"})
_BLOCKS = re.compile(
    r"(object network|object service|object-group network|object-group service"
    r"|object-group protocol|object-group icmp-type|object-group user|object-group security"
    r"|object-group group \S+|interface|time-range)\s+(\S+)(?:\s+(\S+))?\s*$"
)
_TRAILING_COMMENT = re.compile(r"\s+!.*$")


@dataclass
class Member:
    """One line inside an object or object-group block."""

    line: int
    words: tuple[str, ...]
    text: str


@dataclass
class Group:
    """An ``object`` or ``object-group`` of any type, with its member lines."""

    kind: str
    """``network``, ``service``, ``protocol``, ``icmp-type``, ``user``, ``security``, or
    ``object network``/``object service`` for the objects."""
    name: str
    line: int
    proto: str = ""
    """A service group's protocol (``tcp``, ``udp``, ``tcp-udp``), when it has one."""
    members: list[Member] = field(default_factory=list)

    @property
    def network(self) -> bool:
        return self.kind in ("network", "object network")

    @property
    def service(self) -> bool:
        return self.kind in ("service", "object service")


@dataclass
class Ace:
    """One access-list entry: its position in the list (remarks count), its line and words."""

    acl: str
    position: int
    line: int
    text: str
    words: tuple[str, ...]
    """After ``access-list NAME``: ``extended permit tcp any host 192.0.2.1 eq smtp``."""


@dataclass
class Acl:
    name: str
    line: int
    entries: list[Ace] = field(default_factory=list)
    """The extended entries (standard, webtype and ethertype ones filter nothing here)."""
    size: int = 0
    """Lines in the list, remarks included (what ``line N`` counts)."""
    other: list[str] = field(default_factory=list)
    """The kinds of its entries that are not extended (``standard``, ``webtype``)."""


@dataclass
class Binding:
    acl: str
    line: int
    text: str


@dataclass
class Interface:
    hardware: str
    line: int
    nameif: str = ""
    level: int | None = None
    networks: list[tuple[int, int, int]] = field(default_factory=list)
    """(family, first, last) of the subnets of its ``ip address`` / ``ipv6 address``."""
    addresses: list[tuple[int, int]] = field(default_factory=list)
    """(family, value) of its own addresses."""

    @property
    def security_level(self) -> int:
        if self.level is not None:
            return self.level
        return 100 if self.nameif.lower() == "inside" else 0


@dataclass
class Config:
    """What an ASA configuration says that the evaluation reads."""

    name: str
    names: dict[str, tuple[str, int]] = field(default_factory=dict)
    groups: dict[str, Group] = field(default_factory=dict)
    acls: dict[str, Acl] = field(default_factory=dict)
    bound_in: dict[str, Binding] = field(default_factory=dict)
    bound_out: dict[str, Binding] = field(default_factory=dict)
    bound_global: Binding | None = None
    interfaces: dict[str, Interface] = field(default_factory=dict)
    """By ``nameif``."""
    same_security: bool = False
    nat: list[int] = field(default_factory=list)
    time_ranges: set[str] = field(default_factory=set)
    findings: list[Finding] = field(default_factory=list)
    unsupported: list[str] = field(default_factory=list)

    def origin(self, line: int | None) -> Origin:
        return Origin(self.name, line)

    def error(self, message: str, line: int | None, hint: str | None = None) -> ReaderError:
        return ReaderError(message, source=self.name, line=line, hint=hint)

    counts: dict[str, int] = field(default_factory=dict)

    def warn(self, kind: str, message: str, line: int | None) -> None:
        """A warning, the first MAX_FINDINGS_PER_KIND of a kind (the rest are counted)."""
        n = self.counts[kind] = self.counts.get(kind, 0) + 1
        if n <= MAX_FINDINGS_PER_KIND:
            self.findings.append(Finding(kind, Severity.WARNING, message, self.origin(line)))

    def summary(self) -> list[Finding]:
        return [
            Finding(
                kind,
                Severity.INFO,
                f"{n - MAX_FINDINGS_PER_KIND} more '{kind}' findings not listed",
                self.origin(None),
            )
            for kind, n in sorted(self.counts.items())
            if n > MAX_FINDINGS_PER_KIND
        ]


def parse_config(text: str, ctx: ReadContext) -> Config:
    """The configuration's objects, groups, access lists, bindings and interfaces."""
    cfg = Config(ctx.name)
    block: Group | Interface | None = None
    for no, raw in enumerate(text.split("\n"), 1):
        line = raw.rstrip("\r")
        stripped = line.strip()
        if not stripped or stripped.startswith(("!", ":")):
            continue
        if line[:1] in (" ", "\t"):
            if isinstance(block, Group):
                member = _TRAILING_COMMENT.sub("", stripped)
                if member.startswith("nat "):
                    cfg.nat.append(no)
                else:
                    block.members.append(Member(no, tuple(member.split()), member))
            elif isinstance(block, Interface):
                _interface_line(cfg, block, stripped.split(), no, ctx)
            continue
        block = None
        words = stripped.split()
        head = words[0]
        if head == "access-list" and len(words) >= 3:
            _access_list(cfg, words, stripped, no)
        elif head == "access-group" and len(words) >= 3:
            _access_group(cfg, words, stripped, no)
        elif head == "name" and len(words) >= 3:
            cfg.names[words[2]] = (words[1], no)
        elif head == "same-security-traffic" and words[1:3] == ["permit", "inter-interface"]:
            cfg.same_security = True
        elif head == "nat":
            cfg.nat.append(no)
        elif m := _BLOCKS.match(stripped):
            block = _block(cfg, m, no)
    return cfg


def _block(cfg: Config, m: re.Match[str], no: int) -> Group | Interface | None:
    what, name, extra = m.group(1), m.group(2), m.group(3) or ""
    if what == "interface":
        return Interface(name, no)
    if what == "time-range":
        cfg.time_ranges.add(name)
        return None
    if what.startswith("object-group group"):
        cfg.unsupported.append(f"line {no}: {m.group(0).strip()} (not an object-group type)")
        return None
    kind = what.removeprefix("object-group ") if what.startswith("object-group") else what
    group = cfg.groups.get(name)
    if group is not None and group.kind == kind:
        return group  # a second block of the same object (its nat line, say)
    if group is not None:
        raise cfg.error(
            f"{what} {name}: the name is already an {_kind_text(group)} (line {group.line})",
            no,
            "the ASA keeps one namespace for objects and object-groups; rename one of them",
        )
    group = cfg.groups[name] = Group(kind, name, no, extra.lower())
    return group


def _kind_text(group: Group) -> str:
    return group.kind if group.kind.startswith("object ") else f"object-group {group.kind}"


def _interface_line(
    cfg: Config, iface: Interface, words: list[str], no: int, ctx: ReadContext
) -> None:
    if words[0] == "nameif" and len(words) >= 2:
        iface.nameif = words[1]
        cfg.interfaces[words[1]] = iface
    elif words[0] == "security-level" and len(words) >= 2 and words[1].isdigit():
        iface.level = int(words[1])
    elif words[:2] == ["ip", "address"] and len(words) >= 4 and words[2] != "dhcp":
        try:
            fam, value, _ = ipspace.parse_address(words[2])
            plen = mask_length(words[3])
        except (AddressError, ValueError):
            return  # not an address this reading needs: the interface stays without one
        _add_network(iface, fam, value, plen)
    elif words[:2] == ["ipv6", "address"] and len(words) >= 3 and "/" in words[2]:
        addr, _, plen_text = words[2].partition("/")
        try:
            fam, value, _ = ipspace.parse_address(addr)
        except AddressError:
            return
        if plen_text.isdigit() and fam == 6:
            _add_network(iface, fam, value, int(plen_text))


def _add_network(iface: Interface, fam: int, value: int, plen: int) -> None:
    host = (1 << (ipspace.BITS[fam] - plen)) - 1
    iface.networks.append((fam, value & ~host, (value & ~host) | host))
    iface.addresses.append((fam, value))


def mask_length(mask: str) -> int:
    """The prefix length of an IPv4 netmask; ValueError for a non-contiguous one."""
    fam, value, _ = ipspace.parse_address(mask)
    if fam != 4:
        raise ValueError(f"{mask} is not an IPv4 netmask")
    inverted = ~value & 0xFFFFFFFF
    if inverted & (inverted + 1):
        raise ValueError(f"{mask} is not a contiguous netmask")
    return 32 - inverted.bit_length()


def _access_list(cfg: Config, words: list[str], text: str, no: int) -> None:
    name = words[1]
    acl = cfg.acls.get(name)
    if acl is None:
        acl = cfg.acls[name] = Acl(name, no)
    acl.size += 1
    kind = words[2]
    if kind == "line":
        raise cfg.error(
            "an access-list line with a line number: this is `show access-list` output",
            no,
            "give the configuration (show running-config), which holds the entries in order",
        )
    if kind == "extended":
        acl.entries.append(Ace(name, acl.size, no, text, tuple(words[2:])))
    elif kind in ("permit", "deny"):
        # written without "extended" (ASA 9 accepts it and stores it as extended)
        acl.entries.append(Ace(name, acl.size, no, text, ("extended", *words[2:])))
    elif kind != "remark" and kind not in acl.other:
        acl.other.append(kind)


def _access_group(cfg: Config, words: list[str], text: str, no: int) -> None:
    name = words[1]
    binding = Binding(name, no, text)
    if words[2] == "global":
        cfg.bound_global = binding
    elif len(words) >= 5 and words[2] in ("in", "out") and words[3] == "interface":
        (cfg.bound_in if words[2] == "in" else cfg.bound_out)[words[4]] = binding
    else:
        cfg.unsupported.append(f"line {no}: {text[:80]}")


def parse_address(cfg: Config, word: str, no: int) -> tuple[int, int]:
    """An address or a ``name`` alias: (family, value)."""
    alias = cfg.names.get(word)
    text = alias[0] if alias else word
    try:
        fam, value, _ = ipspace.parse_address(text)
    except AddressError as e:
        raise cfg.error(
            f"{word!r} is neither an address nor a name: {e}",
            no,
            "define it with `name ADDRESS NAME`, or write the address",
        ) from None
    return fam, value


def network(
    cfg: Config, ctx: ReadContext, address: str, mask: str | None, no: int
) -> tuple[int, int, int]:
    """``A MASK`` (IPv4), ``A/len`` (IPv6) or a host: (family, first, last)."""
    if mask is None and "/" in address:
        try:
            parsed = ipspace.parse(address, ctx.host_bits)
        except AddressError as e:
            raise cfg.error(str(e), no) from None
        for f in address_findings(address, parsed, cfg.origin(no)):
            cfg.warn(f.kind, f.message, no)
        return parsed.family, parsed.first, parsed.last
    fam, value = parse_address(cfg, address, no)
    if mask is None:
        return fam, value, value
    try:
        plen = mask_length(mask)
    except (AddressError, ValueError) as e:
        raise cfg.error(
            f"{address} {mask}: {e}",
            no,
            "the ASA takes a contiguous netmask such as 255.255.255.0; a wildcard mask such as"
            " 0.0.0.255 is IOS syntax: read an IOS configuration with --format ios",
        ) from None
    if fam != 4:
        raise cfg.error(f"{address} {mask}: a netmask goes with an IPv4 address", no)
    host = (1 << (32 - plen)) - 1
    if value & host:
        if ctx.host_bits == "reject":
            raise cfg.error(
                f"{address} {mask} has host bits set",
                no,
                "write the network address, or use --host-bits fix",
            )
        fixed = ipspace.format_cidr(4, value & ~host, plen)
        cfg.warn("host-bits", f"'{address} {mask}' has host bits set; read as {fixed}", no)
    return 4, value & ~host & 0xFFFFFFFF, (value & ~host & 0xFFFFFFFF) | host


def port_number(cfg: Config, word: str, no: int) -> int:
    if word.isdigit() and int(word) <= 65535:
        return int(word)
    port = PORT_NAMES.get(word.lower())
    if port is None:
        raise cfg.error(
            f"unknown port {word!r}",
            no,
            "write a number (1-65535) or one of the ASA's port names (smtp, www, https, ...)",
        )
    return port


def port_match(cfg: Config, words: tuple[str, ...], at: int, no: int) -> tuple[Interval, bool, int]:
    """A port operator at ``words[at]``: (range, negated, words used)."""
    op = words[at]
    need = 3 if op == "range" else 2
    if len(words) < at + need:
        raise cfg.error(f"{op} without its port(s)", no, f"write `{op} PORT`")
    first = port_number(cfg, words[at + 1], no)
    if op == "eq":
        return (first, first), False, 2
    if op == "neq":
        return (first, first), True, 2
    if op == "lt":
        return (0, max(first - 1, 0)), False, 2
    if op == "gt":
        return (min(first + 1, 65535), 65535), False, 2
    last = port_number(cfg, words[at + 2], no)
    return (min(first, last), max(first, last)), False, 3


def protocol_name(word: str) -> str | None:
    """``tcp``, ``udp``, ``icmp``, a number for the others; ``ip`` is None (every protocol)."""
    low = word.lower()
    if low == "ip":
        return None
    if low in PROTOCOL_NAMES:
        return PROTOCOL_NAMES[low]
    if low.isdigit():
        return _PROTOCOL_NUMBERS.get(low, low) if low != "0" else None
    return "?" + low
