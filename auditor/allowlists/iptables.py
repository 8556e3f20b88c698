"""``iptables-save`` / ``ip6tables-save`` exports (and ``iptables-restore`` files): the rules a
new connection to the service meets, evaluated first match, chain by chain, table by table.

What is understood, for a NEW connection to the service (``--service``, default tcp/25) in
the audited chain (``--chain``, default INPUT; FORWARD for a gateway):

- the tables a packet crosses before and around the audited chain, in the kernel's order
  (raw PREROUTING, mangle PREROUTING, nat PREROUTING, mangle INPUT, filter INPUT, security
  INPUT; the FORWARD path likewise): a DROP in any of them stops the packet, an ACCEPT outside
  filter only lets it on to the next table, and a DNAT/REDIRECT sends it elsewhere
  (conditional). Tables absent from the export are taken as empty;
- iptables-restore input: each ``*table`` section replaces that table (iptables-restore
  flushes it), ``:CHAIN`` lines (re-declaring a user chain empties it), ``-N``, ``-P``, ``-A``,
  ``-I [n]``, ``-D`` (by rule or number), ``-R``, ``-F``, ``-X``, ``-E``, rule counters
  (``[p:b] -A ...``, ``-c p b``), long option names, options after the target, ``-4``/``-6``
  (a rule for the other family is skipped, as iptables-restore does), and its quoting
  (double quotes, backslash escapes inside them);
- ``-j ACCEPT``, ``DROP``, ``REJECT``, ``RETURN``, jumps to user chains, ``-g`` (goto: a
  RETURN there returns from the calling chain too); LOG, MARK and other non-terminating
  targets are passed over;
- ``-s``/``! -s`` (comma lists, prefix lengths or netmasks), ``-p``, ``--dport``/``! --dport``
  (``a:b`` ranges), ``-m multiport --dports`` (and ``--ports``, which a source port can also
  match), ``-m iprange --src-range``, ``-m set --match-set NAME src`` (members from an
  ``ipset save`` file given with ``--declared``; without it the rule makes its addresses
  conditional), ``-m conntrack --ctstate`` / ``-m state --state`` (evaluated for NEW),
  ``--syn``, ``--tcp-flags`` and ``-f`` (evaluated for the first packet, a SYN),
  ``-m comment``, ``-m addrtype --dst-type`` on INPUT (a local address is LOCAL, nothing else);
  IPv6 extension-header matches (``-m rt``, ``frag``, ``hbh``, ``dst``, ``ah``) never match
  a plain SYN;
- ``-d`` (and ``--dst-range``, ``--match-set NAME dst``) is evaluated when ``--to ADDRESS`` is
  given, otherwise a rule restricted to some destinations makes its sources conditional;
- ``-i lo`` never matches a connection from another host, and on INPUT ``-o`` never matches
  (there is no output interface yet); any other ``-i``, rate limits, ``recent``, ``time``,
  ``owner`` and modules not listed here make the rule's addresses conditional, named in the
  reasons, never skipped silently.

iptables and ip6tables exports are separate files: a file covers one family (from its
header, else its addresses), and the other family is not covered by it.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from auditor import ipspace
from auditor.allowlists.base import ReadContext, Reader, ReaderError, decode_text, register
from auditor.allowlists.firewall import (
    Claim,
    FirewallResult,
    Outcome,
    RuleRef,
    Segment,
    Stage,
    Verdicts,
    clip,
    combine,
    complement,
    fill_gaps,
    first_claims,
    merge,
    verdicts_rangeset,
)
from auditor.errors import AddressError
from auditor.model import Finding, Origin, RangeSet, Severity, SourceInfo

_BUILTIN_CHAINS = frozenset({"INPUT", "FORWARD", "OUTPUT", "PREROUTING", "POSTROUTING"})
_TERMINAL = {"ACCEPT": "accept", "DROP": "drop", "REJECT": "drop", "RETURN": "return"}
_PASS_OVER = frozenset(
    {"LOG", "NFLOG", "ULOG", "MARK", "CONNMARK", "TRACE", "CT", "AUDIT", "SET",
     "CLASSIFY", "DSCP", "TOS", "TTL", "HL", "TCPMSS", "CHECKSUM", "SECMARK", "CONNSECMARK",
     "IDLETIMER", "LED", "RATEEST", "TEE"}
)  # fmt: skip
# nat targets: SNAT-like ones end the nat chain like ACCEPT (the packet goes on); the others
# rewrite the destination, so the connection may never reach the audited service.
_NAT_ACCEPT = frozenset({"SNAT", "MASQUERADE"})
_BYPASS = frozenset({"DNAT", "REDIRECT", "NETMAP"})
"""A new destination: the chains after it, written for the old one, may never see the packet."""
_REDIRECTS = {
    "DNAT": "the destination is rewritten (DNAT)",
    "REDIRECT": "the destination is rewritten (REDIRECT)",
    "NETMAP": "the destination is rewritten (NETMAP)",
    "TPROXY": "the packet is diverted to a local socket (TPROXY)",
    "NOTRACK": "the connection is not tracked (NOTRACK), so state matches see UNTRACKED",
}
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
_PROTO_NUMBERS = {
    "6": "tcp", "17": "udp", "1": "icmp", "58": "ipv6-icmp", "0": "all", "ip": "all",
    "132": "sctp", "136": "udplite", "47": "gre", "50": "esp", "51": "ah",
}  # fmt: skip
# Protocols a rule may name without touching TCP or UDP traffic (libxtables' names).
_OTHER_PROTOCOLS = frozenset(
    {"icmp", "ipv6-icmp", "icmpv6", "sctp", "udplite", "gre", "esp", "ah", "mh", "ipv6-mh"}
)
_TABLES = ("filter", "nat", "mangle", "raw", "security")
_PRIORITIES = {"raw": -300, "mangle": -150, "nat": -100, "filter": 0, "security": 50}
# The hooks a new inbound connection crosses, in order [netfilter: priorities of raw -300,
# mangle -150, dstnat -100, filter 0, security 50]; nat INPUT and POSTROUTING only rewrite
# sources, which decides nothing here.
_PATHS = {
    "INPUT": (
        ("raw", "PREROUTING"),
        ("mangle", "PREROUTING"),
        ("nat", "PREROUTING"),
        ("mangle", "INPUT"),
        ("filter", "INPUT"),
        ("security", "INPUT"),
    ),
    "FORWARD": (
        ("raw", "PREROUTING"),
        ("mangle", "PREROUTING"),
        ("nat", "PREROUTING"),
        ("mangle", "FORWARD"),
        ("filter", "FORWARD"),
        ("security", "FORWARD"),
        ("mangle", "POSTROUTING"),
    ),
}
# TCP flag bits as libxt_tcp names them; ALL is the six classic flags, as there.
_TCP_FLAGS = {"FIN": 1, "SYN": 2, "RST": 4, "PSH": 8, "ACK": 16, "URG": 32, "ALL": 63, "NONE": 0}
_SYN = 2
_SETTLE_BUDGET = 200_000
"""Claims looked at, per chain, to settle conditional rules that do not matter."""
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


@dataclass(frozen=True)
class Probe:
    protocol: str
    port: int


@dataclass(frozen=True)
class PortTest:
    """``--dport`` / ``--dports`` (``either`` False) or ``--ports`` (source or destination)."""

    ranges: tuple[tuple[int, int], ...]
    negated: bool = False
    either: bool = False


@dataclass
class Rule:
    chain: str
    line: int
    text: str
    target: str | None = None
    goto: bool = False
    target_args: tuple[str, ...] = ()
    protocol: str | None = None
    protocol_negated: bool = False
    sources: list[tuple[int, int]] | None = None
    """None: any source."""
    destinations: list[tuple[int, int]] | None = None
    ports: list[PortTest] = field(default_factory=list)
    new_ok: bool = True
    """False when the rule can never match the first packet of a new connection: a state
    match without NEW, ``! --syn``, ``-f``, ``-i lo``, a destination other than ``--to``."""
    why: list[str] = field(default_factory=list)
    """Conditions the export cannot settle; non-empty makes the rule conditional."""
    family: int | None = None
    """``-4`` / ``-6``: the only family whose restore keeps the rule."""

    @property
    def restricted(self) -> bool:
        """Whether the rule matches only some protocols or ports."""
        return bool(self.ports) or (self.protocol is not None and self.protocol != "all")

    def applies(self, probe: Probe) -> tuple[bool, str]:
        """Whether the rule can match a NEW connection to the probe's port (sources aside),
        and what it then still depends on ("" when nothing)."""
        if not self.new_ok:
            return False, ""
        if probe.protocol == "any":
            return True, ""  # the evaluator tells restricted rules apart (see chain())
        if self.protocol is not None and self.protocol != "all":
            known = self.protocol in _OTHER_PROTOCOLS or self.protocol in ("tcp", "udp")
            same = self.protocol == probe.protocol
            if known and same == self.protocol_negated:
                return False, ""
            # an unknown protocol stays in play: its `why` makes the rule conditional
        depends = ""
        port = probe.port
        for test in self.ports:
            inside = False
            for a, b in test.ranges:
                if a <= port <= b:
                    inside = True
                    break
            if not test.either:
                if inside == test.negated:
                    return False, ""
            elif inside and test.negated:
                return False, ""  # ! --ports: neither port may be in the list
            elif not inside:
                depends = "--ports also matches the client's source port"
        return True, depends

    def key(self) -> tuple[object, ...]:
        """What ``-D CHAIN rule`` compares: the rule's meaning, not its spelling or position."""
        return (
            self.target,
            self.goto,
            self.target_args,
            self.protocol,
            self.protocol_negated,
            self.sources,
            self.destinations,
            self.ports,
            self.new_ok,
            self.why,
            self.family,
        )


