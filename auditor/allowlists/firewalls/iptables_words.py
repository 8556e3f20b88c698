"""The words of an ``iptables-save`` export: iptables-restore's quoting, which kind of export
it is (iptables or ip6tables), and the tables of match modules and targets the parser knows.
"""

from __future__ import annotations

import re

_CONDITIONAL_MODULES = {
    "limit": "a rate limit",
    "hashlimit": "a rate limit",
    "recent": "recent connections",
    "time": "the time of day",
    "owner": "the local user",
    "connlimit": "the number of connections",
    "string": "the packet's content",
    "mark": "a packet mark",
    "connmark": "a connection mark",
    "physdev": "a bridge port",
    "mac": "the source MAC address",
    "u32": "raw packet bytes",
    "bpf": "a BPF program",
    "geoip": "a GeoIP database",
    "policy": "IPsec policy",
    "socket": "a local socket",
    "statistic": "a random or periodic match",
    "length": "the packet length",
    "ttl": "the TTL",
    "hl": "the hop limit",
    "dscp": "the DSCP field",
    "tos": "the TOS field",
    "rpfilter": "reverse-path filtering",
    "ipv6header": "the IPv6 extension headers",
}
_IGNORED_MODULES = frozenset({"tcp", "udp", "comment", "icmp", "icmp6", "icmpv6"})
_EVALUATED_MODULES = frozenset({"multiport", "iprange", "set", "conntrack", "state", "addrtype"})
# IPv6 extension headers a plain TCP SYN does not carry; their matches return false when the
# header is absent, whatever the inversion flags (net/ipv6/netfilter/ip6t_rt.c, ip6t_frag.c,
# ip6t_hbh.c, ip6t_ah.c).
_EXT_HEADER_MODULES = frozenset({"rt", "frag", "hbh", "dst", "ah"})
# Options only ip6tables (6) or only iptables (4) takes: they tell the kind of a file that has
# no header comment.
_FAMILY_MARKS = (
    (6, re.compile(
        r"(?m)(?:^|\s)(?:--icmpv6-type|-m\s+(?:rt|frag|hbh|dst|mh|ipv6header|eui64|hl|srh)\b"
        r"|-j\s+HL\b|-p\s+(?:ipv6-icmp|icmpv6)\b|--reject-with\s+icmp6-)"
    )),
    (4, re.compile(
        r"(?m)(?:^|\s)(?:--icmp-type|-m\s+ttl\b|-j\s+TTL\b|--reject-with\s+icmp-)"
    )),
)  # fmt: skip
_PROTO_NUMBERS = {
    "6": "tcp", "17": "udp", "1": "icmp", "58": "ipv6-icmp", "0": "all", "ip": "all",
    "132": "sctp", "136": "udplite", "47": "gre", "50": "esp", "51": "ah",
}  # fmt: skip
_TABLES = ("filter", "nat", "mangle", "raw", "security")
# TCP flag bits as libxt_tcp names them; ALL is the six classic flags, as there.
_TCP_FLAGS = {"FIN": 1, "SYN": 2, "RST": 4, "PSH": 8, "ACK": 16, "URG": 32, "ALL": 63, "NONE": 0}
_SYN = 2
# Options of targets: flags, and options that take a value. They decide nothing about who may
# connect; any other option is read as a match option (unknown ones make the rule conditional).
_TARGET_FLAGS = frozenset(
    {"--log-tcp-sequence", "--log-tcp-options", "--log-ip-options", "--log-uid",
     "--log-macdecode", "--random", "--random-fully", "--persistent", "--notrack",
     "--queue-bypass", "--fail-open", "--clamp-mss-to-pmtu", "--exist", "--save-mark",
     "--restore-mark", "--checksum-fill"}
)  # fmt: skip
_TARGET_VALUES = frozenset(
    {"--reject-with", "--log-prefix", "--log-level", "--nflog-group", "--nflog-prefix",
     "--nflog-range", "--nflog-size", "--nflog-threshold", "--set-mark", "--set-xmark",
     "--and-mark", "--or-mark", "--xor-mark", "--to-destination", "--to-source",
     "--to-ports", "--to", "--zone", "--helper", "--ctevents", "--expevents", "--queue-num",
     "--queue-balance", "--on-port", "--on-ip", "--tproxy-mark", "--set-class", "--set-dscp",
     "--set-dscp-class", "--set-tos", "--set-mss", "--add-set", "--del-set", "--timeout",
     "--ttl-set", "--ttl-dec", "--ttl-inc", "--hl-set", "--hl-dec", "--hl-inc", "--gateway",
     "--selctx", "--mask", "--nfmask", "--ctmask", "--ulog-prefix", "--ulog-nlgroup"}
)  # fmt: skip


_SIMPLE_QUOTES = re.compile(r'"([^"\\]*)"|([^\s"]+)')
_QUOTED_WORD = re.compile(r'(?:^|(?<=\s))"[^"]*"(?=\s|$)')
_COUNTERS = re.compile(r"\[\d+:\d+\]")


def _tokens(line: str) -> list[str] | None:
    """The words of a rule line as iptables-restore splits them (xshared.c add_param_to_argv):
    blanks separate words; double quotes group, and inside them a backslash escapes the next
    character; a single quote is an ordinary character. None: a quote is left open."""
    if '"' not in line:
        return line.split()
    if "\\" not in line and '"' not in _QUOTED_WORD.sub(" ", line):
        # every quote pairs up around a whole word: the common case, split by one regex
        return [q if w == "" else w for q, w in _SIMPLE_QUOTES.findall(line)]
    out: list[str] = []
    buf: list[str] = []
    quoted = escaped = False
    for ch in line:
        if quoted:
            if escaped:
                buf.append(ch)
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                quoted = False
                out.append("".join(buf))  # a closing quote ends the word
                buf = []
            else:
                buf.append(ch)
        elif ch == '"':
            quoted = True
        elif ch in " \t\n":
            if buf:
                out.append("".join(buf))
                buf = []
        else:
            buf.append(ch)
    if quoted:
        return None
    if buf:
        out.append("".join(buf))
    return out


def _kind(text: str) -> int:
    """Whether the text is an ip6tables (6) or iptables (4) export, from its header comment
    or the options only one of them takes; 0 when neither tells."""
    for raw in text[:4096].split("\n"):
        line = raw.strip()
        if line and not line.startswith("#"):
            break
        if "ip6tables" in line:
            return 6
        if "iptables" in line:
            return 4
    found = {family for family, mark in _FAMILY_MARKS if mark.search(text)}
    return found.pop() if len(found) == 1 else 0
