"""Values of an nftables ruleset (text or JSON) into numbers and intervals: addresses, prefixes
and ranges, ports and protocols (with the names nft accepts), bit masks."""

from __future__ import annotations

import re
import socket

from auditor import ipspace
from auditor.allowlists.nftables.ast import AnonSet, Bits, Pfx, Rng, Val, Value, _Problem
from auditor.allowlists.nftables.render import _render_value
from auditor.errors import AddressError
from auditor.ruleset.sweep import merge

# /etc/services names nft accepts for ports; the most common, so that the result does not depend
# on the host's services file (which is consulted for the rest).
_SERVICES = {
    "ftp-data": 20, "ftp": 21, "ssh": 22, "telnet": 23, "smtp": 25, "time": 37, "domain": 53,
    "bootps": 67, "bootpc": 68, "tftp": 69, "gopher": 70, "finger": 79, "http": 80, "www": 80,
    "kerberos": 88, "pop3": 110, "sunrpc": 111, "auth": 113, "ident": 113, "nntp": 119,
    "ntp": 123, "netbios-ns": 137, "netbios-dgm": 138, "netbios-ssn": 139, "imap": 143,
    "imap2": 143, "snmp": 161, "snmp-trap": 162, "bgp": 179, "irc": 194, "ldap": 389,
    "https": 443, "microsoft-ds": 445, "submissions": 465, "smtps": 465, "isakmp": 500,
    "syslog": 514, "printer": 515, "submission": 587, "ipp": 631, "ldaps": 636, "rsync": 873,
    "ftps-data": 989, "ftps": 990, "telnets": 992, "imaps": 993, "pop3s": 995,
    "openvpn": 1194, "ms-sql-s": 1433, "radius": 1812, "radius-acct": 1813, "nfs": 2049,
    "mysql": 3306, "ms-wbt-server": 3389, "ipsec-nat-t": 4500, "sip": 5060, "sip-tls": 5061,
    "xmpp-client": 5222, "postgresql": 5432, "http-alt": 8080, "dhcpv6-client": 546,
    "dhcpv6-server": 547, "sieve": 4190, "managesieve": 4190, "domain-s": 853,
}  # fmt: skip
_PROTOCOLS = {
    "hopopt": 0, "icmp": 1, "igmp": 2, "ipencap": 4, "tcp": 6, "egp": 8, "udp": 17, "ipv6": 41,
    "ipv6-route": 43, "ipv6-frag": 44, "rsvp": 46, "gre": 47, "esp": 50, "ah": 51,
    "icmpv6": 58, "ipv6-icmp": 58, "ipv6-nonxt": 59, "ipv6-opts": 60, "ospf": 89, "pim": 103,
    "comp": 108, "vrrp": 112, "l2tp": 115, "sctp": 132, "mh": 135, "udplite": 136,
    "dccp": 33, "ipip": 94,
}  # fmt: skip
_CT_STATE = {"invalid": 1, "established": 2, "related": 4, "new": 8, "untracked": 64}
_TCP_FLAGS = {
    "fin": 0x01, "syn": 0x02, "rst": 0x04, "psh": 0x08, "ack": 0x10, "urg": 0x20,
    "ecn": 0x40, "cwr": 0x80,
}  # fmt: skip
_NFPROTO = {"ipv4": "ipv4", "2": "ipv4", "ipv6": "ipv6", "10": "ipv6"}
_ETHERTYPE = {
    "ip": "ip",
    "0x0800": "ip",
    "2048": "ip",
    "ip6": "ip6",
    "0x86dd": "ip6",
    "34525": "ip6",
}
_PORT_PROTOCOLS = frozenset({"tcp", "udp", "udplite", "sctp", "dccp"})


IV = list[tuple[int, int]]


def _shown(v: Value) -> str:
    """A value as written, cut short for a message."""
    text = _render_value(v)
    return text if len(text) <= 60 else text[:57] + "..."


def _text(v: Value) -> str:
    if isinstance(v, Val):
        return v.text
    raise _Problem(f"{_shown(v)} is not a single value")


def _addresses(v: Value, family: int) -> IV:
    """An address, prefix or range of the family as intervals (nft intervals ``a-b`` go through
    the same strict parser as every list, RELIABILITY.md 2.9)."""
    if isinstance(v, Rng):
        lo, hi = _text(v.lo), _text(v.hi)
        text = f"{lo}-{hi}"
    elif isinstance(v, Pfx):
        text = f"{v.addr}/{v.length}"
    elif isinstance(v, Val):
        text = v.text
    elif isinstance(v, AnonSet):
        return merge([iv for e in v.elems for iv in _addresses(e.key, family)])
    else:
        raise _Problem(f"{_shown(v)} is not an address")
    try:
        p = ipspace.parse(text, "fix")
    except AddressError as e:
        raise _Problem(str(e)) from None
    if p.family != family:  # ::ffff:a.b.c.d is IPv6, as nft reads it
        raise _Problem(f"{text} is IPv{p.family} where an IPv{family} address belongs")
    return [(p.first, p.last)]


_NUMBER_TOP = {"port": 65535, "proto": 255}


def _number(text: str, kind: str, protocol: str) -> int:
    t = text.lower()
    # 128 bits at most (an IPv6 address, a ct label): 39 decimal or 32 hex digits
    n = int(t) if re.fullmatch(r"[0-9]{1,39}", t) else None
    if n is None and re.fullmatch(r"0x[0-9a-f]{1,32}", t):
        n = int(t, 16)
    if n is not None:
        top = _NUMBER_TOP.get(kind)
        if top is not None and n > top:
            raise _Problem(f"{'port' if kind == 'port' else 'protocol'} {n} is not 0-{top}")
        return n
    if re.fullmatch(r"(0x)?[0-9a-f]+", t):
        raise _Problem(f"a number of {len(t)} digits is too large for nftables")
    if kind == "port":
        if t in _SERVICES:
            return _SERVICES[t]
        try:
            return socket.getservbyname(t, protocol if protocol in ("tcp", "udp") else "tcp")
        except OSError:
            raise _Problem(f"unknown service {text!r}") from None
    if kind == "proto":
        if t in _PROTOCOLS:
            return _PROTOCOLS[t]
        try:
            return socket.getprotobyname(t)
        except OSError:
            raise _Problem(f"unknown protocol {text!r}") from None
    raise _Problem(f"{text!r} is not a number")


def _numbers(v: Value, kind: str, protocol: str) -> tuple[int, int]:
    if isinstance(v, Rng):
        return _number(_text(v.lo), kind, protocol), _number(_text(v.hi), kind, protocol)
    t = _text(v)
    try:
        n = _number(t, kind, protocol)
        return n, n
    except _Problem:
        lo, sep, hi = t.partition("-")
        if not sep:
            raise
        return _number(lo, kind, protocol), _number(hi, kind, protocol)


def _bits(v: Value, names: dict[str, int]) -> int:
    if isinstance(v, Bits):
        out = 0
        for item in v.items:
            out |= _bits(item, names)
        return out
    t = _text(v).lower()
    if t in names:
        return names[t]
    return _number(t, "int", "")


def _bitop(op: str, a: int, b: int) -> int:
    if op == "&":
        return a & b
    if op == "|":
        return a | b
    if op == "^":
        return a ^ b
    return a << b if op == "<<" else a >> b