@dataclass
class Table:
    chains: dict[str, list[Rule]] = field(default_factory=dict)
    policies: dict[str, tuple[str, int, str]] = field(default_factory=dict)
    """Built-in chain: (policy, line, text)."""


@dataclass
class Ruleset:
    family: int
    tables: dict[str, Table] = field(default_factory=dict)
    unsupported: list[str] = field(default_factory=list)

    @property
    def chains(self) -> dict[str, list[Rule]]:
        """The filter table's chains."""
        return self.tables["filter"].chains if "filter" in self.tables else {}

    @property
    def policies(self) -> dict[str, tuple[str, int, str]]:
        return self.tables["filter"].policies if "filter" in self.tables else {}


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


def sniff(data: bytes) -> bool:
    """An iptables-save export: ``*filter`` or chain lines before anything else."""
    for raw in data[:4096].splitlines():
        line = raw.strip()
        if not line or line.startswith(b"#"):
            continue
        return line.startswith((b"*filter", b"*nat", b"*mangle", b"*raw", b"*security")) or bool(
            re.match(
                rb"^(\[\d+:\d+\] )?(:[A-Za-z_][\w.-]* [A-Z-]+|-[ANP] [A-Za-z_][\w.-]*)( |$)", line
            )
        )
    return False


class _Parser:
    def __init__(self, text: str, ctx: ReadContext) -> None:
        self.ctx = ctx
        self.text = text
        head = text[:300]
        self.family = 6 if "ip6tables" in head else 4 if "iptables" in head else 0
        self.input_path = (ctx.chain or "INPUT") == "INPUT"

    def error(self, line: int, message: str, hint: str | None = None) -> ReaderError:
        return ReaderError(message, source=self.ctx.name, line=line, hint=hint)

    def one_address(self, part: str, line: int) -> ipspace.Parsed:
        """One ``-s``/``-d`` item: an address, ``addr/len`` or ``addr/netmask``, as iptables
        takes them (xtables.c: a dotted or colon mask is a netmask, which must be contiguous
        here: a non-contiguous one is not a CIDR)."""
        addr, slash, mask = part.partition("/")
        if slash and ("." in mask or ":" in mask):
            try:
                fam, value, _ = ipspace.parse_address(mask)
            except AddressError as e:
                raise self.error(line, f"{part!r}: the netmask {mask!r}: {e}") from None
            bits = 32 if fam == 4 else 128
            inverted = ~value & ((1 << bits) - 1)
            if inverted & (inverted + 1):
                raise self.error(
                    line,
                    f"{part!r} has a non-contiguous netmask, which is not a network",
                    hint="this reader evaluates CIDR networks only",
                )
            part = f"{addr}/{bits - inverted.bit_length()}"
        try:
            parsed = ipspace.parse(part, "fix")
        except AddressError as e:
            raise self.error(line, str(e)) from None
        if parsed.mapped and self.family == 6:
            # ip6tables keeps ::ffff:a.b.c.d as an IPv6 address (it never matches on the wire:
            # the kernel drops IPv6 packets from mapped sources, ip6_rcv_core)
            base = 0xFFFF << 32
            return ipspace.Parsed(6, base | parsed.first, base | parsed.last, None, False, False)
        return parsed

    def addresses(self, value: str, line: int) -> list[tuple[int, int]]:
        out = []
        for part in value.split(","):
            parsed = self.one_address(part, line)
            if not self.family:
                self.family = parsed.family
            elif parsed.family != self.family:
                raise self.error(
                    line,
                    f"{part!r} is IPv{parsed.family} in an IPv{self.family} export",
                    hint="iptables-save and ip6tables-save are separate files",
                )
            out.append((parsed.first, parsed.last))
        return merge(out)

    def parse(self) -> Ruleset:
        tables: dict[str, Table] = {}
        unsupported: list[str] = []
        name = "filter"
        table: Table | None = None
        understood = False
        for lineno, raw in enumerate(self.text.split("\n"), 1):
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            if line.startswith("*"):
                name = line[1:].strip()
                # iptables-restore flushes a table when its section starts (no --noflush)
                table = Table() if name in _TABLES else None
                if table is not None:
                    tables[name] = table
                understood = True
                if table is None:
                    unsupported.append(f"{self.ctx.name}:{lineno}: table {name!r} not evaluated")
                continue
            if line == "COMMIT":
                continue
            if table is None:
                if name != "filter" or tables:
                    continue  # a table this reader does not evaluate
                table = tables["filter"] = Table()  # rules before any *table line
            if line.startswith(":"):
                parts = line[1:].split()
                if len(parts) < 2:
                    raise self.error(lineno, f"cannot read the chain line {line!r}")
                # re-declaring a user chain empties it, as iptables-restore does
                table.chains[parts[0]] = [] if parts[1] == "-" else table.chains.get(parts[0], [])
                if parts[1] != "-":
                    table.policies[parts[0]] = (parts[1], lineno, line)
                understood = True
                continue
            tokens = _tokens(line)
            if tokens is None:
                raise self.error(lineno, "a double quote is not closed")
            if tokens and _COUNTERS.fullmatch(tokens[0]):
                tokens = tokens[1:]  # iptables-save -c: [packets:bytes] before the rule
            if tokens and self.command(table, tokens, lineno, line):
                understood = True
            else:
                unsupported.append(f"{self.ctx.name}:{lineno}: {line[:80]!r} not understood")
        if not understood:
            raise self.error(1, "no filter table and no chain: this is not an iptables-save export")
        return Ruleset(self.family or 4, tables, unsupported)

    def command(self, table: Table, tokens: list[str], lineno: int, line: str) -> bool:
        """Apply one command line to the table; False when it is not understood."""
        op, args = tokens[0], tokens[1:]
        chains = table.chains
        if op in ("-A", "--append") and args:
            rule = self.rule(args[0], args[1:], lineno, line)
            if self.keeps(rule):
                chains.setdefault(args[0], []).append(rule)
        elif op in ("-I", "--insert") and args:
            rest, pos = args[1:], 1
            if rest and rest[0].isdigit():
                pos, rest = int(rest[0]), rest[1:]
            rule = self.rule(args[0], rest, lineno, line)
            if self.keeps(rule):
                chains.setdefault(args[0], []).insert(pos - 1, rule)
        elif op in ("-R", "--replace") and len(args) >= 2 and args[1].isdigit():
            rules = chains.get(args[0], [])
            rule = self.rule(args[0], args[2:], lineno, line)
            if not 1 <= int(args[1]) <= len(rules):
                raise self.error(lineno, f"{args[0]} has no rule number {args[1]} to replace")
            if self.keeps(rule):
                rules[int(args[1]) - 1] = rule
        elif op in ("-D", "--delete") and args:
            rules = chains.get(args[0], [])
            if len(args) == 2 and args[1].isdigit():
                index = int(args[1]) - 1
            else:
                key = self.rule(args[0], args[1:], lineno, line).key()
                index = next((k for k, r in enumerate(rules) if r.key() == key), -1)
            if not 0 <= index < len(rules):
                raise self.error(lineno, f"no such rule in {args[0]} to delete")
            del rules[index]
        elif op in ("-N", "--new-chain") and len(args) == 1:
            chains.setdefault(args[0], [])
        elif op in ("-P", "--policy") and len(args) >= 2:
            table.policies[args[0]] = (args[1], lineno, line)
            chains.setdefault(args[0], [])
        elif op in ("-F", "--flush") and len(args) <= 1:
            for name in args or list(chains):
                chains[name] = []
        elif op in ("-X", "--delete-chain") and len(args) <= 1:
            for name in args or [c for c in chains if c not in table.policies]:
                chains.pop(name, None)
        elif op in ("-E", "--rename-chain") and len(args) == 2:
            old, new = args
            if old not in chains:
                raise self.error(lineno, f"no chain {old!r} to rename")
            chains[new] = chains.pop(old)
            for rules in chains.values():
                for r in rules:
                    if r.target == old:
                        r.target = new
        else:
            return False
        return True

    def keeps(self, rule: Rule) -> bool:
        """iptables-restore skips a ``-6`` rule, and ip6tables-restore a ``-4`` one."""
        return rule.family is None or rule.family == (self.family or 4)

    def rule(self, chain: str, args: list[str], lineno: int, text: str) -> Rule:
        simple = self.simple_rule(chain, args, lineno, text)
        if simple is not None:
            return simple
        rule = Rule(chain, lineno, text)
        i = 0
        negate = False
        module = ""
        target_args: list[str] = []

        def value() -> str:
            nonlocal i
            i += 1
            if i >= len(args):
                raise self.error(lineno, f"{args[i - 1]} needs a value")
            return args[i]

        while i < len(args):
            a = args[i]
            if a == "!":
                negate = True
                i += 1
                continue
            if i + 1 < len(args) and args[i + 1] == "!" and a.startswith("-"):
                # old syntax (iptables before 1.4.3): -s ! 10.0.0.0/8
                negate = True
                args = args[: i + 1] + args[i + 2 :]
            if a in ("-p", "--protocol"):
                proto = value().lower()
                rule.protocol = _PROTO_NUMBERS.get(proto, proto)
                rule.protocol_negated = negate
                if rule.protocol not in _OTHER_PROTOCOLS | {"tcp", "udp", "all"}:
                    # a protocol number or name not known here may well be TCP's or UDP's
                    rule.why.append(f"protocol {proto}, which is not evaluated")
            elif a in ("-s", "--source", "--src"):
                src = self.addresses(value(), lineno)
                rule.sources = _and(rule.sources, _not(src, negate, self.bits))
            elif a in ("-d", "--destination", "--dst"):
                dst = self.addresses(value(), lineno)
                rule.destinations = _and(rule.destinations, _not(dst, negate, self.bits))
            elif a in ("-i", "--in-interface"):
                name = value()
                if name == "lo" and not negate:
                    rule.new_ok = False  # loopback: never a connection from another host
                elif not (name == "lo" and negate):
                    rule.why.append(f"the interface is {'not ' if negate else ''}{name}")
            elif a in ("-o", "--out-interface"):
                name = value()
                if not self.input_path or name.endswith("+"):
                    rule.why.append(f"the output interface is {'not ' if negate else ''}{name}")
                elif not negate:
                    rule.new_ok = False  # on INPUT a packet has no output interface
            elif a in ("-f", "--fragment"):
                if not negate:
                    rule.new_ok = False  # later fragments only; a SYN is a first packet
            elif a in ("-4", "--ipv4", "-6", "--ipv6"):
                rule.family = 4 if a in ("-4", "--ipv4") else 6
            elif a in ("-j", "--jump", "-g", "--goto"):
                rule.target = value()
                rule.goto = a in ("-g", "--goto")
                module = ""
            elif a in ("-m", "--match"):
                module = value().lower()
                if module in _CONDITIONAL_MODULES:
                    rule.why.append(f"{_CONDITIONAL_MODULES[module]} (-m {module})")
                elif module in _EXT_HEADER_MODULES and self.family == 6:
                    rule.new_ok = False
                elif module not in _IGNORED_MODULES | _EVALUATED_MODULES:
                    rule.why.append(f"-m {module}, which is not evaluated")
            elif a in ("--dport", "--destination-port", "--dports", "--destination-ports"):
                rule.ports.append(PortTest(_ports(value(), self, lineno), negate))
            elif a == "--ports":
                rule.ports.append(PortTest(_ports(value(), self, lineno), negate, either=True))
            elif a in ("--sport", "--source-port", "--sports", "--source-ports"):
                value()
                rule.why.append("the client's source port")
            elif a == "--syn":
                rule.new_ok = rule.new_ok and not negate
            elif a == "--tcp-flags":
                mask, comp = _flags(value(), self, lineno), _flags(value(), self, lineno)
                if mask > _TCP_FLAGS["ALL"]:
                    rule.why.append("TCP flags beyond the six classic ones (ECN)")
                elif ((_SYN & mask) == comp) == negate:
                    rule.new_ok = False  # never true for the SYN that opens the connection
            elif a in ("--ctstate", "--state"):
                states = {s.upper() for s in value().split(",")}
                rule.new_ok = rule.new_ok and (("NEW" in states) != negate)
            elif a == "--src-range":
                src = self.addresses(_range(value()), lineno)
                rule.sources = _and(rule.sources, _not(src, negate, self.bits))
            elif a == "--dst-range":
                dst = self.addresses(_range(value()), lineno)
                rule.destinations = _and(rule.destinations, _not(dst, negate, self.bits))
            elif a == "--match-set":
                name = value()
                flags = value().split(",")
                self.match_set(rule, name, flags[0], negate, lineno)
            elif a == "--dst-type":
                kinds = {k.upper() for k in value().split(",")}
                if not self.input_path:
                    rule.why.append(f"the destination address type ({','.join(sorted(kinds))})")
                elif ("LOCAL" in kinds) == negate:
                    # on INPUT the destination is this host's address: type LOCAL, which
                    # excludes UNICAST and the rest (xt_addrtype: one route type per address)
                    rule.new_ok = False
            elif a == "--src-type":
                rule.why.append(f"the source address type ({value()})")
            elif a == "--comment":
                value()
            elif a in ("-c", "--set-counters"):
                i += 3
                negate = False
                continue
            elif a.startswith("-") and len(a) > 1:
                if rule.target is not None and (a in _TARGET_VALUES or a in _TARGET_FLAGS):
                    # an option of the target: --reject-with, --log-prefix "-- x" (its value
                    # may start with a dash), --add-set NAME src,dst (two values)
                    target_args.append(a)
                    if a in _TARGET_VALUES:
                        target_args.append(value())
                    while i + 1 < len(args) and not args[i + 1].startswith(("-", "!")):
                        target_args.append(value())
                elif module in _CONDITIONAL_MODULES or (module in _EXT_HEADER_MODULES):
                    if i + 1 < len(args) and not args[i + 1].startswith("-"):
                        i += 1  # the rule is already conditional (or never matches)
                elif a not in ("--icmp-type", "--icmpv6-type"):
                    if i + 1 < len(args) and not args[i + 1].startswith("-"):
                        rule.why.append(f"{a} {args[i + 1]}")
                        i += 1
                    else:
                        rule.why.append(a)
                elif i + 1 < len(args):
                    i += 1
            else:
                raise self.error(lineno, f"unexpected {a!r} in the rule")
            negate = False
            i += 1
        rule.target_args = tuple(target_args)
        if rule.destinations is not None:
            if not self.to_known():
                rule.why.append(
                    f"the destination address (give --to with the server's IPv{self.bits_family}"
                    " address to evaluate it)"
                )
            elif not self.to_inside(rule.destinations):
                rule.new_ok = False  # never matches traffic to --to
        return rule

    def to_known(self) -> bool:
        """Whether ``--to`` says where this export's connections go: given, and of its family
        (an IPv6 --to says nothing about the IPv4 address of the server)."""
        if self.ctx.to is None:
            return False
        fam, _, _ = ipspace.parse_address(self.ctx.to)
        return fam == self.bits_family

    def to_inside(self, intervals: Sequence[tuple[int, int]]) -> bool:
        """Whether ``--to`` (given) is inside the intervals."""
        fam, to, _ = ipspace.parse_address(self.ctx.to or "")
        return fam == self.bits_family and any(a <= to <= b for a, b in intervals)

    def simple_rule(self, chain: str, args: list[str], lineno: int, text: str) -> Rule | None:
        """The common shape ``[-s ADDR] [-p tcp|udp] [-m tcp|udp] [--dport N] -j TARGET``
        read without the general option walk (big exports are mostly this); None for
        anything else."""
        n = len(args)
        if n % 2 or n < 2 or args[-2] != "-j" or "!" in args:
            return None
        rule = Rule(chain, lineno, text, target=args[-1])
        for k in range(0, n - 2, 2):
            opt, val = args[k], args[k + 1]
            if opt == "-s" and rule.sources is None and "/" in val and "," not in val:
                parsed = self.one_address(val, lineno)
                if parsed.family != (self.family or parsed.family):
                    return None  # the general path reports it
                self.family = parsed.family
                rule.sources = [(parsed.first, parsed.last)]
            elif opt == "-p" and rule.protocol is None and val in ("tcp", "udp", "all"):
                rule.protocol = val
            elif opt == "-m" and val in ("tcp", "udp"):
                continue
            elif opt == "--dport" and not rule.ports and val.isdigit():
                rule.ports = [PortTest(((int(val), int(val)),))]
            else:
                return None
        return rule

    @property
    def bits(self) -> int:
        return 128 if self.family == 6 else 32

    @property
    def bits_family(self) -> int:
        return self.family or 4

    def match_set(self, rule: Rule, name: str, direction: str, negate: bool, lineno: int) -> None:
        members = self.ctx.sets.get(name)
        if members is None:
            rule.why.append(
                f"ipset {name} (its members were not given: add the `ipset save` output"
                " with --declared)"
            )
            return
        inside = merge([(a, b) for f, a, b in members if f == self.bits_family])
        if direction == "src":
            rule.sources = _and(rule.sources, _not(inside, negate, self.bits))
        elif direction == "dst" and self.to_known():
            if self.to_inside(inside) == negate:
                rule.new_ok = False
        else:
            rule.why.append(f"ipset {name} on the {direction} address")


def _range(text: str) -> str:
    lo, _, hi = text.partition("-")
    return f"{lo}-{hi}"


def _ports(text: str, parser: _Parser, line: int) -> tuple[tuple[int, int], ...]:
    out = []
    for part in text.split(","):
        lo, sep, hi = part.partition(":")
        try:
            a = int(lo) if lo else 0
            b = int(hi) if sep and hi else (65535 if sep else a)
        except ValueError:
            raise parser.error(
                line, f"cannot read the port {part!r}", hint="a number, or a:b"
            ) from None
        out.append((a, b))
    return tuple(out)


def _flags(text: str, parser: _Parser, line: int) -> int:
    bits = 0
    for name in text.upper().split(","):
        if name not in _TCP_FLAGS:
            if name in ("ECE", "CWR"):
                return 255
            raise parser.error(line, f"unknown TCP flag {name!r}")
        bits |= _TCP_FLAGS[name]
    return bits


def _minus(a: list[tuple[int, int]], b: list[tuple[int, int]]) -> list[tuple[int, int]]:
    ia = ipspace.Intervals([x for x, _ in a], [y for _, y in a])
    ib = ipspace.Intervals([x for x, _ in b], [y for _, y in b])
    starts, ends = ipspace.as_lists(ipspace.difference(ia, ib))
    return list(zip(starts, ends, strict=True))


def _not(intervals: list[tuple[int, int]], negate: bool, bits: int) -> list[tuple[int, int]]:
    return complement(intervals, bits) if negate else intervals


def _and(a: list[tuple[int, int]] | None, b: list[tuple[int, int]]) -> list[tuple[int, int]]:
    if a is None:
        return b
    ia = ipspace.Intervals([x for x, _ in a], [y for _, y in a])
    ib = ipspace.Intervals([x for x, _ in b], [y for _, y in b])
    starts, ends = ipspace.as_lists(ipspace.intersection(ia, ib))
    return list(zip(starts, ends, strict=True))


class _Evaluator:
    """One table's chains for one probe."""

    def __init__(
        self,
        ruleset: Ruleset,
        table: str,
        ctx: ReadContext,
        probe: Probe,
        bypass: list[tuple[int, int]] | None = None,
    ) -> None:
        self.table_name = table
        self.table = ruleset.tables[table]
        self.ctx = ctx
        self.probe = probe
        self.bits = 128 if ruleset.family == 6 else 32
        self.memo: dict[str, list[Segment]] = {}
        self.stack: list[str] = []
        self.refs: dict[tuple[int, str], RuleRef] = {}
        self.bypass = bypass if bypass is not None else []
        """Sources of rules that give the packet a new destination (DNAT): when such a rule
        may match, the tables after this one may never see the packet."""

    def ref(self, rule: Rule, why: str = "") -> RuleRef:
        key = (id(rule), why)
        ref = self.refs.get(key)
        if ref is None:
            ref = self.refs[key] = RuleRef(Origin(self.ctx.name, rule.line), rule.text, why)
        return ref

    def partial_traffic(
        self,
        rule: Rule,
        order: int,
        sources: Sequence[tuple[int, int]],
        why: str,
        claims: list[Claim],
    ) -> None:
        """A rule for some protocols or ports, under --service any: a drop denies the
        service; an accept or a RETURN grants nothing (the address goes on); a jump sends part
        of the traffic elsewhere, which is not followed: conditional."""
        target = rule.target
        if target is not None and target not in _TERMINAL and target in self.table.chains:
            text = f"part of the traffic (its protocol or ports) goes to chain {target}"
            claims.append(Claim(order, sources, "conditional", self.ref(rule, text)))
            return
        outcome, reason = self.verdict(rule)
        if outcome in ("drop", "conditional"):
            text = "; ".join(w for w in (why, reason) if w)
            if outcome == "drop" and not text:
                claims.append(Claim(order, sources, "drop", self.ref(rule)))
            else:
                claims.append(Claim(order, sources, "conditional", self.ref(rule, text)))

    def verdict(self, rule: Rule) -> tuple[Outcome | None, str]:
        """What the rule's target does to a packet it matches here: an outcome and, for a
        conditional one, why; None for targets that go on to the next rule."""
        target = rule.target
        if target is None:
            return None, ""
        if target in _TERMINAL:
            return _TERMINAL[target], ""  # type: ignore[return-value]
        if self.table_name == "nat" and target in _NAT_ACCEPT:
            return "accept", ""
        if target in _REDIRECTS:
            return "conditional", _REDIRECTS[target]
        if target == "CT" and "--notrack" in rule.target_args:
            return "conditional", _REDIRECTS["NOTRACK"]
        if target in _PASS_OVER:
            return None, ""
        return "conditional", f"target {target} is not evaluated"

    def chain(self, name: str) -> list[Segment]:
        """The chain's outcome per source address; unclaimed addresses are left out (they
        fall off the end of the chain)."""
        if name in self.memo:
            return self.memo[name]
        if name in self.stack:
            raise ReaderError(
                f"chain loop: {' -> '.join((*self.stack, name))}", source=self.ctx.name
            )
        self.stack.append(name)
        claims: list[Claim] = []
        maybe: list[tuple[int, Rule, Outcome]] = []
        """Conditional claims (index in claims) with the outcome they have when they match."""
        full = [(0, (1 << self.bits) - 1)]
        chains = self.table.chains
        for order, rule in enumerate(chains.get(name, ())):
            can, depends = rule.applies(self.probe)
            if not can:
                continue
            sources = rule.sources if rule.sources is not None else full
            if not sources:
                continue
            why = "; ".join([*rule.why, depends] if depends else rule.why)
            target = rule.target
            if self.probe.protocol == "any" and rule.restricted:
                # --service any: only part of the traffic matches this rule, so it can deny
                # the service but never grant all of it
                self.partial_traffic(rule, order, sources, why, claims)
                continue
            if target is not None and target not in _TERMINAL and target in chains:
                sub = clip(self.chain(target), sources)
                if why and not rule.goto:
                    # the jump may or may not happen: what the chain decides becomes
                    # conditional; what it RETURNs or leaves undecided goes on here either way
                    for s in sub:
                        if s.outcome != "return":
                            if s.outcome != "conditional":
                                maybe.append((len(claims), rule, s.outcome))
                            claims.append(
                                Claim(
                                    order, [(s.first, s.last)], "conditional", self.ref(rule, why)
                                )
                            )
                elif why:
                    claims.append(Claim(order, sources, "conditional", self.ref(rule, why)))
                elif rule.goto:
                    # the goto'ed chain decides first; what falls off its end, or RETURNs
                    # there, returns from this chain too
                    claims.extend(Claim(order, [(s.first, s.last)], s.outcome, s.rule) for s in sub)
                    claims.append(Claim(order + 0.5, sources, "return", self.ref(rule)))
                else:
                    claims.extend(
                        Claim(order, [(s.first, s.last)], s.outcome, s.rule)
                        for s in sub
                        if s.outcome != "return"
                    )
                continue
            outcome, reason = self.verdict(rule)
            if outcome is None:
                continue  # a rule that goes on decides nothing, whether it matches or not
            if why or reason:
                if not reason:
                    maybe.append((len(claims), rule, outcome))
                text = "; ".join(w for w in (why, reason) if w)
                claims.append(Claim(order, sources, "conditional", self.ref(rule, text)))
                if target in _BYPASS:
                    self.bypass.extend(sources)
            else:
                claims.append(Claim(order, sources, outcome, self.ref(rule)))
        self.stack.pop()
        if maybe:
            claims = self.settle(name, claims, maybe)
        result = first_claims(claims)
        self.memo[name] = result
        return result

    def settle(
        self, name: str, claims: list[Claim], maybe: list[tuple[int, Rule, Outcome]]
    ) -> list[Claim]:
        """Conditional claims that do not matter: where the rest of the chain gives the same
        outcome as the rule when it matches (a conditional RETURN above the chain's end, a
        conditional ACCEPT above an ACCEPT policy), the address is decided either way.

        From the last such claim up, each is compared with the first match among the claims
        below it; the work is capped (:data:`_SETTLE_BUDGET` claims looked at), past which
        the remaining ones simply stay conditional.
        """
        policy = self.table.policies.get(name)
        # falling off the end (or RETURN) goes back to the caller, or in a built-in chain to
        # its policy
        end: Outcome = "return"
        if policy is not None:
            end = "accept" if policy[0] == "ACCEPT" else "drop"

        def same(a: Outcome, b: Outcome) -> bool:
            return (end if a == "return" else a) == (end if b == "return" else b)

        out = list(claims)  # in rule order, as they were made
        orders = [c.order for c in claims]
        left_over: list[Claim] = []
        budget = _SETTLE_BUDGET
        for index, rule, outcome in reversed(maybe):
            claim = out[index]
            budget -= len(out) - index
            if budget < 0:
                break
            later = out[bisect.bisect_right(orders, claim.order) :]
            later.extend(c for c in left_over if c.order > claim.order)
            rest = fill_gaps(first_claims(later), self.bits, "return", claim.rule)
            settled = merge(
                [(s.first, s.last) for s in clip(rest, claim.intervals) if same(s.outcome, outcome)]
            )
            if not settled:
                continue
            out[index] = Claim(claim.order, settled, outcome, self.ref(rule))
            left = _minus(list(claim.intervals), settled)
            if left:
                left_over.append(Claim(claim.order, left, "conditional", claim.rule))
        return out + left_over

    def builtin(self, name: str) -> list[Segment]:
        """The built-in chain with its policy filling what no rule decided."""
        where = f"{self.table_name} " if self.table_name != "filter" else ""
        decided = [s for s in self.chain(name) if s.outcome != "return"]
        if name not in _BUILTIN_CHAINS and name not in self.table.policies:
            # a user chain audited on its own (ufw's user.rules: --chain ufw-user-input) has no
            # policy: what falls off its end is decided by the chains that call it, not shown
            ref = RuleRef(
                Origin(self.ctx.name),
                f"end of {where}{name}",
                "the calling chain decides (a user chain has no policy)",
            )
            return fill_gaps(decided, self.bits, "conditional", ref)
        policy, line, _ = self.table.policies.get(name, ("ACCEPT", 0, ""))
        outcome: Outcome = "accept" if policy == "ACCEPT" else "drop"
        ref = RuleRef(Origin(self.ctx.name, line or None), f"policy {policy} of {where}{name}")
        return fill_gaps(decided, self.bits, outcome, ref)


def probes(ctx: ReadContext, ruleset: Ruleset | None = None) -> list[Probe]:
    """One probe per port class of the service: ports no rule tells apart share a verdict, so
    a range is probed at its ends and wherever a rule's port range starts or ends inside it."""
    service = ctx.service
    if service is None:
        return [Probe("tcp", 25)]
    if service.protocol == "any":
        return [Probe("any", 0)]
    edges: set[int] = set()
    if ruleset is not None and any(a != b for a, b in service.ports):
        for table in ruleset.tables.values():
            for rules in table.chains.values():
                for rule in rules:
                    for test in rule.ports:
                        for a, b in test.ranges:
                            edges.update((a, b + 1))
    out: list[Probe] = []
    for a, b in service.ports:
        ports = {a, b} | {p for p in edges if a < p <= b}
        out.extend(Probe(service.protocol, p) for p in sorted(ports))
    return out


def _sequence(
    stages: Sequence[list[Segment]], main: list[Segment], bits: int, bypass: list[tuple[int, int]]
) -> list[Segment]:
    """Tables one after the other, each covering every address: per address the first drop
    decides; else the first conditional (a later drop still wins, unless a rule that rewrites
    the destination may match the address: the later tables may then never see it); else the
    audited chain's accepting rule."""
    if len(stages) == 1:
        return main
    redirected = merge(bypass)
    points = sorted(
        {0, 1 << bits}
        | {p for segs in stages for s in segs for p in (s.first, s.last + 1)}
        | {p for a, b in redirected for p in (a, b + 1)}
    )
    index = [0] * len(stages)
    r = 0
    out: list[Segment] = []
    for a, nxt in zip(points, points[1:], strict=False):
        while r < len(redirected) and redirected[r][1] < a:
            r += 1
        may_redirect = r < len(redirected) and redirected[r][0] <= a
        decided: Segment | None = None
        for k, segs in enumerate(stages):
            while segs[index[k]].last < a:
                index[k] += 1
            seg = segs[index[k]]
            if seg.outcome == "drop":
                decided = seg
                break
            if seg.outcome == "conditional":
                decided = decided or seg
                if may_redirect:
                    break
        pieces = (
            clip(main, [(a, nxt - 1)])
            if decided is None
            else [Segment(a, nxt - 1, decided.outcome, decided.rule)]
        )
        for piece in pieces:
            last = out[-1] if out else None
            if (
                last
                and last.last == piece.first - 1
                and last.rule is piece.rule
                and last.outcome == piece.outcome
            ):
                out[-1] = Segment(last.first, piece.last, piece.outcome, piece.rule)
            else:
                out.append(piece)
    return out


@register
class IptablesReader(Reader):
    name = "iptables-save"
    description = (
        "iptables-save / ip6tables-save export: every table a connection crosses, first match"
    )
    suffixes = (".ipt", ".iptables", ".v4", ".v6")
    ruleset = True

    @staticmethod
    def sniff(data: bytes) -> bool:
        return sniff(data)

    def parse(self, data: bytes, ctx: ReadContext) -> RangeSet:
        text = decode_text(data, ctx)
        ruleset = _Parser(text, ctx).parse()
        chain = ctx.chain or "INPUT"
        if chain not in ruleset.chains and chain not in ruleset.policies:
            raise ReaderError(
                f"the export has no {chain} chain in the filter table",
                source=ctx.name,
                hint="choose the chain with --chain (INPUT for this host, FORWARD for a gateway)",
            )
        bits = 128 if ruleset.family == 6 else 32
        path = [
            (table, name)
            for table, name in _PATHS.get(chain, (("filter", chain),))
            if table in ruleset.tables and name in ruleset.tables[table].chains
        ]
        per_probe = []
        per_stage: list[list[list[Segment]]] = [[] for _ in path]
        for probe in probes(ctx, ruleset):
            bypass: list[tuple[int, int]] = []
            stages = [_Evaluator(ruleset, t, ctx, probe, bypass).builtin(n) for t, n in path]
            main = stages[path.index(("filter", chain))]
            per_probe.append(_sequence(stages, main, bits, bypass))
            for k, segs in enumerate(stages):
                per_stage[k].append(segs)
        segments = combine(per_probe, bits)
        placed = tuple(
            Stage(
                "iptables",
                t,
                n,
                n.lower() if n in _BUILTIN_CHAINS else "",
                _PRIORITIES[t],
                "nat" if t == "nat" else "filter",
                tuple(combine(per_stage[k], bits)),
            )
            for k, (t, n) in enumerate(path)
        )
        info = SourceInfo.for_bytes(ctx.name, ctx.role, self.name, data, ctx.now)
        other = 6 if ruleset.family == 4 else 4
        findings = [
            Finding(
                "family-not-covered",
                Severity.INFO,
                f"this export covers IPv{ruleset.family} only; IPv{other} needs its own"
                f" ({'iptables' if other == 4 else 'ip6tables'}-save)",
                Origin(ctx.name),
            )
        ]
        result = FirewallResult(
            info, [Verdicts(ruleset.family, tuple(segments), placed)], findings, ruleset.unsupported
        )
        return verdicts_rangeset(result)
