"""nftables rulesets, as ``nft list ruleset`` text (or a file for ``nft -f``) and as
``nft -j list ruleset`` JSON: the base chains a NEW connection to the service passes, first match.

The question is the one the iptables reader answers ("which sources can open a connection to
``--service``"), asked of nftables' model [nft(8), CHAINS and STATEMENTS; wiki.nftables.org,
"Netfilter hooks" and "Configuring chains"]:

- Tables of family ``inet`` see IPv4 and IPv6, ``ip`` only IPv4, ``ip6`` only IPv6. Chains of
  ``arp`` tables never see IP traffic and are not evaluated.
- A packet for this host passes every base chain registered on its path: ``ingress`` (netdev, or
  inet with a device), ``prerouting``, then ``input`` (``forward`` with ``--chain FORWARD``), in
  priority order within a hook. ``accept`` ends only the chain it is in; the packet goes on to the
  next base chain, and a ``drop`` in any of them is final. So the verdicts of the base chains are
  combined as "accepted only if every one accepts": a drop anywhere wins, then conditional
  (:func:`auditor.allowlists.firewall.combine`). A chain bound to a device (``ingress``) or a
  bridge (``bridge`` family) only sees packets arriving there, which the export does not say:
  what it drops is conditional, never a definite drop.
- In a chain the first rule that decides wins; ``jump`` returns to the next rule when the called
  chain falls off its end or says ``return``; ``goto`` does not come back (a ``return`` there, or
  its end, returns from the chain that jumped); the end of a base chain applies its ``policy``
  (``accept`` when none is given) [nft(8), VERDICT STATEMENT].
- Per rule, every match narrows the sources, for each probe (protocol, port) of the service:
  ``ip saddr``/``ip6 saddr`` with addresses, prefixes, ranges, anonymous sets, named sets
  (``@name``, with their ``elements``), ``!=``, ``<``/``>``; ``tcp``/``udp``/``sctp``/``th dport``,
  ``meta l4proto``, ``ip protocol``, ``ip6 nexthdr`` (numbers, names, ranges, sets); ``meta
  nfproto``; ``ct state`` (a NEW connection: ``established,related`` never matches, ``new``
  does, ``invalid`` does not); ``tcp flags`` (the first packet carries SYN alone); ``meta
  pkttype`` (``host``) and ``fib daddr type`` (``local`` on input, ``unicast`` on forward).
  Concatenations (``ip saddr . tcp dport @set``) and verdict maps (``vmap``) are evaluated when
  their keys are: a key on the source address, or on something known for the probe (``ct
  state``, ``meta nfproto``, ``tcp dport``). A payload match implies its protocol, as in nft:
  ``tcp dport != 22`` never matches UDP, ``ip saddr`` never matches IPv6 [nft(8), PAYLOAD
  EXPRESSION, "dependencies"].
- Source ports (``tcp``/``udp``/``th sport``, ``ct original proto-src``, also in sets,
  concatenations and verdict maps) are read as iptables' ``--sport``: a client connects from an
  unprivileged port (1024-65535) its system picks, so a match no such port meets never matches
  (``tcp sport 25 accept`` grants nothing), one every such port meets always does, and any
  other makes the rule conditional.
- ``iif lo`` / ``iifname "lo"`` never matches a connection from another host; on the input hook
  a packet has no output interface, so ``oif``/``oifname`` never match there.
- ``ip daddr`` is evaluated with ``--to``; without it a rule restricted to some destinations makes
  its sources conditional.
- Conditional (the rule's sources are neither allowed nor denied, and named in the reasons): any
  other interface, rate limits (``limit``, ``quota``, ``ct count``, meters), marks,
  times, sockets, ``fib`` lookups other than the destination type, sets filled at run time (``flags
  dynamic``, or the target of ``add @set``/``update @set``), ``queue``, NAT statements,
  ``notrack``, and anything the reader does not understand, which is also reported as
  "unsupported" with its file and line. A conditional rule whose verdict equals what the rest of
  the chain decides anyway (``limit ... reject`` before ``policy drop``) decides nothing new, and
  those addresses keep the definite verdict.
- ``include`` is not followed: the result is partial, with the include named.
- ``--service any`` asks whether a source may open every connection, any protocol and port. A
  rule whose matches say nothing of the protocol or port (no ``tcp dport``, ``th dport``, ``meta
  l4proto``, ``ip protocol``, ``icmp type``, ...) is evaluated as for any service. A rule
  restricted to some protocols or ports holds for a source when it holds for some of them: if it
  drops or rejects, part of "any" is refused and the source is denied; if it accepts, that is not
  every connection, and the source goes on to the next rule as if the rule were not there. A
  ``jump`` of restricted traffic denies where the called chain drops and grants nothing where it
  accepts (its ``return`` goes on to the next rule); what restricted traffic returns from a chain
  (``return``, or the end of a ``goto``) meets the policy in a base chain and is conditional in
  any other chain. ``tcp flags`` keep their first-packet value (SYN) and ``ct state`` its NEW
  semantics. Never a false allow; a rule pair that covers every protocol in pieces (``tcp dport
  25 accept`` then ``tcp dport 25 drop``) may read as a deny.

The families the result speaks for (``RangeSet.families``) are those an ``ip``, ``ip6`` or
``inet`` table filters on the audited hook: a file with only ``table ip filter`` says nothing
about IPv6, which the audit then reports as unknown rather than denied (nothing in the file
stops IPv6, but the file may not be the whole ruleset). ``--chain`` also takes one chain by name
(``NAME``, ``TABLE NAME`` or ``FAMILY TABLE NAME``), evaluated alone: its policy if it is a base
chain, else falling off its end lets the packet go on.

A file for ``nft -f`` is read in order: ``define``/``$name``, ``flush ruleset``, ``table``/``chain``
blocks, ``add``/``insert``/``create`` commands, ``add element``, ``flush``/``delete`` of tables and
chains. The JSON reader takes ``nft -j list ruleset`` output (and ``add``/``insert``/``flush``
command objects); nft 1.0 writes an anonymous chain (``jump { ... }``) in JSON as its text, which
is read with the text parser.
"""

from __future__ import annotations

import json
import re
import socket
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal, NamedTuple, TypeAlias

from auditor import ipspace
from auditor.allowlists.base import ReadContext, Reader, ReaderError, decode_text
from auditor.allowlists.firewall import (
    Claim,
    FirewallResult,
    Outcome,
    RuleRef,
    Segment,
    Stage,
    Verdicts,
    client_ports,
    clip,
    combine,
    complement,
    first_claims,
    merge,
    verdicts_rangeset,
)
from auditor.errors import AddressError
from auditor.jsonutil import StrictJsonError, loads_strict
from auditor.model import Completeness, Entry, Finding, Origin, RangeSet, Severity, SourceInfo

FAMILIES = frozenset({"ip", "ip6", "inet", "arp", "bridge", "netdev"})

# Standard priority names [nft(8), CHAINS, table "Standard priority names"].
_PRIORITY = {
    "raw": -300,
    "mangle": -150,
    "dstnat": -100,
    "filter": 0,
    "security": 50,
    "srcnat": 100,
}
_BRIDGE_PRIORITY = {"dstnat": -300, "filter": -200, "out": 100, "srcnat": 300}
_HOOK_RANK = {"ingress": 0, "prerouting": 1, "input": 2, "forward": 2}

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
# Headers of protocols a TCP or UDP probe never carries: a match on them never matches.
_OTHER_L4 = frozenset(
    {"icmp", "icmpv6", "igmp", "ah", "esp", "comp", "gre", "gretap", "geneve", "vxlan", "arp"}
)
_IP6_EXTHDRS = frozenset({"hbh", "rt0", "rt2", "rt4", "srh", "frag", "dst", "mh", "exthdr"})
_META_BARE = frozenset(
    {"iif", "iifname", "oif", "oifname", "iiftype", "oiftype", "iifgroup", "oifgroup", "mark",
     "skuid", "skgid", "nfproto", "l4proto", "pkttype", "cpu", "cgroup", "rtclassid", "ibrname",
     "obrname", "ibriport", "obriport", "ibrpvid", "ibrvproto", "priority", "nftrace", "time",
     "day", "hour", "random", "ipsec", "secmark", "length", "sdif", "sdifname", "iifkind",
     "oifkind", "broute"}
)  # fmt: skip
_UNKNOWN_WHY = {
    "mark": "a packet mark",
    "skuid": "the local socket's user",
    "skgid": "the local socket's group",
    "cpu": "the CPU",
    "cgroup": "the control group",
    "time": "the time",
    "day": "the day of the week",
    "hour": "the time of day",
    "random": "a random number",
    "priority": "the packet priority",
    "secmark": "a security mark",
    "ipsec": "IPsec processing",
    "length": "the packet length",
    "iifgroup": "the input interface group",
    "oifgroup": "the output interface group",
    "nftrace": "packet tracing",
}
_OUTCOMES: dict[str, Outcome] = {
    "accept": "accept",
    "drop": "drop",
    "reject": "drop",
    "return": "return",
}
_ROUTING_INFO = frozenset({"classid", "nexthop", "mtu", "ipsec"})
"""``rt`` keys of routing information [nft(8), ROUTING EXPRESSIONS]; other ``rt`` fields are
the IPv6 routing header's."""
_MAX_SETTLED = 256
"""Conditional rules per chain checked against the rest of the chain; past that, left open."""
_SET_STATEMENTS = frozenset({"add", "update", "delete"})
_NAT = frozenset({"dnat", "snat", "masquerade", "redirect", "tproxy"})


# --- what a ruleset says: values, expressions, statements ---------------------------------------


@dataclass(frozen=True)
class Val:
    """One literal as written: an address, prefix, ``a-b`` range, number, name or string."""

    text: str
    quoted: bool = False


@dataclass(frozen=True)
class Rng:
    lo: Value
    hi: Value


@dataclass(frozen=True)
class Pfx:
    addr: str
    length: int


@dataclass(frozen=True)
class Cat:
    """A concatenated value, ``192.0.2.1 . 22``."""

    parts: tuple[Value, ...]


@dataclass(frozen=True)
class Bits:
    """Flags or'ed together: ``established,related`` or ``syn | ack``."""

    items: tuple[Value, ...]


@dataclass(frozen=True)
class Masked:
    """``syn / fin,syn,rst,ack``: the value under a mask."""

    value: Value
    mask: Value


@dataclass(frozen=True)
class Verdict:
    kind: str
    """accept, drop, reject, return, continue, jump, goto."""
    target: str | None = None


@dataclass(frozen=True)
class Elem:
    key: Value
    data: Value | Verdict | None = None


@dataclass(frozen=True)
class AnonSet:
    elems: tuple[Elem, ...]


@dataclass(frozen=True)
class Ref:
    """``@name``: a named set or map of the table."""

    name: str


Value: TypeAlias = Val | Rng | Pfx | Cat | Bits | Masked | AnonSet | Ref


@dataclass(frozen=True)
class Sel:
    """A left-hand expression by canonical name: ``ip saddr``, ``meta l4proto``, ``ct state``,
    ``fib daddr type``; ``raw`` and the like for those only ever conditional."""

    name: str


@dataclass(frozen=True)
class Masking:
    left: Expr
    op: str
    right: Value


@dataclass(frozen=True)
class Concat:
    parts: tuple[Expr, ...]


Expr: TypeAlias = Sel | Masking | Concat


@dataclass(frozen=True)
class Match:
    left: Expr
    op: str
    """==, !=, <, >, <=, >=, in (flags: any of the bits), exists, missing."""
    right: Value


@dataclass(frozen=True)
class Maybe:
    """A condition the export cannot settle (a rate limit, a quota, a meter)."""

    why: str


@dataclass(frozen=True)
class Opaque:
    """A terminal statement whose outcome is no plain verdict (queue, NAT, notrack)."""

    why: str


@dataclass(frozen=True)
class VMap:
    key: Expr
    data: Value


@dataclass(frozen=True)
class NotUnderstood:
    what: str


Item: TypeAlias = Match | Maybe | Verdict | Opaque | VMap | NotUnderstood


@dataclass
class Rule:
    items: list[Item]
    line: int | None
    text: str
    path: str | None = None


@dataclass
class Chain:
    name: str
    line: int | None = None
    path: str | None = None
    hook: str | None = None
    type: str | None = None
    priority: int = 0
    policy: str = "accept"
    devices: tuple[str, ...] = ()
    rules: list[Rule] = field(default_factory=list)


@dataclass
class NamedSet:
    name: str
    kind: str
    """set or map."""
    type: str = ""
    flags: frozenset[str] = frozenset()
    elems: list[Elem] = field(default_factory=list)
    line: int | None = None


@dataclass
class Table:
    family: str
    name: str
    line: int | None = None
    chains: dict[str, Chain] = field(default_factory=dict)
    sets: dict[str, NamedSet] = field(default_factory=dict)
    dormant: bool = False

    @property
    def label(self) -> str:
        return f"{self.family} {self.name}"


@dataclass
class Ruleset:
    tables: dict[tuple[str, str], Table] = field(default_factory=dict)
    unsupported: list[str] = field(default_factory=list)
    includes: list[str] = field(default_factory=list)
    """``include`` lines not followed, as "file:line: include "x"."""
    dynamic: set[tuple[str, str, str]] = field(default_factory=set)
    """Sets rules add to at run time (``add @set``, ``update @set``): (family, table, set)."""
    anon: int = 0

    def table(self, family: str, name: str, line: int | None) -> Table:
        key = (family, name)
        if key not in self.tables:
            self.tables[key] = Table(family, name, line)
        return self.tables[key]


# --- nft text --------------------------------------------------------------------------------


class Tok(NamedTuple):
    kind: Literal["word", "str", "op", "nl"]
    text: str
    line: int


MAX_DEPTH = 64
"""How deep ``{``/``(`` (text) or arrays and objects (JSON) may nest: a ruleset nests a few
levels (nft -j output about a dozen); deeper input is refused as it is read, before the
recursive descent, which would take time in proportion to the depth times the length."""

_LEX = re.compile(
    r"""
    (?P<nl>\n|;)
  | (?P<skip>[ \t\r\f\v]+|\\\r?\n)
  | (?P<comment>\#[^\n]*)
  | (?P<str>"[^"\n]*")
  | (?P<op>==|!=|<=|>=|<<|>>|[{}(),=<>&|^!])
  | (?P<word>[^\s{}();,="<>&|^!\#\\]+)
    """,
    re.X,
)
_VERDICT_WORDS = frozenset({"accept", "drop", "reject", "return", "continue", "jump", "goto"})
_REL_OPS = {
    "==": "==", "eq": "==", "!=": "!=", "ne": "!=", "<": "<", "lt": "<", ">": ">", "gt": ">",
    "<=": "<=", "le": "<=", ">=": ">=", "ge": ">=", "!": "!=",
}  # fmt: skip
_BIN_OPS = {"&": "&", "and": "&", "|": "|", "or": "|", "^": "^", "xor": "^", "<<": "<<",
            "lshift": "<<", ">>": ">>", "rshift": ">>"}  # fmt: skip
_BITMASK_SELECTORS = frozenset({"ct state", "ct status", "tcp flags", "ct event"})
_ELEM_OPTIONS = frozenset({"timeout", "expires", "comment", "counter"})


def _render_toks(toks: Sequence[Tok]) -> str:
    out = ""
    for t in toks:
        s = f'"{t.text}"' if t.kind == "str" else t.text
        if t.kind == "nl":
            if out and out[-1] not in "{,;":
                out += ";"
            continue
        if s == "}" and out.endswith(";"):
            out = out[:-1]
        if not out:
            out = s
        elif s in (",", ")") or s == ";" or out.endswith("("):
            out += s
        else:
            out += " " + s
    return out


class _Cursor:
    """A position in a list of tokens, for recursive descent."""

    def __init__(self, toks: Sequence[Tok]) -> None:
        self.toks = toks
        self.i = 0

    def done(self) -> bool:
        return self.i >= len(self.toks)

    def peek(self, k: int = 0) -> Tok | None:
        j = self.i + k
        return self.toks[j] if j < len(self.toks) else None

    def peek_text(self, k: int = 0) -> str | None:
        t = self.peek(k)
        return None if t is None or t.kind == "str" else t.text

    def next(self) -> Tok:
        t = self.toks[self.i]
        self.i += 1
        return t

    @property
    def line(self) -> int:
        t = self.peek() or (self.toks[-1] if self.toks else None)
        return t.line if t else 0


class _Problem(Exception):
    """A value or construct the reader cannot read; turned into a ReaderError with the line."""


class _TextParser:
    """``nft list ruleset`` output and files for ``nft -f`` into a :class:`Ruleset`."""

    def __init__(
        self, text: str, name: str, rs: Ruleset | None = None, line_offset: int = 0
    ) -> None:
        self.text = text
        self.name = name
        self.rs = rs if rs is not None else Ruleset()
        self.line_offset = line_offset
        self.defines: dict[str, list[Tok]] = {}

    def error(self, line: int | None, message: str, hint: str | None = None) -> ReaderError:
        return ReaderError(message, source=self.name, line=line, hint=hint)

    def note(self, line: int | None, message: str) -> None:
        where = f"{self.name}:{line}" if line else self.name
        self.rs.unsupported.append(f"{where}: {message}")

    # lexing and macros

    def lex(self) -> list[Tok]:
        out: list[Tok] = []
        line = 1 + self.line_offset
        pos = 0
        text = self.text
        depth = 0  # of { and (, capped here: the parser descends once per level
        while pos < len(text):
            m = _LEX.match(text, pos)
            if m is None:
                ch = text[pos]
                if ch == '"':
                    raise self.error(line, "unterminated string", hint='close it with "')
                raise self.error(line, f"unexpected character {ch!r}")
            kind = m.lastgroup
            value = m.group()
            if kind == "nl":
                out.append(Tok("nl", value, line))
            elif kind == "str":
                out.append(Tok("str", value[1:-1], line))
            elif kind == "op":
                out.append(Tok("op", value, line))
                if value in "{(":
                    depth += 1
                    if depth > MAX_DEPTH:
                        raise self.error(
                            line,
                            f"'{{' and '(' nested more than {MAX_DEPTH} levels deep",
                            hint="a ruleset nests a few levels: table, chain, set, anonymous "
                            "chain; is this the right file?",
                        )
                elif value in "})":
                    depth -= 1
            elif kind == "word":
                # a map separator written against its key: `22: accept`, `"eth0": jump x`
                if value.endswith(":") and value.count(":") == 1 and len(value) > 1:
                    out.append(Tok("word", value[:-1], line))
                    out.append(Tok("word", ":", line))
                else:
                    out.append(Tok("word", value, line))
            line += value.count("\n")
            pos = m.end()
        return out

    def expand(self, toks: list[Tok]) -> list[Tok]:
        """``define name = value`` and ``$name`` [nft(8), VARIABLES], in file order."""
        out: list[Tok] = []
        i = 0
        at_start = True
        while i < len(toks):
            t = toks[i]
            if at_start and t.kind == "word" and t.text in ("define", "redefine", "undefine"):
                j = i + 1
                if j >= len(toks) or toks[j].kind != "word":
                    raise self.error(t.line, f"{t.text} needs a name")
                name = toks[j].text
                if t.text == "undefine":
                    self.defines.pop(name, None)
                    i = j + 1
                    continue
                if j + 1 >= len(toks) or toks[j + 1].text != "=":
                    raise self.error(t.line, f"define {name} needs '= value'")
                k = j + 2
                depth = 0
                value: list[Tok] = []
                while k < len(toks) and not (toks[k].kind == "nl" and depth == 0):
                    if toks[k].kind == "op" and toks[k].text in "{(":
                        depth += 1
                    elif toks[k].kind == "op" and toks[k].text in "})":
                        depth -= 1
                    value.append(toks[k])
                    k += 1
                if not value:
                    raise self.error(t.line, f"define {name} has no value")
                self.defines[name] = self.expand_refs(value)
                i = k
                continue
            if t.kind == "word" and t.text.startswith("$"):
                out.extend(self.expand_refs([t]))
            else:
                out.append(t)
            at_start = t.kind == "nl" or (t.kind == "op" and t.text in "{}")
            i += 1
        return out

    def expand_refs(self, toks: list[Tok]) -> list[Tok]:
        out: list[Tok] = []
        for t in toks:
            if t.kind == "word" and t.text.startswith("$"):
                name = t.text[1:]
                if name not in self.defines:
                    raise self.error(
                        t.line, f"${name} is not defined", hint="define it before its first use"
                    )
                out.extend(Tok(d.kind, d.text, t.line) for d in self.defines[name])
            else:
                out.append(t)
        return out

    def statements(
        self, toks: Sequence[Tok], blocks: frozenset[str] = frozenset()
    ) -> Iterator[list[Tok]]:
        """Statements at depth 0: ended by a newline or ``;``, or by the ``}`` closing a block
        statement (``table x { ... }``) when it starts with one of ``blocks``."""
        cur: list[Tok] = []
        depth = 0
        opened: list[int] = []
        for t in toks:
            if t.kind == "nl" and depth == 0:
                if cur:
                    yield cur
                    cur = []
                continue
            if t.kind == "op" and t.text in "{(":
                depth += 1
                opened.append(t.line)
            elif t.kind == "op" and t.text in "})":
                depth -= 1
                if depth < 0:
                    raise self.error(t.line, f"unbalanced {t.text!r}")
                opened.pop()
            cur.append(t)
            if depth == 0 and t.text == "}" and t.kind == "op" and cur[0].text in blocks:
                yield cur
                cur = []
        if depth > 0:
            raise self.error(opened[-1], "a '{' or '(' opened here is never closed")
        if cur:
            yield cur

    # top level

    def parse(self) -> Ruleset:
        toks = self.expand(self.lex())
        top_blocks = frozenset({"table", "chain", "set", "map"})
        for st in self.statements(toks, top_blocks):
            self.top(st)
        return self.rs

    def top(self, st: list[Tok]) -> None:
        head = st[0]
        word = head.text if head.kind == "word" else ""
        if word in ("add", "create"):
            self.command(st[1:], head.line, insert=False)
        elif word == "insert":
            self.command(st[1:], head.line, insert=True)
        elif word in ("table", "chain", "rule", "set", "map", "element"):
            self.command(st, head.line, insert=False)
        elif word == "flush":
            self.flush(st, head.line)
        elif word in ("delete", "destroy"):
            self.delete(st, head.line)
        elif word == "include":
            target = st[1].text if len(st) > 1 else ""
            self.rs.includes.append(f'{self.name}:{head.line}: include "{target}"')
            self.note(head.line, f'include "{target}" is not followed')
        elif word in ("flowtable", "counter", "quota", "limit", "ct", "secmark", "synproxy"):
            return  # stateful objects: they decide nothing by themselves
        elif word in ("list", "reset", "monitor", "describe", "export", "import", "rename"):
            self.note(head.line, f"command {word!r} changes nothing here and is skipped")
        else:
            self.note(head.line, f"{_render_toks(st)[:80]!r} not understood")

    def family_name(self, toks: Sequence[Tok], i: int, line: int) -> tuple[str, str, int]:
        """``[family] name`` at ``toks[i]``; the family defaults to ip [nft(8), TABLES]."""
        if i >= len(toks):
            raise self.error(line, "a table name is missing")
        first = toks[i]
        nxt = toks[i + 1] if i + 1 < len(toks) else None
        if first.text in FAMILIES and nxt is not None and nxt.kind in ("word", "str"):
            return first.text, nxt.text, i + 2
        return "ip", first.text, i + 1

    def rule_target(self, toks: Sequence[Tok], i: int, line: int) -> tuple[str, str, int]:
        """``[family] table`` for rules and elements: a family word counts as one only when it
        names a table that way (``add rule ip filter input``, ``add rule filter input``)."""
        if i + 1 < len(toks) and toks[i].text in FAMILIES:
            if (toks[i].text, toks[i + 1].text) in self.rs.tables or (
                ("ip", toks[i].text) not in self.rs.tables
            ):
                return toks[i].text, toks[i + 1].text, i + 2
        return self.family_name(toks, i, line)

    def get_table(self, family: str, name: str, line: int) -> Table:
        table = self.rs.tables.get((family, name))
        if table is None:
            raise self.error(
                line,
                f"table {family} {name} does not exist",
                hint="declare the table before adding chains, sets or rules to it",
            )
        return table

    def command(self, st: list[Tok], line: int, insert: bool) -> None:
        if not st:
            raise self.error(line, "a command needs an object (table, chain, rule, set, ...)")
        what = st[0].text
        if what == "table":
            family, name, i = self.family_name(st, 1, line)
            table = self.rs.table(family, name, line)
            if i < len(st) and st[i].text == "{":
                self.table_body(table, self.inner(st, i))
        elif what == "chain":
            family, tname, i = self.rule_target(st, 1, line)
            table = self.get_table(family, tname, line)
            if i >= len(st):
                raise self.error(line, "a chain name is missing")
            chain = self.chain_of(table, st[i].text, line)
            if i + 1 < len(st) and st[i + 1].text == "{":
                self.chain_body(table, chain, self.inner(st, i + 1))
        elif what == "rule":
            family, tname, i = self.rule_target(st, 1, line)
            table = self.get_table(family, tname, line)
            if i >= len(st):
                raise self.error(line, "a chain name is missing")
            cname = st[i].text
            target = table.chains.get(cname)
            if target is None:
                raise self.error(line, f"chain {cname} does not exist in table {table.label}")
            i += 1
            index: int | None = None
            if i + 1 < len(st) and st[i].text in ("index", "position", "handle"):
                if st[i].text == "index" and re.fullmatch(r"[0-9]{1,9}", st[i + 1].text):
                    index = int(st[i + 1].text) + (0 if insert else 1)
                else:
                    self.note(line, f"{st[i].text} {st[i + 1].text}: position taken as the end")
                i += 2
            if i >= len(st):
                raise self.error(line, "a rule needs at least one statement")
            rule = self.rule(table, target, st[i:])
            if index is None:
                index = 0 if insert else len(target.rules)
            target.rules.insert(index, rule)
        elif what in ("set", "map"):
            family, tname, i = self.rule_target(st, 1, line)
            table = self.get_table(family, tname, line)
            if i >= len(st):
                raise self.error(line, f"a {what} name is missing")
            nset = table.sets.setdefault(st[i].text, NamedSet(st[i].text, what, line=line))
            if i + 1 < len(st) and st[i + 1].text == "{":
                self.set_body(nset, self.inner(st, i + 1))
        elif what == "element":
            family, tname, i = self.rule_target(st, 1, line)
            table = self.get_table(family, tname, line)
            if i + 1 >= len(st) or st[i + 1].text != "{":
                raise self.error(line, "add element needs a set name and { elements }")
            into = table.sets.get(st[i].text)
            if into is None:
                raise self.error(line, f"set {st[i].text} does not exist in {table.label}")
            into.elems.extend(self.elements(st[i + 1 :]))
        elif what in ("flowtable", "counter", "quota", "limit", "ct", "secmark", "synproxy"):
            return
        else:
            self.note(line, f"{_render_toks(st)[:80]!r} not understood")

    def flush(self, st: list[Tok], line: int) -> None:
        what = st[1].text if len(st) > 1 else ""
        if what == "ruleset":
            family = st[2].text if len(st) > 2 else None
            for key in [k for k in self.rs.tables if family is None or k[0] == family]:
                del self.rs.tables[key]
        elif what == "table":
            family, name, _ = self.family_name(st, 2, line)
            table = self.rs.tables.get((family, name))
            for chain in table.chains.values() if table else ():
                chain.rules.clear()
        elif what == "chain":
            family, tname, i = self.rule_target(st, 2, line)
            table = self.rs.tables.get((family, tname))
            found = table.chains.get(st[i].text) if table and i < len(st) else None
            if found is not None:
                found.rules.clear()
        elif what in ("set", "map"):
            family, tname, i = self.rule_target(st, 2, line)
            table = self.rs.tables.get((family, tname))
            nset = table.sets.get(st[i].text) if table and i < len(st) else None
            if nset is not None:
                nset.elems.clear()
        else:
            self.note(line, f"{_render_toks(st)[:80]!r} not understood")

    def delete(self, st: list[Tok], line: int) -> None:
        what = st[1].text if len(st) > 1 else ""
        if what == "table":
            family, name, _ = self.family_name(st, 2, line)
            self.rs.tables.pop((family, name), None)
        elif what == "chain":
            family, tname, i = self.rule_target(st, 2, line)
            table = self.rs.tables.get((family, tname))
            if table and i < len(st):
                table.chains.pop(st[i].text, None)
        elif what in ("set", "map"):
            family, tname, i = self.rule_target(st, 2, line)
            table = self.rs.tables.get((family, tname))
            if table and i < len(st):
                table.sets.pop(st[i].text, None)
        else:
            self.note(line, f"{_render_toks(st)[:80]!r} is not applied (only whole tables,"
                      " chains and sets are deleted here)")  # fmt: skip

    def inner(self, st: Sequence[Tok], i: int) -> list[Tok]:
        """The tokens inside the braces opening at ``st[i]``."""
        end = _closing(st, i)
        if end is None:
            raise self.error(st[i].line, "a '{' opened here is never closed")
        return list(st[i + 1 : end])

    def chain_of(self, table: Table, name: str, line: int | None) -> Chain:
        if name not in table.chains:
            table.chains[name] = Chain(name, line)
        return table.chains[name]

    # blocks

    def table_body(self, table: Table, toks: list[Tok]) -> None:
        blocks = frozenset({"chain", "set", "map", "flowtable", "counter", "quota", "limit",
                            "ct", "secmark", "synproxy"})  # fmt: skip
        for st in self.statements(toks, blocks):
            head = st[0].text
            line = st[0].line
            if head == "chain" and len(st) >= 2:
                chain = self.chain_of(table, st[1].text, line)
                if chain.line is None:
                    chain.line = line
                if len(st) > 2 and st[2].text == "{":
                    self.chain_body(table, chain, self.inner(st, 2))
            elif head in ("set", "map") and len(st) >= 2:
                nset = table.sets.setdefault(st[1].text, NamedSet(st[1].text, head, line=line))
                if len(st) > 2 and st[2].text == "{":
                    self.set_body(nset, self.inner(st, 2))
            elif head == "flags":
                if "dormant" in (t.text for t in st[1:]):
                    table.dormant = True
            elif head in ("comment", "flowtable", "counter", "quota", "limit", "ct", "secmark",
                          "synproxy"):  # fmt: skip
                continue
            else:
                self.note(line, f"{_render_toks(st)[:80]!r} in table {table.label} not understood")

    def chain_body(self, table: Table, chain: Chain, toks: list[Tok]) -> None:
        for st in self.statements(toks):
            head = st[0].text if st[0].kind == "word" else ""
            if head == "type":
                self.chain_header(table, chain, st)
            elif head == "policy" and len(st) >= 2:
                chain.policy = st[1].text
            elif head == "comment" and len(st) == 2 and st[1].kind == "str":
                continue
            elif head in ("devices", "device"):
                chain.devices = tuple(t.text for t in st[1:] if t.kind in ("word", "str"))
            elif head == "flags" and len(st) >= 2 and st[1].text == "offload":
                continue
            else:
                chain.rules.append(self.rule(table, chain, st))

    def chain_header(self, table: Table, chain: Chain, st: list[Tok]) -> None:
        """``type filter hook input [device eth0] priority filter + 10`` [nft(8), CHAINS]."""
        words = [t.text for t in st]
        line = st[0].line
        chain.type = words[1] if len(words) > 1 else None
        if "hook" not in words:
            raise self.error(line, "a base chain needs 'hook' in its type line")
        k = words.index("hook")
        if k + 1 >= len(words):
            raise self.error(line, "'hook' needs a hook name")
        chain.hook = words[k + 1]
        if "device" in words:
            d = words.index("device")
            chain.devices = (words[d + 1],) if d + 1 < len(words) else ()
        if "devices" in words:
            d = words.index("devices")
            chain.devices = tuple(w for w in words[d + 1 :] if w not in "={},")
        if "priority" in words:
            p = words.index("priority") + 1
            expr = []
            while p < len(words) and words[p] not in ("device", "devices", "policy"):
                expr.append(words[p])
                p += 1
            chain.priority = self.priority("".join(expr), table.family, line)
        if "policy" in words:
            p = words.index("policy")
            if p + 1 < len(words):
                chain.policy = words[p + 1]

    def priority(self, text: str, family: str, line: int) -> int:
        m = re.fullmatch(r"([a-z]+)?([+-]?[0-9]{1,10})?", text)
        if not text or m is None or (m.group(1) is None and m.group(2) is None):
            raise self.error(line, f"cannot read the priority {text!r}")
        base = 0
        if m.group(1):
            names = _BRIDGE_PRIORITY if family == "bridge" else _PRIORITY
            if m.group(1) not in names:
                raise self.error(line, f"unknown priority name {m.group(1)!r}")
            base = names[m.group(1)]
        return base + int(m.group(2) or 0)

    def set_body(self, nset: NamedSet, toks: list[Tok]) -> None:
        for st in self.statements(toks):
            head = st[0].text
            if head in ("type", "typeof"):
                nset.type = _render_toks(st[1:])
            elif head == "flags":
                nset.flags = nset.flags | {t.text for t in st[1:] if t.kind == "word"}
            elif head == "elements":
                if len(st) < 3 or st[1].text != "=" or st[2].text != "{":
                    raise self.error(st[0].line, "elements needs '= { ... }'")
                nset.elems.extend(self.elements(st[2:]))
            elif head in ("size", "timeout", "gc-interval", "policy", "counter", "comment",
                          "auto-merge"):  # fmt: skip
                continue
            else:
                self.note(
                    st[0].line, f"{_render_toks(st)[:80]!r} in set {nset.name} not understood"
                )

    def elements(self, toks: Sequence[Tok]) -> list[Elem]:
        """``{ a, b/24, c-d, e . f, k : verdict, { nested } }`` (nested sets come from defines
        and are flattened, as nft does)."""
        inner = self.inner(toks, 0)
        out: list[Elem] = []
        piece: list[Tok] = []
        depth = 0
        pieces: list[list[Tok]] = []
        for t in inner:
            if t.kind == "nl":
                continue
            if t.kind == "op" and t.text in "{(":
                depth += 1
            elif t.kind == "op" and t.text in "})":
                depth -= 1
            if t.kind == "op" and t.text == "," and depth == 0:
                pieces.append(piece)
                piece = []
                continue
            piece.append(t)
        if piece:
            pieces.append(piece)
        for p in pieces:
            if p[0].kind == "op" and p[0].text == "{":
                out.extend(self.elements(p))
            else:
                out.append(self.element(p))
        return out

    def element(self, toks: list[Tok]) -> Elem:
        cut = len(toks)
        colon = None
        for k, t in enumerate(toks):
            if t.kind == "word" and t.text == ":" and colon is None:
                colon = k
            if t.kind == "word" and t.text in _ELEM_OPTIONS:
                cut = min(cut, k)
        key_toks = toks[: min(cut, colon if colon is not None else cut)]
        if not key_toks:
            raise self.error(toks[0].line, "an empty set element")
        cur = _Cursor(key_toks)
        key = self.value(cur, commas=False)
        if not cur.done():
            raise self.error(key_toks[0].line, f"cannot read the element {_render_toks(toks)!r}")
        data: Value | Verdict | None = None
        if colon is not None:
            data_toks = [t for t in toks[colon + 1 :] if t.kind != "nl"]
            end = next((k for k, t in enumerate(data_toks) if t.text in _ELEM_OPTIONS), None)
            data_toks = data_toks[:end]
            if not data_toks:
                raise self.error(toks[colon].line, "a map element needs a value after ':'")
            if data_toks[0].text in _VERDICT_WORDS:
                kind = data_toks[0].text
                target = data_toks[1].text if len(data_toks) > 1 else None
                data = Verdict(kind, target if kind in ("jump", "goto") else None)
            else:
                data = self.value(_Cursor(data_toks), commas=False)
        return Elem(key, data)

    def value(self, cur: _Cursor, commas: bool, concat: bool = True) -> Value:
        """One right-hand value: literal, ``a-b``, ``{ set }``, ``@set``, ``(a | b)``, flag lists
        ``a,b`` (with ``commas``), concatenations ``a . b`` and masks ``v / m``."""
        if cur.done():
            raise self.error(cur.line, "a value is missing")
        t = cur.next()
        v: Value
        if t.kind == "op" and t.text == "{":
            end = _closing(cur.toks, cur.i - 1)
            if end is None:
                raise self.error(t.line, "a '{' opened here is never closed")
            v = AnonSet(tuple(self.elements(cur.toks[cur.i - 1 : end + 1])))
            cur.i = end + 1
        elif t.kind == "op" and t.text == "(":
            items: list[Value] = []
            while not cur.done() and cur.peek_text() != ")":
                if cur.peek_text() == "|":
                    cur.next()
                    continue
                items.append(self.value(cur, commas=False))
            if cur.done():
                raise self.error(t.line, "a '(' opened here is never closed")
            cur.next()
            v = Bits(tuple(items))
        elif t.kind == "word" and t.text.startswith("@"):
            v = Ref(t.text[1:])
        elif t.kind in ("word", "str"):
            v = Val(t.text, t.kind == "str")
            if cur.peek_text() == "-" and cur.peek(1) is not None:
                cur.next()
                v = Rng(v, Val(cur.next().text))
        else:
            raise self.error(t.line, f"unexpected {t.text!r} where a value belongs")
        if commas and cur.peek_text() == ",":
            items = [v]
            while cur.peek_text() == ",":
                cur.next()
                items.append(self.value(cur, commas=False))
            v = Bits(tuple(items))
        if cur.peek_text() == "|":
            items = [v]
            while cur.peek_text() == "|":
                cur.next()
                items.append(self.value(cur, commas=False))
            v = Bits(tuple(items))
        if cur.peek_text() == "/" and cur.peek(1) is not None:
            cur.next()
            v = Masked(v, self.value(cur, commas=True))
        if concat and cur.peek_text() == ".":
            parts: list[Value] = [v]
            while cur.peek_text() == ".":
                cur.next()
                parts.append(self.value(cur, commas=False, concat=False))
            v = Cat(tuple(parts))
        return v

    # rules

    def rule(self, table: Table, chain: Chain, st: list[Tok]) -> Rule:
        line = st[0].line
        items = _RuleParser(self, table, chain, st).parse()
        return Rule(items, line, _render_toks(st))

    def anon_chain(self, table: Table, parent: Chain, toks: list[Tok]) -> str:
        """``jump { ... }``: a chain of its own without a name [nft(8), "anonymous chains"]."""
        self.rs.anon += 1
        name = f"{parent.name}/anon{self.rs.anon}"
        chain = Chain(name, toks[0].line if toks else None)
        table.chains[name] = chain
        self.chain_body(table, chain, toks)
        return name


def _closing(toks: Sequence[Tok], i: int) -> int | None:
    depth = 0
    for k in range(i, len(toks)):
        t = toks[k]
        if t.kind == "op" and t.text in "{(":
            depth += 1
        elif t.kind == "op" and t.text in "})":
            depth -= 1
            if depth == 0:
                return k
    return None


class _RuleParser:
    """One rule's statements [nft(8), RULES, EXPRESSIONS, STATEMENTS]."""

    def __init__(self, owner: _TextParser, table: Table, chain: Chain, toks: list[Tok]) -> None:
        self.owner = owner
        self.table = table
        self.chain = chain
        self.cur = _Cursor(toks)
        self.line = toks[0].line
        self.items: list[Item] = []

    def parse(self) -> list[Item]:
        cur = self.cur
        while not cur.done():
            t = cur.peek()
            assert t is not None  # noqa: S101 (done() was checked)
            if t.kind != "word":
                self.not_understood(t.text)
                break
            w = t.text
            try:
                if not self.statement(w):
                    break
            except _Problem as e:
                self.not_understood(str(e))
                break
        return self.items

    def not_understood(self, what: str) -> None:
        rest = _render_toks(self.cur.toks[self.cur.i :])
        self.owner.note(self.line, f"{what!r} not understood in {rest[:60]!r}")
        self.items.append(NotUnderstood(what))

    def statement(self, w: str) -> bool:
        """Parse one statement at the cursor; False stops the rule (the rest is swallowed)."""
        cur = self.cur
        if w in ("accept", "drop", "continue", "return"):
            cur.next()
            self.items.append(Verdict(w))
        elif w == "reject":
            cur.next()
            if cur.peek_text() == "with":
                cur.next()
                kind = cur.next().text if not cur.done() else ""
                if kind != "tcp" and cur.peek_text() == "type":
                    cur.next()
                if not cur.done():
                    cur.next()
            self.items.append(Verdict("reject"))
        elif w in ("jump", "goto"):
            cur.next()
            if cur.done():
                raise _Problem(f"{w} needs a chain")
            t = cur.next()
            if t.kind == "op" and t.text == "{":
                end = _closing(cur.toks, cur.i - 1)
                if end is None:
                    raise self.owner.error(t.line, "a '{' opened here is never closed")
                name = self.owner.anon_chain(self.table, self.chain, list(cur.toks[cur.i : end]))
                cur.i = end + 1
                self.items.append(Verdict(w, name))
            else:
                self.items.append(Verdict(w, t.text))
        elif w == "queue":
            self.items.append(Opaque("queue: a user-space program gives the verdict"))
            return False
        elif w in _NAT:
            self.items.append(Opaque(f"{w}: the connection is translated"))
            return False
        elif w in ("fwd", "synproxy"):
            self.items.append(Opaque(f"{w}: the packet is handed on"))
            return False
        elif w == "notrack":
            cur.next()
            self.items.append(Opaque("notrack: later ct state matches see an untracked packet"))
        elif w == "xt":
            self.items.append(NotUnderstood("xt (an iptables extension)"))
            self.owner.note(self.line, "xt (an iptables extension, shown by iptables-nft) is not"
                            " evaluated")  # fmt: skip
            return False
        elif w == "counter":
            cur.next()
            self.skip_words({"packets", "bytes", "name"}, numbers=True)
        elif w == "log":
            cur.next()
            self.skip_log()
        elif w == "comment":
            cur.next()
            if not cur.done():
                cur.next()
        elif w == "limit":
            cur.next()
            self.skip_words({"rate", "over", "until", "burst", "packets", "bytes", "kbytes",
                             "mbytes", "name"}, numbers=True)  # fmt: skip
            self.items.append(Maybe("a rate limit"))
        elif w == "quota":
            cur.next()
            self.skip_words({"over", "until", "used", "bytes", "kbytes", "mbytes", "gbytes",
                             "name"}, numbers=True)  # fmt: skip
            self.items.append(Maybe("a quota"))
        elif w == "last":
            cur.next()
            self.skip_words({"used", "never"}, numbers=True)
        elif w == "meter":
            cur.next()
            self.skip_until_block()
            self.items.append(Maybe("a meter (per-key rate limit)"))
        elif w in _SET_STATEMENTS and (cur.peek_text(1) or "").startswith("@"):
            cur.next()
            target = cur.next().text[1:]
            self.owner.rs.dynamic.add((self.table.family, self.table.name, target))
            body = self.skip_until_block()
            words = {t.text for t in body}
            if words & {"limit", "quota", "ct"}:
                self.items.append(Maybe("a per-source limit kept in a set"))
        elif w == "dup":
            cur.next()
            self.skip_words({"to", "device"}, takes_value=True)
        elif w == "flow":
            cur.next()
            self.skip_words({"add", "offload"}, takes_value=True)
        elif w == "ct" and cur.peek_text(1) == "count":
            cur.next()
            cur.next()
            self.skip_words({"over"}, numbers=True)
            self.items.append(Maybe("the number of connections (ct count)"))
        else:
            return self.expression_statement()
        return True

    def skip_words(self, words: set[str], numbers: bool = False, takes_value: bool = False) -> None:
        """Skip a statement's option words (each with the value after it, with ``takes_value``)
        and, with ``numbers``, the numbers, units (``5/second``) and strings among them."""
        cur = self.cur
        while not cur.done():
            t = cur.peek()
            assert t is not None  # noqa: S101 (done() was checked)
            if t.kind == "word" and t.text in words:
                cur.next()
                if takes_value and not cur.done():
                    cur.next()
            elif numbers and t.kind == "str":
                cur.next()
            elif numbers and re.fullmatch(r"[0-9][\w/.]*|[a-z]+/[a-z]+", t.text):
                cur.next()
            else:
                break

    def skip_log(self) -> None:
        cur = self.cur
        flag_words = {"tcp", "ip", "sequence", "options", "skuid", "ether", "all"}
        while not cur.done():
            w = cur.peek_text()
            if w in ("prefix", "level", "group", "snaplen", "queue-threshold"):
                cur.next()
                if not cur.done():
                    cur.next()
            elif w == "flags":
                cur.next()
                while cur.peek_text() in flag_words or cur.peek_text() == ",":
                    cur.next()
            else:
                break

    def skip_until_block(self) -> list[Tok]:
        """Skip to the end of the next ``{ ... }``; its tokens."""
        cur = self.cur
        while not cur.done():
            t = cur.next()
            if t.kind == "op" and t.text == "{":
                end = _closing(cur.toks, cur.i - 1)
                if end is None:
                    raise self.owner.error(t.line, "a '{' opened here is never closed")
                body = list(cur.toks[cur.i : end])
                cur.i = end + 1
                return body
        return []

    def expression_statement(self) -> bool:
        cur = self.cur
        expr = self.expression()
        nxt = cur.peek_text()
        if nxt == "set":
            cur.next()
            self.skip_value_expression()
            return True
        if nxt == "vmap":
            cur.next()
            self.items.append(VMap(expr, self.owner.value(cur, commas=False)))
            return True
        if nxt in ("exists", "missing"):
            cur.next()
            self.items.append(Match(expr, nxt, Val("")))
            return True
        op = "in" if isinstance(expr, Sel) and expr.name in _BITMASK_SELECTORS else "=="
        t = cur.peek()
        if t is not None and t.kind in ("op", "word") and t.text in _REL_OPS:
            op = _REL_OPS[t.text]
            cur.next()
        if cur.done():
            raise _Problem(f"{_render_expr(expr)} needs a value")
        right = self.owner.value(cur, commas=True)
        if isinstance(right, AnonSet | Ref) and op == "in":
            op = "=="
        self.items.append(Match(expr, op, right))
        return True

    def skip_value_expression(self) -> None:
        """The value of ``... set VALUE``: a literal or an expression, maybe through a map."""
        cur = self.cur
        w = cur.peek_text()
        if w is not None and _starts_expression(w):
            self.expression()
        else:
            self.owner.value(cur, commas=True)
        if cur.peek_text() == "map":
            cur.next()
            self.owner.value(cur, commas=False)

    def expression(self) -> Expr:
        expr = self.primary()
        while self.cur.peek_text() in _BIN_OPS:
            op = _BIN_OPS[self.cur.next().text]
            expr = Masking(expr, op, self.owner.value(self.cur, commas=False))
        if self.cur.peek_text() == ".":
            parts = [expr]
            while self.cur.peek_text() == ".":
                self.cur.next()
                part: Expr = self.literal_or_primary()
                while self.cur.peek_text() in _BIN_OPS:
                    op = _BIN_OPS[self.cur.next().text]
                    part = Masking(part, op, self.owner.value(self.cur, commas=False))
                parts.append(part)
            expr = Concat(tuple(parts))
        return expr

    def literal_or_primary(self) -> Expr:
        """A part of a concatenation: a selector, or a constant (``ip saddr . "lo" @s``)."""
        t = self.cur.peek()
        if t is not None and (t.kind == "str" or not _starts_expression(t.text)):
            self.cur.next()
            return Sel(f"literal {t.text}")
        return self.primary()

    def word(self) -> str:
        if self.cur.done():
            raise _Problem("an expression ends too early")
        t = self.cur.next()
        if t.kind not in ("word", "str"):
            raise _Problem(t.text)
        return t.text

    def primary(self) -> Expr:
        """One selector [nft(8), EXPRESSIONS]."""
        cur = self.cur
        w = self.word()
        if w in ("tcp", "ip") and cur.peek_text() == "option":
            cur.next()
            name = self.word()
            if cur.peek_text() in ("kind", "length", "size", "count", "left", "right", "tsval",
                                   "tsecr", "value", "type", "addr", "ptr", "val"):  # fmt: skip
                name += " " + self.word()
            return Sel(f"{w} option {name}")
        if w in ("ip", "ip6", "tcp", "udp", "udplite", "sctp", "dccp", "th") or w in _OTHER_L4:
            field_ = self.word()
            if w == "sctp" and field_ == "chunk":
                name = self.word()
                if cur.peek_text() not in ("exists", "missing"):
                    name += " " + self.word()
                return Sel(f"sctp chunk {name}")
            return Sel(f"{w} {field_}")
        if w in ("ether", "vlan"):
            return Sel(f"{w} {self.word()}")
        if w in _IP6_EXTHDRS:
            return Sel(f"{w} {self.word()}")
        if w == "meta":
            return Sel(f"meta {self.word()}")
        if w in _META_BARE:
            return Sel(f"meta {w}")
        if w == "ct":
            key = self.word()
            if key in ("original", "reply"):
                nxt = self.word()
                if nxt in ("ip", "ip6"):
                    return Sel(f"ct {key} {nxt} {self.word()}")
                return Sel(f"ct {key} {nxt}")
            return Sel(f"ct {key}")
        if w == "fib":
            flags = [self.word()]
            while cur.peek_text() == ".":
                cur.next()
                flags.append(self.word())
            return Sel(f"fib {'.'.join(flags)} {self.word()}")
        if w == "rt":
            nxt = self.word()
            if nxt in ("ip", "ip6"):
                nxt = self.word()
            return Sel(f"rt {nxt}")
        if w == "socket":
            key = self.word()
            if key == "cgroupv2":
                self.word()  # level
                self.word()
            return Sel(f"socket {key}")
        if w == "osf":
            while cur.peek_text() in ("ttl", "loose", "skip", "global"):
                cur.next()
            return Sel(f"osf {self.word()}")
        if w == "ipsec":
            direction = self.word()
            if cur.peek_text() == "spnum":
                cur.next()
                self.word()
            key = self.word()
            if key in ("ip", "ip6"):
                key += " " + self.word()
            return Sel(f"ipsec {direction} {key}")
        if w == "numgen":
            self.word()  # inc | random
            self.skip_pairs({"mod", "offset"})
            return Sel("numgen")
        if w == "jhash":
            self.expression()
            self.skip_pairs({"mod", "seed", "offset"})
            return Sel("jhash")
        if w == "symhash":
            self.skip_pairs({"mod", "offset"})
            return Sel("symhash")
        if w.startswith("@") and cur.peek_text() == ",":
            for _ in range(4):  # @base,offset,length
                if cur.done():
                    raise _Problem("a raw payload expression ends too early")
                cur.next()
            return Sel("raw")
        raise _Problem(w)

    def skip_pairs(self, words: set[str]) -> None:
        while self.cur.peek_text() in words:
            self.cur.next()
            self.word()


def _starts_expression(word: str) -> bool:
    return (
        word in ("ip", "ip6", "tcp", "udp", "udplite", "sctp", "dccp", "th", "meta", "ct", "fib",
                 "rt", "socket", "osf", "ipsec", "numgen", "jhash", "symhash", "ether", "vlan")
        or word in _META_BARE
        or word in _OTHER_L4
        or word in _IP6_EXTHDRS
    )  # fmt: skip


# --- nft -j JSON -------------------------------------------------------------------------------


class _JsonParser:
    """``nft -j list ruleset`` [libnftables-json(5)] into a :class:`Ruleset`."""

    def __init__(self, text: str, name: str) -> None:
        self.text = text
        self.name = name
        self.rs = Ruleset()

    def error(self, line: int | None, message: str, hint: str | None = None) -> ReaderError:
        return ReaderError(message, source=self.name, line=line, hint=hint)

    def note(self, line: int | None, path: str, message: str) -> None:
        where = f"{self.name}:{line}" if line else self.name
        self.rs.unsupported.append(f"{where} ({path}): {message}")

    def items(self) -> list[tuple[Any, int | None]]:
        """The objects of the ``nftables`` array, with the line each starts on when the JSON is
        spread over lines (``nft -j`` writes one line; pretty-printed files have many)."""
        try:
            doc = loads_strict(self.text)
        except StrictJsonError as e:
            raise self.error(
                e.line, f"invalid JSON: {e.message}", hint="give nft -j output"
            ) from None
        path = _too_deep(doc)
        if path is not None:
            raise self.error(
                None,
                f"{path}: arrays and objects nested more than {MAX_DEPTH} levels deep",
                hint="nft -j output nests about a dozen levels; is this the right file?",
            )
        if not isinstance(doc, dict) or not isinstance(doc.get("nftables"), list):
            raise self.error(
                1,
                'this is not nft JSON (no "nftables" array at the top)',
                hint="give the output of nft -j list ruleset",
            )
        objects: list[Any] = doc["nftables"]
        lines: list[int | None] = [None] * len(objects)
        if "\n" in self.text.strip():
            m = re.match(r'\s*\{\s*"nftables"\s*:\s*\[', self.text)
            if m is not None:
                dec = json.JSONDecoder()
                pos = m.end()
                line, counted = 1, 0
                for k in range(len(objects)):
                    while pos < len(self.text) and self.text[pos] in " \t\r\n,":
                        pos += 1
                    line += self.text.count("\n", counted, pos)
                    counted = pos
                    lines[k] = line
                    _, pos = dec.raw_decode(self.text, pos)
        return list(zip(objects, lines, strict=True))

    def parse(self) -> Ruleset:
        for index, (obj, line) in enumerate(self.items()):
            path = f"nftables[{index}]"
            if not isinstance(obj, dict) or len(obj) != 1:
                raise self.error(line, f"{path}: each item is an object with one key")
            ((kind, body),) = obj.items()
            if kind == "metainfo":
                continue
            if kind in ("add", "create", "insert"):
                if not isinstance(body, dict) or len(body) != 1:
                    raise self.error(line, f"{path}: {kind} needs one object")
                ((kind2, body2),) = body.items()
                self.object(kind2, body2, line, path, insert=kind == "insert")
            elif kind == "flush":
                self.flush(body, line, path)
            elif kind in ("delete", "destroy"):
                self.delete(body, line, path)
            else:
                self.object(kind, body, line, path, insert=False)
        return self.rs

    def need(self, body: Any, key: str, line: int | None, path: str) -> Any:
        if not isinstance(body, dict) or key not in body:
            raise self.error(line, f"{path}: {key!r} is missing")
        return body[key]

    def table_of(self, body: Any, line: int | None, path: str) -> Table:
        family = self.need(body, "family", line, path)
        name = self.need(body, "table", line, path)
        table = self.rs.tables.get((family, name))
        if table is None:
            raise self.error(line, f"{path}: table {family} {name} is not declared before use")
        return table

    def object(self, kind: str, body: Any, line: int | None, path: str, insert: bool) -> None:
        if kind == "table":
            table = self.rs.table(
                self.need(body, "family", line, path), self.need(body, "name", line, path), line
            )
            flags = body.get("flags", [])
            if "dormant" in (flags if isinstance(flags, list) else [flags]):
                table.dormant = True
        elif kind == "chain":
            table = self.table_of(body, line, path)
            name = self.need(body, "name", line, path)
            chain = table.chains.setdefault(name, Chain(name, line, path))
            if "hook" in body:
                chain.hook = body["hook"]
                chain.type = body.get("type")
                prio = body.get("prio", 0)
                if type(prio) is not int:
                    raise self.error(line, f"{path}: prio {json.dumps(prio)[:40]} is not a number")
                chain.priority = prio
                chain.policy = body.get("policy", "accept")
                dev = body.get("dev", ())
                chain.devices = (dev,) if isinstance(dev, str) else tuple(dev)
        elif kind == "rule":
            table = self.table_of(body, line, path)
            cname = self.need(body, "chain", line, path)
            target = table.chains.get(cname)
            if target is None:
                raise self.error(line, f"{path}: chain {cname} is not declared before its rules")
            exprs = self.need(body, "expr", line, path)
            if not isinstance(exprs, list):
                raise self.error(line, f"{path}: expr is not a list")
            items = [
                self.statement(s, table, target, line, f"{path}.expr[{k}]")
                for k, s in enumerate(exprs)
            ]
            rule = Rule([i for i in items if i is not None], line, _render_rule(items), path)
            target.rules.insert(0 if insert else len(target.rules), rule)
        elif kind in ("set", "map"):
            table = self.table_of(body, line, path)
            name = self.need(body, "name", line, path)
            type_ = body.get("type", "")
            type_text = " . ".join(type_) if isinstance(type_, list) else str(type_)
            if kind == "map":
                type_text += f" : {body.get('map', '')}"
            flags = body.get("flags", [])
            nset = table.sets.setdefault(name, NamedSet(name, kind, line=line))
            nset.type = type_text
            nset.flags = frozenset(flags if isinstance(flags, list) else [flags])
            nset.elems.extend(self.elem(e, line, path) for e in body.get("elem", []))
        elif kind == "element":
            table = self.table_of(body, line, path)
            name = self.need(body, "name", line, path)
            into = table.sets.get(name)
            if into is None:
                raise self.error(line, f"{path}: set {name} is not declared")
            into.elems.extend(self.elem(e, line, path) for e in body.get("elem", []))
        elif kind in ("flowtable", "counter", "quota", "ct helper", "ct timeout",
                      "ct expectation", "limit", "secmark", "synproxy"):  # fmt: skip
            return
        else:
            self.note(line, path, f"{kind!r} objects are not understood")

    def flush(self, body: Any, line: int | None, path: str) -> None:
        if isinstance(body, dict) and "ruleset" in body:
            self.rs.tables.clear()
        elif isinstance(body, dict) and "table" in body:
            t = body["table"]
            table = self.rs.tables.get((t.get("family", "ip"), t.get("name")))
            for chain in table.chains.values() if table else ():
                chain.rules.clear()
        elif isinstance(body, dict) and "chain" in body:
            c = body["chain"]
            table = self.rs.tables.get((c.get("family", "ip"), c.get("table")))
            found = table.chains.get(c.get("name")) if table else None
            if found is not None:
                found.rules.clear()
        else:
            self.note(line, path, "this flush is not applied")

    def delete(self, body: Any, line: int | None, path: str) -> None:
        if isinstance(body, dict) and "table" in body:
            t = body["table"]
            self.rs.tables.pop((t.get("family", "ip"), t.get("name")), None)
        else:
            self.note(line, path, "only whole tables are deleted here")

    def elem(self, e: Any, line: int | None, path: str) -> Elem:
        try:
            if isinstance(e, list) and len(e) == 2:
                return Elem(_jvalue(e[0]), _jdata(e[1]))
            return Elem(_jvalue(e))
        except (_Problem, *_MALFORMED) as p:
            shown = json.dumps(e)[:60]
            raise self.error(line, f"{path}: cannot read the element {shown}: {p}") from None

    def statement(
        self, s: Any, table: Table, chain: Chain, line: int | None, path: str
    ) -> Item | None:
        if isinstance(s, str):
            # nft 1.0 writes an anonymous chain as its text: "jump {\n ip saddr ... accept\n }"
            m = re.fullmatch(r"\s*(jump|goto)\s*\{(.*)\}\s*", s, re.S)
            if m:
                sub = _TextParser(m.group(2), self.name, self.rs, (line or 1) - 1)
                body = sub.expand(sub.lex())
                return Verdict(m.group(1), sub.anon_chain(table, chain, body))
            self.note(line, path, f"{s[:60]!r} not understood")
            return NotUnderstood(s[:60])
        if not isinstance(s, dict) or len(s) != 1:
            raise self.error(line, f"{path}: a statement is an object with one key")
        ((kind, body),) = s.items()
        try:
            return self.statement_of(kind, body, table)
        except (_Problem, *_MALFORMED) as p:
            self.note(line, path, f"{kind} {json.dumps(body)[:60]} not understood ({p})")
            return NotUnderstood(f"{kind} {p}")

    def statement_of(self, kind: str, body: Any, table: Table) -> Item | None:
        if kind == "match":
            if not isinstance(body, dict):
                raise _Problem("match is not an object")
            return Match(_jexpr(body.get("left")), body.get("op", "=="), _jvalue(body.get("right")))
        if kind in ("accept", "drop", "continue", "return"):
            return Verdict(kind)
        if kind == "reject":
            return Verdict("reject")
        if kind in ("jump", "goto"):
            if not isinstance(body, dict) or not isinstance(body.get("target"), str):
                raise _Problem(f"{kind} needs a target")
            return Verdict(kind, body["target"])
        if kind == "queue":
            return Opaque("queue: a user-space program gives the verdict")
        if kind in _NAT:
            return Opaque(f"{kind}: the connection is translated")
        if kind in ("fwd", "synproxy"):
            return Opaque(f"{kind}: the packet is handed on")
        if kind == "notrack":
            return Opaque("notrack: later ct state matches see an untracked packet")
        if kind in ("counter", "log", "mangle", "flow", "dup", "last", "ct helper", "ct timeout",
                    "ct expectation", "secmark", "comment"):  # fmt: skip
            return None
        if kind == "limit":
            return Maybe("a rate limit")
        if kind == "quota":
            return Maybe("a quota")
        if kind == "ct count":
            return Maybe("the number of connections (ct count)")
        if kind == "meter":
            return Maybe("a meter (per-key rate limit)")
        if kind == "set":
            stmts = body.get("stmt", []) if isinstance(body, dict) else []
            target = body.get("set", "") if isinstance(body, dict) else ""
            if isinstance(target, str) and target.startswith("@"):
                self.rs.dynamic.add((table.family, table.name, target[1:]))
            if any(isinstance(x, dict) and set(x) & {"limit", "quota", "ct count"} for x in stmts):
                return Maybe("a per-source limit kept in a set")
            return None
        if kind == "vmap":
            if not isinstance(body, dict):
                raise _Problem("vmap is not an object")
            return VMap(_jexpr(body.get("key")), _jvalue(body.get("data")))
        if kind == "xt":
            raise _Problem("xt (an iptables extension, shown by iptables-nft) is not evaluated")
        raise _Problem("unknown statement")


def _join_path(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _too_deep(doc: Any) -> str | None:
    """The JSON path of a value nested deeper than MAX_DEPTH, walked without recursion (the
    readers below descend recursively)."""
    stack: list[tuple[Any, str, int]] = [(doc, "", 0)]
    while stack:
        value, path, depth = stack.pop()
        if depth > MAX_DEPTH:
            return path if len(path) <= 80 else path[:77] + "..."
        if isinstance(value, dict):
            stack.extend((v, _join_path(path, k), depth + 1) for k, v in value.items())
        elif isinstance(value, list):
            stack.extend((v, f"{path}[{i}]", depth + 1) for i, v in enumerate(value))
    return None


_MALFORMED = (KeyError, IndexError, TypeError, ValueError, AttributeError)
"""What reading a JSON object of an unexpected shape raises (a missing key, a wrong type)."""


def _jexpr(x: Any) -> Expr:
    if isinstance(x, str | int) and not isinstance(x, bool):
        return Sel(f"literal {x}")
    if not isinstance(x, dict) or len(x) != 1:
        raise _Problem(f"{json.dumps(x)[:40]} is not an expression")
    ((k, v),) = x.items()
    if k == "payload":
        if "protocol" in v:
            return Sel(f"{v['protocol']} {v['field']}")
        return Sel("raw")
    if k == "meta":
        return Sel(f"meta {v['key']}")
    if k == "ct":
        if "dir" in v:
            fam = f"{v['family']} " if "family" in v else ""
            return Sel(f"ct {v['dir']} {fam}{v['key']}")
        return Sel(f"ct {v['key']}")
    if k == "fib":
        flags = v.get("flags", [])
        flags = [flags] if isinstance(flags, str) else flags
        return Sel(f"fib {'.'.join(flags)} {v.get('result')}")
    if k == "concat":
        return Concat(tuple(_jexpr(p) for p in v))
    if k in ("&", "|", "^", "<<", ">>"):
        return Masking(_jexpr(v[0]), k, _jvalue(v[1]))
    if k in ("exthdr", "tcp option", "ip option", "sctp chunk", "dccp option"):
        return Sel(f"{k} {v.get('name', '')} {v.get('field', '')}".strip())
    if k == "rt":
        return Sel(f"rt {v.get('key')}")
    if k in ("socket", "osf", "ipsec", "numgen", "jhash", "symhash"):
        return Sel(k if k not in ("socket",) else f"socket {v.get('key')}")
    raise _Problem(f"{k!r} expressions")


def _jvalue(x: Any) -> Value:
    if isinstance(x, bool):
        raise _Problem(f"{x!r} is not a value")
    if isinstance(x, str):
        return Ref(x[1:]) if x.startswith("@") else Val(x)
    if isinstance(x, int):
        return Val(str(x))
    if isinstance(x, list):
        return Bits(tuple(_jvalue(i) for i in x))
    if isinstance(x, dict) and len(x) == 1:
        ((k, v),) = x.items()
        if k == "set":
            items = v if isinstance(v, list) else [v]
            elems = []
            for e in items:
                if isinstance(e, list) and len(e) == 2:
                    elems.append(Elem(_jvalue(e[0]), _jdata(e[1])))
                else:
                    elems.append(Elem(_jvalue(e)))
            return AnonSet(tuple(elems))
        if k == "range":
            return Rng(_jvalue(v[0]), _jvalue(v[1]))
        if k == "prefix":
            length = v["len"]
            if type(length) is not int or length < 0:
                raise _Problem(f"{json.dumps(length)[:20]} is not a prefix length")
            return Pfx(str(v["addr"]), length)
        if k == "concat":
            return Cat(tuple(_jvalue(p) for p in v))
        if k == "|":
            return Bits(tuple(_jvalue(p) for p in v))
        if k == "elem":
            return _jvalue(v["val"])
    raise _Problem(f"{json.dumps(x)[:40]} is not a value the reader knows")


def _jdata(x: Any) -> Value | Verdict:
    if isinstance(x, dict) and len(x) == 1:
        ((k, v),) = x.items()
        if k in ("accept", "drop", "continue", "return"):
            return Verdict(k)
        if k == "reject":
            return Verdict("reject")
        if k in ("jump", "goto"):
            return Verdict(k, v["target"])
    return _jvalue(x)


# --- text of a rule read from JSON ---------------------------------------------------------------


def _render_expr(e: Expr) -> str:
    if isinstance(e, Sel):
        return f'"{e.name[8:]}"' if e.name.startswith("literal ") else e.name
    if isinstance(e, Masking):
        return f"{_render_expr(e.left)} {e.op} {_render_value(e.right)}"
    return " . ".join(_render_expr(p) for p in e.parts)


def _render_value(v: Value | Verdict | None) -> str:
    if v is None:
        return ""
    if isinstance(v, Val):
        return f'"{v.text}"' if v.quoted else v.text
    if isinstance(v, Rng):
        return f"{_render_value(v.lo)}-{_render_value(v.hi)}"
    if isinstance(v, Pfx):
        return f"{v.addr}/{v.length}"
    if isinstance(v, Cat):
        return " . ".join(_render_value(p) for p in v.parts)
    if isinstance(v, Bits):
        return ",".join(_render_value(p) for p in v.items)
    if isinstance(v, Masked):
        return f"{_render_value(v.value)} / {_render_value(v.mask)}"
    if isinstance(v, AnonSet):
        parts = [
            _render_value(e.key) + (f" : {_render_value(e.data)}" if e.data is not None else "")
            for e in v.elems
        ]
        return "{ " + ", ".join(parts) + " }"
    if isinstance(v, Ref):
        return f"@{v.name}"
    return v.kind + (f" {v.target}" if v.target else "")


def _render_rule(items: Sequence[Item | None]) -> str:
    out = []
    for i in items:
        if i is None:
            continue
        if isinstance(i, Match):
            op = "" if i.op in ("==", "in") else f"{i.op} "
            if i.op in ("exists", "missing"):
                out.append(f"{_render_expr(i.left)} {i.op}")
            else:
                out.append(f"{_render_expr(i.left)} {op}{_render_value(i.right)}")
        elif isinstance(i, Verdict):
            out.append(_render_value(i))
        elif isinstance(i, VMap):
            out.append(f"{_render_expr(i.key)} vmap {_render_value(i.data)}")
        elif isinstance(i, Maybe | Opaque):
            out.append(f"[{i.why}]")
        else:
            out.append(f"[not understood: {i.what}]")
    return " ".join(out)


# --- values into numbers and intervals --------------------------------------------------------


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


# --- evaluation ----------------------------------------------------------------------------------


class Cond(NamedTuple):
    """Where a match holds, per source address: surely (``yes``) or depending on something the
    export does not show (``maybe``); elsewhere it surely does not. Kleene's three-valued logic,
    one interval list per value."""

    yes: IV
    maybe: IV


NEVER = Cond([], [])


def _union(a: IV, b: IV) -> IV:
    if not a:
        return b
    if not b:
        return a
    return merge([*a, *b])


def _inter(a: IV, b: IV) -> IV:
    if not a or not b:
        return []
    iv = ipspace.intersection(_ivs(a), _ivs(b))
    s, e = ipspace.as_lists(iv)
    return list(zip(s, e, strict=True))


def _minus(a: IV, b: IV) -> IV:
    if not a or not b:
        return a
    iv = ipspace.difference(_ivs(a), _ivs(b))
    s, e = ipspace.as_lists(iv)
    return list(zip(s, e, strict=True))


def _ivs(a: IV) -> ipspace.Intervals:
    return ipspace.Intervals([x for x, _ in a], [y for _, y in a])


def _and(x: Cond, y: Cond) -> Cond:
    yes = _inter(x.yes, y.yes)
    either = _inter(_union(x.yes, x.maybe), _union(y.yes, y.maybe))
    return Cond(yes, _minus(either, yes))


def _not(x: Cond, bits: int) -> Cond:
    return Cond(complement(_union(x.yes, x.maybe), bits), x.maybe)


class Term(NamedTuple):
    """What a selector is for the probe: a known value (``const`` of a ``type``), the source
    address (``src``), unknown (``why``), absent (the packet has no such header), or, for
    ``--service any``, a protocol or port that takes every value (``some``: a match on it holds
    for some of the connections)."""

    kind: Literal["const", "src", "unknown", "absent", "some"]
    type: str = ""
    value: Any = None
    why: str = ""


_ABSENT = Term("absent")
_SPORT = Term("const", "sport")
"""The client's source port: one of the unprivileged ports the client's system picks, so a
match on it holds always, never or depending on the port (see ``firewall.client_ports``)."""
_REMOTE = "remote"
"""The input interface of a connection from another host: not ``lo``, otherwise unknown."""


class Probe(NamedTuple):
    """One (protocol, destination port) the service is tried with; ``any`` (port 0) stands for
    every connection."""

    protocol: str
    port: int


def probes(ctx: ReadContext, rs: Ruleset) -> list[Probe]:
    """One probe per port class of the service: ports no rule tells apart share a verdict, so a
    range is probed at its ends and wherever a port range of a rule starts or ends inside it.
    ``any`` is one probe, for every protocol and port at once."""
    service = ctx.service
    if service is None:
        return [Probe("tcp", 25)]
    if service.protocol == "any":
        return [Probe("any", 0)]
    edges: set[int] = set()
    if any(a != b for a, b in service.ports):
        edges = _port_edges(rs, service.protocol)
    out: list[Probe] = []
    for a, b in service.ports:
        ports = {a, b} | {p for p in edges if a < p <= b}
        out.extend(Probe(service.protocol, p) for p in sorted(ports))
    return out


def _port_edges(rs: Ruleset, protocol: str) -> set[int]:
    """Where the port ranges the ruleset names start, and just past where they end."""
    edges: set[int] = set()

    def add(values: Sequence[Value]) -> None:
        for v in values:
            for part in v.parts if isinstance(v, Cat) else (v,):
                try:
                    lo, hi = _numbers(part, "port", protocol)
                except _Problem:
                    continue
                edges.update((lo, hi + 1))

    for table in rs.tables.values():
        for nset in table.sets.values():
            if "inet_service" in nset.type or "dport" in nset.type:
                add([e.key for e in nset.elems])
        for chain in table.chains.values():
            for rule in chain.rules:
                for item in rule.items:
                    right = item.right if isinstance(item, Match) else None
                    right = item.data if isinstance(item, VMap) else right
                    if isinstance(right, AnonSet):
                        add([e.key for e in right.elems])
                    elif right is not None and not isinstance(right, Ref):
                        add([right])
    return edges


@dataclass
class _Env:
    family: int
    probe: Probe
    hook: str
    to: tuple[int, int] | None
    """--to as (family, value)."""
    ct_state: str = "new"
    """What ``ct state`` reads: ``invalid`` before conntrack has seen the packet."""


_CONNTRACK_PRIORITY = -200
"""NF_IP_PRI_CONNTRACK: prerouting chains below it run before conntrack, where ``ct state``
reads ``invalid`` (nf_tables' nft_ct_get_eval without a conntrack entry); on ingress always."""


def _ct_state(chain: Chain) -> str:
    hook = chain.hook or "input"
    if hook == "ingress" or (hook == "prerouting" and chain.priority < _CONNTRACK_PRIORITY):
        return "invalid"
    return "new"


@dataclass
class _Shared:
    """What the evaluators of one ruleset share: the ruleset, and the source intervals of each
    set they have matched (a big set is read once, not once per port and hook)."""

    rs: Ruleset
    name: str
    dynamic: frozenset[tuple[str, str, str]]
    sources: dict[tuple[object, ...], Cond] = field(default_factory=dict)


class _Evaluator:
    """The verdict of chains for one family, one probe and one hook, every source at once."""

    def __init__(self, shared: _Shared, env: _Env) -> None:
        self.rs = shared.rs
        self.name = shared.name
        self.env = env
        self.bits = ipspace.BITS[env.family]
        self.full: IV = [(0, (1 << self.bits) - 1)]
        self.memo: dict[tuple[str, str, str], list[Segment]] = {}
        self.stack: list[tuple[str, str, str]] = []
        self.dynamic = shared.dynamic
        self.sources = shared.sources
        self.narrowed = False
        """Set when a match of the rule being read is on a protocol or port (``--service any``)."""

    def error(self, rule: Rule | None, message: str, hint: str | None = None) -> ReaderError:
        return ReaderError(message, source=self.name, line=rule.line if rule else None, hint=hint)

    def origin(self, line: int | None, path: str | None) -> Origin:
        return Origin(self.name, line, path)

    # chains

    def chain(self, table: Table, name: str, caller: Rule | None = None) -> list[Segment]:
        """Every source's outcome in the chain; the whole space is covered: the end of a base
        chain is its policy, the end of another chain a ``return``."""
        key = (table.family, table.name, name)
        if key in self.memo:
            return self.memo[key]
        if key in self.stack:
            loop = " -> ".join(k[2] for k in (*self.stack, key))
            raise self.error(caller, f"chain loop in {table.label}: {loop}")
        chain = table.chains.get(name)
        if chain is None:
            raise self.error(
                caller,
                f"chain {name} does not exist in table {table.label}",
                hint="a jump or goto must name a chain of the same table",
            )
        self.stack.append(key)
        claims: list[Claim] = []
        lean: dict[int, tuple[float, Outcome]] = {}
        for order, rule in enumerate(chain.rules):
            self.rule_claims(table, chain, rule, float(order), claims, lean)
        end_ref: RuleRef
        end: Outcome
        if chain.hook is not None:
            end = "accept" if chain.policy == "accept" else "drop"
            end_ref = RuleRef(
                self.origin(chain.line, chain.path),
                f"policy {chain.policy} of chain {table.label} {name}",
            )
        else:
            end = "return"
            end_ref = RuleRef(
                self.origin(chain.line, chain.path), f"end of chain {table.label} {name}"
            )
        if chain.hook is not None:
            # a return in a base chain, or falling off a chain it went to: the policy decides
            claims = [
                Claim(c.order, c.intervals, end, end_ref) if c.outcome == "return" else c
                for c in claims
            ]
            lean = {k: (o, end if v == "return" else v) for k, (o, v) in lean.items()}
        claims.append(Claim(float(len(chain.rules)), self.full, end, end_ref))
        segments = self.settle(first_claims(claims), claims, lean)
        self.stack.pop()
        self.memo[key] = segments
        return segments

    def settle(
        self, segments: list[Segment], claims: list[Claim], lean: dict[int, tuple[float, Outcome]]
    ) -> list[Segment]:
        """A conditional rule whose verdict is what the rest of the chain decides anyway decides
        nothing: ``limit rate 5/second reject`` before ``policy drop`` drops either way. The
        rest of the chain is settled the same way first, from its end backwards."""
        orders = sorted({order for order, _ in lean.values()}, reverse=True)
        if not orders or len(orders) > _MAX_SETTLED:
            return segments
        later: dict[float, list[Segment]] = {}

        def resolve(segs: list[Segment]) -> list[Segment]:
            out: list[Segment] = []
            for s in segs:
                info = lean.get(id(s.rule)) if s.outcome == "conditional" else None
                if info is None:
                    out.append(s)
                    continue
                order, outcome = info
                part = clip(later[order], [(s.first, s.last)])
                if part and all(p.outcome == outcome for p in part):
                    out.extend(part)
                else:
                    out.append(s)
            return out

        for order in orders:  # the last first: resolve() only looks at later ones
            later[order] = resolve(first_claims(c for c in claims if c.order > order))
        return resolve(segments)

    def rule_claims(
        self,
        table: Table,
        chain: Chain,
        rule: Rule,
        order: float,
        claims: list[Claim],
        lean: dict[int, tuple[float, Outcome]],
    ) -> None:
        whys: list[str] = []
        self.narrowed = False
        branches = self.branches(table, rule, whys)
        narrowed = self.narrowed
        if not branches:
            return
        origin = self.origin(rule.line, rule.path)
        ref = RuleRef(origin, rule.text)
        why = "; ".join(dict.fromkeys(whys))
        for cond, verdict in branches:
            if not cond.yes and not cond.maybe:
                continue
            if isinstance(verdict, Opaque):
                reason = "; ".join(x for x in (why, verdict.why) if x)
                iv = _union(cond.yes, cond.maybe)
                claims.append(Claim(order, iv, "conditional", RuleRef(origin, rule.text, reason)))
                continue
            cref = RuleRef(origin, rule.text, why or "not settled by the export")
            kind = verdict.kind
            if narrowed:
                refs = (ref, cref)
                self.some_claims(table, chain, rule, refs, order, cond, verdict, claims, lean)
                continue
            if kind in _OUTCOMES:
                outcome = _OUTCOMES[kind]
                if cond.yes:
                    claims.append(Claim(order, cond.yes, outcome, ref))
                if cond.maybe:
                    claims.append(Claim(order, cond.maybe, "conditional", cref))
                    lean[id(cref)] = (order, outcome)
            elif kind in ("jump", "goto"):
                assert verdict.target is not None  # noqa: S101 (parsers always set it)
                sub = self.chain(table, verdict.target, rule)
                for s in clip(sub, cond.yes):
                    if kind == "goto" or s.outcome != "return":
                        claims.append(Claim(order, [(s.first, s.last)], s.outcome, s.rule))
                if kind == "goto" and cond.maybe:
                    claims.append(Claim(order, cond.maybe, "conditional", cref))
                else:
                    for s in clip(sub, cond.maybe):
                        if s.outcome != "return":
                            claims.append(Claim(order, [(s.first, s.last)], "conditional", cref))

    def some_claims(
        self,
        table: Table,
        chain: Chain,
        rule: Rule,
        refs: tuple[RuleRef, RuleRef],
        order: float,
        cond: Cond,
        verdict: Verdict,
        claims: list[Claim],
        lean: dict[int, tuple[float, Outcome]],
    ) -> None:
        """``--service any``, a rule that holds for some protocols or ports only (``cond``: the
        sources for which it holds for some): a drop (or a jump to a chain that drops) refuses
        part of every connection and denies; an accept is not every connection and is passed
        over, the source going on to the next rule; what goes back from the chain for those
        protocols only (``return``, or the end of a ``goto``) leaves the rest behind."""
        ref, cref = refs
        back: Outcome | None
        if chain.hook is None:
            back = "conditional"
            back_ref = RuleRef(
                ref.origin,
                ref.text,
                "only some protocols or ports go back to the calling chain (--service any)",
            )
        else:
            # in a base chain a return meets the policy: a drop denies, an accept grants nothing
            back = "return" if chain.policy != "accept" else None
            back_ref = ref
        kind = verdict.kind
        if kind in _OUTCOMES:
            outcome = _OUTCOMES[kind]
            if outcome == "accept" or (outcome == "return" and back is None):
                return
            if outcome == "return":
                assert back is not None  # noqa: S101 (checked above)
                if cond.yes:
                    claims.append(Claim(order, cond.yes, back, back_ref))
                if cond.maybe:
                    claims.append(Claim(order, cond.maybe, "conditional", cref))
                return
            if cond.yes:
                claims.append(Claim(order, cond.yes, outcome, ref))
            if cond.maybe:
                claims.append(Claim(order, cond.maybe, "conditional", cref))
                lean[id(cref)] = (order, outcome)
            return
        if kind not in ("jump", "goto"):
            return
        assert verdict.target is not None  # noqa: S101 (parsers always set it)
        sub = self.chain(table, verdict.target, rule)
        for surely, ivs in ((True, cond.yes), (False, cond.maybe)):
            for s in clip(sub, ivs):
                got, got_ref = s.outcome, s.rule
                if got == "accept":
                    continue  # accepted for some protocols only: grants nothing
                if got == "return":
                    if kind == "jump" or back is None:
                        continue  # back to the next rule, like the rest of the traffic
                    got, got_ref = back, back_ref
                if not surely:
                    got, got_ref = "conditional", cref
                claims.append(Claim(order, [(s.first, s.last)], got, got_ref))

    def branches(
        self, table: Table, rule: Rule, whys: list[str]
    ) -> list[tuple[Cond, Verdict | Opaque]]:
        """The rule as (where it holds, what it does) pairs; more than one for a verdict map."""
        cond = Cond(self.full, [])
        out: list[tuple[Cond, Verdict | Opaque]] = []
        understood = True
        for item in rule.items:
            if isinstance(item, Match):
                cond = _and(cond, self.match(table, rule, item, whys))
            elif isinstance(item, Maybe):
                cond = _and(cond, Cond([], self.full))
                whys.append(item.why)
            elif isinstance(item, NotUnderstood):
                understood = False
                whys.append(f"not understood: {item.what}")
            elif isinstance(item, Verdict):
                if item.kind != "continue":
                    out.append((cond, item))
                break
            elif isinstance(item, Opaque):
                out.append((cond, item))
                break
            else:  # VMap
                for elem, verdict in self.vmap_elements(table, rule, item):
                    key_cond = self.match(table, rule, Match(item.key, "==", elem), whys)
                    if verdict.kind != "continue":
                        out.append((_and(cond, key_cond), verdict))
                break
            if not cond.yes and not cond.maybe:
                return []
        if not understood:
            # what was not understood could be a match, a verdict or anything: the addresses
            # the rest of the rule reaches are undecided
            if not out:
                out = [(cond, Opaque(""))]
            return [(Cond([], _union(c.yes, c.maybe)), Opaque("")) for c, _ in out]
        return out

    def vmap_elements(self, table: Table, rule: Rule, item: VMap) -> list[tuple[Value, Verdict]]:
        data = item.data
        if isinstance(data, Ref):
            nset = table.sets.get(data.name)
            if nset is None:
                raise self.error(rule, f"map @{data.name} does not exist in {table.label}")
            elems: Sequence[Elem] = nset.elems
        elif isinstance(data, AnonSet):
            elems = data.elems
        else:
            raise self.error(rule, f"vmap needs {{ key : verdict, ... }} or @map, not {data}")
        out: list[tuple[Value, Verdict]] = []
        for e in elems:
            if not isinstance(e.data, Verdict):
                raise self.error(rule, f"the map element {_render_value(e.key)} has no verdict")
            out.append((e.key, e.data))
        return out

    # matches

    def match(self, table: Table, rule: Rule, m: Match, whys: list[str]) -> Cond:
        try:
            return self.match_cond(table, m, whys)
        except _Problem as e:
            raise self.error(rule, str(e)) from None

    def match_cond(self, table: Table, m: Match, whys: list[str]) -> Cond:
        left, op, right = m.left, m.op, m.right
        if isinstance(right, Masked):
            left, right = Masking(left, "&", right.mask), right.value
        parts = left.parts if isinstance(left, Concat) else (left,)
        terms = [self.term(p) for p in parts]
        if any(t.kind == "absent" for t in terms):
            return NEVER
        if op in ("exists", "missing"):
            if all(t.kind == "some" for t in terms):
                return Cond(self.full, [])  # the header of some connections
            whys.extend(t.why for t in terms if t.why and t.kind != "some")
            return Cond([], self.full)
        if (
            len(terms) == 1
            and terms[0].kind == "const"
            and terms[0].type in ("ctstate", "tcpflags")
        ):
            if op == "in" and not isinstance(right, AnonSet | Ref):
                names = _CT_STATE if terms[0].type == "ctstate" else _TCP_FLAGS
                hit = bool(terms[0].value & _bits(right, names))
                return Cond(self.full, []) if hit else NEVER
            op = "==" if op == "in" else op
        if op in ("<", ">", "<=", ">="):
            return self.compare(terms[0], op, right, whys)
        if isinstance(right, Ref) and (table.family, table.name, right.name) in self.dynamic:
            whys.append(f"set @{right.name} is filled at run time")
            return Cond([], self.full)
        if len(terms) == 1 and terms[0].type == "sport" and op in ("==", "in", "!="):
            # the elements together, so that ranges that only together hold every port do
            proto = self.env.probe.protocol
            ranges = [_numbers(a, "port", proto) for a in self.atoms(table, right)]
            return self.client_port(terms[0], ranges, op == "!=", whys)
        if len(terms) > 1 and sum(t.kind == "src" for t in terms) > 1:
            whys.append("a concatenation of two source fields")
            return Cond([], self.full)
        if op == "!=" and any(t.kind == "some" for t in terms):
            # a protocol or port outside the values: some connection of every source has one
            return Cond(self.full, [])
        if len(terms) == 1 and terms[0].kind == "src":
            key: tuple[object, ...] = (
                ("set", table.family, table.name, right.name)
                if isinstance(right, Ref)
                else ("value", id(right))
            )
            key = (*key, self.env.family)
            if key not in self.sources:
                self.sources[key] = self.members(table, terms, self.atoms(table, right), whys)
            result = self.sources[key]
        else:
            result = self.members(table, terms, self.atoms(table, right), whys)
        if op == "!=":
            return _not(result, self.bits)
        if op not in ("==", "in"):
            raise _Problem(f"operator {op!r} is not understood")
        return result

    def atoms(self, table: Table, right: Value) -> Sequence[Value]:
        if isinstance(right, AnonSet):
            return [e.key for e in right.elems]
        if isinstance(right, Ref):
            nset = table.sets.get(right.name)
            if nset is None:
                raise _Problem(f"set @{right.name} does not exist in table {table.label}")
            return [e.key for e in nset.elems]
        return [right]

    def members(
        self, table: Table, terms: list[Term], atoms: Sequence[Value], whys: list[str]
    ) -> Cond:
        """Where one of the elements matches; each element is a value or a concatenation."""
        unknown = [t for t in terms if t.kind == "unknown"]
        whys.extend(t.why for t in unknown)
        yes: IV = []
        maybe: IV = []
        for atom in atoms:
            parts = atom.parts if isinstance(atom, Cat) else (atom,)
            if len(parts) != len(terms):
                raise _Problem(
                    f"the element {_render_value(atom)} has {len(parts)} parts for"
                    f" {len(terms)} fields"
                )
            sure = True
            where = self.full
            for term, part in zip(terms, parts, strict=True):
                if term.kind == "src":
                    where = _addresses(part, self.env.family)
                elif term.kind == "some":
                    continue  # every protocol or port: some connection has this one
                elif term.kind == "unknown":
                    sure = False
                else:
                    hit = self.const_match(term, part)
                    if hit is False:
                        break
                    if hit is None:
                        sure = False
                        whys.append(term.why)
            else:
                if sure:
                    yes.extend(where)
                else:
                    maybe.extend(where)
        y = merge(yes)
        return Cond(y, _minus(merge(maybe), y))

    def compare(self, term: Term, op: str, right: Value, whys: list[str]) -> Cond:
        if term.kind == "some":
            return Cond(self.full, [])  # some protocol or port is on that side
        if term.kind == "unknown":
            whys.append(term.why)
            return Cond([], self.full)
        if term.kind == "src":
            (lo, hi) = _addresses(right, self.env.family)[0]
            top = (1 << self.bits) - 1
            iv = {"<": (0, lo - 1), "<=": (0, hi), ">": (hi + 1, top), ">=": (lo, top)}[op]
            return Cond([iv] if iv[0] <= iv[1] else [], [])
        if term.type == "sport":
            n, _ = _numbers(right, "port", self.env.probe.protocol)
            rng = {"<": (0, n - 1), "<=": (0, n), ">": (n + 1, 65535), ">=": (n, 65535)}[op]
            return self.client_port(term, [rng], False, whys)
        if term.type not in ("port", "proto", "int"):
            raise _Problem(f"{op} needs a number")
        n, _ = _numbers(right, term.type, self.env.probe.protocol)
        v = term.value
        hit = {"<": v < n, "<=": v <= n, ">": v > n, ">=": v >= n}[op]
        return Cond(self.full, []) if hit else NEVER

    def client_port(
        self, term: Term, ranges: Sequence[tuple[int, int]], negated: bool, whys: list[str]
    ) -> Cond:
        hit = client_ports(ranges, negated)
        if hit is None:
            whys.append(term.why)
            return Cond([], self.full)
        return Cond(self.full, []) if hit else NEVER

    def const_match(self, term: Term, part: Value) -> bool | None:
        t, v = term.type, term.value
        if t == "sport":
            return client_ports([_numbers(part, "port", self.env.probe.protocol)], False)
        if t in ("port", "proto", "int"):
            lo, hi = _numbers(part, t, self.env.probe.protocol)
            return bool(lo <= v <= hi)
        if t == "ctstate":
            return bool(v == _bits(part, _CT_STATE))
        if t == "tcpflags":
            return bool(v == _bits(part, _TCP_FLAGS))
        if t == "addr":
            return any(a <= v <= b for a, b in _addresses(part, self.env.family))
        if t == "iface":
            name = _text(part)
            if v == "none":
                return False  # no output interface on the input hook
            if name == "lo":
                return False  # a connection from another host never arrives on lo
            return None
        if t == "iftype":
            return False if _text(part) == "loopback" else None
        if t == "nfproto":
            return bool(_NFPROTO.get(_text(part).lower()) == v)
        if t == "ethertype":
            return bool(_ETHERTYPE.get(_text(part).lower()) == v)
        return bool(_text(part).lower() == v)

    def term(self, e: Expr) -> Term:
        env = self.env
        if isinstance(e, Concat):
            raise _Problem("a concatenation inside a concatenation")
        if isinstance(e, Masking):
            inner = self.term(e.left)
            if inner.kind != "const" or inner.type not in ("tcpflags", "ctstate", "int", "port"):
                if inner.kind in ("absent", "some"):
                    return inner
                return Term("unknown", why=f"a masked value ({_render_expr(e)})")
            names = _TCP_FLAGS if inner.type == "tcpflags" else _CT_STATE
            return Term("const", inner.type, _bitop(e.op, inner.value, _bits(e.right, names)))
        words = e.name.split()
        head = words[0]
        field_ = " ".join(words[1:])
        proto = env.probe.protocol
        if head == "literal":
            return Term("const", "str", field_.lower())
        if head in ("ip", "ip6"):
            if env.family != (4 if head == "ip" else 6):
                return _ABSENT
            if field_ == "saddr":
                return Term("src")
            if field_ == "daddr":
                return self.destination()
            if field_ in ("protocol", "nexthdr"):
                if proto == "any":
                    return self.some(e.name)
                return Term("const", "proto", _PROTOCOLS.get(proto, 0))
            if field_ == "version":
                return Term("const", "int", env.family)
            return Term("unknown", why=f"the {e.name} field")
        if proto == "any" and (head in _PORT_PROTOCOLS or head == "th"):
            # --service any: the header of some connections; a SYN opens those of TCP
            self.narrowed = True
            if e.name == "tcp flags":
                return Term("const", "tcpflags", _TCP_FLAGS["syn"])
            if field_ == "dport":
                return self.some(e.name)
            if field_ == "sport":
                return _SPORT._replace(why=f"the client's source port ({e.name})")
            return Term("unknown", why=f"the {e.name} field")
        if head in _PORT_PROTOCOLS or head == "th":
            if (head == "th" and proto not in _PORT_PROTOCOLS) or (head != "th" and proto != head):
                return _ABSENT
            if field_ == "dport":
                return Term("const", "port", env.probe.port)
            if field_ == "sport":
                return _SPORT._replace(why=f"the client's source port ({e.name})")
            if e.name == "tcp flags":
                return Term("const", "tcpflags", _TCP_FLAGS["syn"])
            return Term("unknown", why=f"the {e.name} field")
        if head in _OTHER_L4 or e.name.startswith("sctp chunk"):
            # icmp implies IPv4 and icmpv6 IPv6, as nft adds ``meta nfproto`` for them
            other = {"icmp": 6, "igmp": 6, "icmpv6": 4}.get(head)
            if proto != "any" or head == "arp" or other == env.family:
                return _ABSENT
            return self.some(e.name)
        if head in _IP6_EXTHDRS or (head == "rt" and field_ not in _ROUTING_INFO):
            # an IPv6 extension header (``rt type 0`` is the routing header, not routing info)
            if env.family == 4:
                return _ABSENT
            return Term("unknown", why=f"an IPv6 extension header ({e.name})")
        if head == "meta":
            return self.meta(field_)
        if head == "ct":
            return self.ct(words[1:])
        if head == "fib":
            if words[-1] == "type" and "saddr" not in words[1]:
                return Term("const", "str", "unicast" if env.hook == "forward" else "local")
            return Term("unknown", why=f"a routing lookup ({e.name})")
        if head in ("ether", "vlan"):
            return Term("unknown", why=f"the link layer ({e.name})")
        return Term("unknown", why=f"{e.name}")

    def destination(self) -> Term:
        to = self.env.to
        if to is None:
            return Term("unknown", why="the destination address (give --to to evaluate it)")
        if to[0] != self.env.family:
            return Term(
                "unknown", why=f"the IPv{self.env.family} destination address (--to is another)"
            )
        return Term("const", "addr", to[1])

    def meta(self, key: str) -> Term:
        env = self.env
        if key == "l4proto":
            if env.probe.protocol == "any":
                return self.some("meta l4proto")
            return Term("const", "proto", _PROTOCOLS.get(env.probe.protocol, 0))
        if key == "nfproto":
            return Term("const", "nfproto", "ipv4" if env.family == 4 else "ipv6")
        if key == "protocol":
            return Term("const", "ethertype", "ip" if env.family == 4 else "ip6")
        if key in ("iif", "iifname"):
            return Term("const", "iface", _REMOTE, f"the input interface ({key})")
        if key in ("oif", "oifname"):
            if env.hook in ("input", "prerouting", "ingress"):
                return Term("const", "iface", "none")
            return Term("unknown", why=f"the output interface ({key})")
        if key == "iiftype":
            return Term("const", "iftype", _REMOTE, "the input interface type")
        if key == "pkttype":
            return Term("const", "str", "host")
        return Term("unknown", why=_UNKNOWN_WHY.get(key, f"meta {key}"))

    def ct(self, words: list[str]) -> Term:
        env = self.env
        if words and words[0] in ("original", "reply"):
            if words[0] == "reply":
                return Term("unknown", why=f"ct {' '.join(words)}")
            rest = words[1:]
            if rest and rest[0] in ("ip", "ip6"):
                if env.family != (4 if rest[0] == "ip" else 6):
                    return _ABSENT
                rest = rest[1:]
            key = rest[0] if rest else ""
            if key == "saddr":
                return Term("src")
            if key == "daddr":
                return self.destination()
            if key in ("proto-dst", "proto-src", "protocol") and env.probe.protocol == "any":
                return self.some(f"ct {' '.join(words)}")
            if key == "proto-dst":
                return Term("const", "port", env.probe.port)
            if key == "proto-src":
                return _SPORT._replace(why=f"the client's source port (ct {' '.join(words)})")
            return Term("unknown", why=f"ct {' '.join(words)}")
        key = words[0] if words else ""
        if key == "state":
            return Term("const", "ctstate", _CT_STATE[self.env.ct_state])
        if key == "direction":
            return Term("const", "str", "original")
        if key == "l3proto":
            return Term("const", "nfproto", "ipv4" if env.family == 4 else "ipv6")
        if key == "protocol":
            if env.probe.protocol == "any":
                return self.some("ct protocol")
            return Term("const", "proto", _PROTOCOLS.get(env.probe.protocol, 0))
        return Term("unknown", why=f"the connection's {key} (ct {key})")

    def some(self, what: str) -> Term:
        """``--service any``: a protocol or port, which takes every value; the rule is narrowed
        to some connections."""
        self.narrowed = True
        return Term("some", why=what)


# --- the readers -----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Stage:
    table: Table
    chain: Chain
    why: str
    """Non-empty: the chain only sees some packets (a device, a bridge); its drops are
    conditional."""


def _stages(rs: Ruleset, family: int, hook: str) -> tuple[list[_Stage], bool]:
    """The base chains a packet of the family passes on its way to the hook, and whether the
    ruleset filters that way for the family at all (an ip, ip6 or inet base chain on the hook
    or on prerouting)."""
    fam = "ip" if family == 4 else "ip6"
    stages: list[tuple[tuple[int, int, int], _Stage]] = []
    covered = False
    for n, table in enumerate(rs.tables.values()):
        if table.dormant:
            continue
        for chain in table.chains.values():
            if chain.hook is None:
                continue
            why = ""
            if table.family in (fam, "inet"):
                if chain.hook in (hook, "prerouting"):
                    covered = True
                elif chain.hook == "ingress":
                    why = f"only packets arriving on {', '.join(chain.devices) or 'a device'}"
                else:
                    continue
            elif table.family == "netdev" and chain.hook == "ingress":
                why = f"only packets arriving on {', '.join(chain.devices) or 'a device'}"
            elif (
                table.family == "bridge"
                and hook == "input"
                and chain.hook
                in (
                    "prerouting",
                    "input",
                )
            ):
                why = "only frames arriving through a bridge port"
            else:
                continue
            rank = (_HOOK_RANK.get(chain.hook, 2), chain.priority, n)
            stages.append((rank, _Stage(table, chain, why)))
    stages.sort(key=lambda s: s[0])
    return [s for _, s in stages], covered


def _dynamic_sets(rs: Ruleset) -> frozenset[tuple[str, str, str]]:
    out = set(rs.dynamic)
    for table in rs.tables.values():
        for nset in table.sets.values():
            if nset.flags & {"dynamic", "timeout"}:
                out.add((table.family, table.name, nset.name))
    return frozenset(out)


def _chain_spec(rs: Ruleset, spec: str, name: str) -> tuple[Table, Chain]:
    """``--chain NAME``, ``TABLE NAME`` or ``FAMILY TABLE NAME``: one chain evaluated alone."""
    words = spec.split()
    found = []
    for table in rs.tables.values():
        for chain in table.chains.values():
            full = [table.family, table.name, chain.name]
            if words == full[-len(words) :]:
                found.append((table, chain))
    if not found:
        raise ReaderError(
            f"the ruleset has no chain {spec!r}",
            source=name,
            hint="give INPUT or FORWARD (the hooks), or a chain as NAME, 'TABLE NAME' or"
            " 'FAMILY TABLE NAME'",
        )
    if len(found) > 1:
        raise ReaderError(
            f"chain {spec!r} is in several tables: "
            + ", ".join(f"{t.label} {c.name}" for t, c in found),
            source=name,
            hint="name it as 'FAMILY TABLE NAME'",
        )
    return found[0]


def _table_families(table: Table) -> tuple[int, ...]:
    return {"ip": (4,), "ip6": (6,)}.get(table.family, (4, 6))


def evaluate(rs: Ruleset, ctx: ReadContext, data: bytes, fmt: str) -> RangeSet:
    """The RangeSet of a parsed ruleset for the service in ``ctx``."""
    name = ctx.name
    to: tuple[int, int] | None = None
    if ctx.to:
        try:
            fam, value, _ = ipspace.parse_address(ctx.to)
        except AddressError as e:
            raise ReaderError(f"--to: {e}", source=name) from None
        to = (fam, value)
    spec = (ctx.chain or "INPUT").strip()
    hook = spec.lower() if spec.lower() in ("input", "forward") else None
    shared = _Shared(rs, name, _dynamic_sets(rs))
    verdicts: list[Verdicts] = []
    findings: list[Finding] = []
    for table in rs.tables.values():
        if table.dormant:
            findings.append(
                Finding(
                    "dormant-table",
                    Severity.INFO,
                    f"table {table.label} is dormant (flags dormant): its chains filter nothing",
                    Origin(name, table.line),
                )
            )
    if hook is None:
        table, chain = _chain_spec(rs, spec, name)
        for family in _table_families(table):
            alone: list[list[Segment]] = []
            for probe in probes(ctx, rs):
                env = _Env(family, probe, chain.hook or "input", to, _ct_state(chain))
                segs = _Evaluator(shared, env).chain(table, chain.name)
                alone.append([_end_accepts(s) for s in segs])
            segments = tuple(combine(alone, ipspace.BITS[family]))
            verdicts.append(Verdicts(family, segments, (_placed(table, chain, segments),)))
    else:
        for family in (4, 6):
            stages, covered = _stages(rs, family, hook)
            if not covered:
                findings.append(
                    Finding(
                        "family-not-covered",
                        Severity.INFO,
                        f"no base chain on the {hook} or prerouting hook sees IPv{family} (no"
                        f" ip{'' if family == 4 else '6'} or inet table has one): this ruleset"
                        f" does not speak for IPv{family}",
                        Origin(name),
                    )
                )
                continue
            bits = ipspace.BITS[family]
            per_probe: list[list[Segment]] = []
            seen: list[list[list[Segment]]] = [[] for _ in stages]
            for probe in probes(ctx, rs):
                evaluators: dict[tuple[str, str], _Evaluator] = {}
                per_stage: list[list[Segment]] = []
                main: list[Segment] | None = None
                main_hook = ""
                for stage in stages:
                    h = stage.chain.hook or hook
                    key = (h, _ct_state(stage.chain))
                    if key not in evaluators:
                        env = _Env(family, probe, h, to, key[1])
                        evaluators[key] = _Evaluator(shared, env)
                    segs = evaluators[key].chain(stage.table, stage.chain.name)
                    if stage.why:
                        segs = [_only_some(s, stage.why) for s in segs]
                    elif main is None or (h == hook and main_hook != hook):
                        main, main_hook = segs, h
                    per_stage.append(segs)
                    seen[len(per_stage) - 1].append(segs)
                assert main is not None  # noqa: S101 (covered means a chain without a why)
                per_probe.append(_sequence(per_stage, main, bits))
            placed = tuple(
                _placed(st.table, st.chain, tuple(combine(segs, bits)))
                for st, segs in zip(stages, seen, strict=True)
            )
            verdicts.append(Verdicts(family, tuple(combine(per_probe, bits)), placed))
        if not verdicts:
            raise ReaderError(
                f"no base chain on the {hook} or prerouting hook in an ip, ip6 or inet table",
                source=name,
                hint="this ruleset does not filter that traffic; choose another hook with --chain"
                " (INPUT, FORWARD) or a chain by name ('FAMILY TABLE NAME')",
            )
    info = SourceInfo.for_bytes(name, ctx.role, fmt, data, ctx.now)
    result = FirewallResult(info, verdicts, findings, list(rs.unsupported))
    result.objects = lambda: set_objects(rs, name)
    out = verdicts_rangeset(result)
    if rs.includes:
        reasons = tuple(
            f"{inc} is not followed: its rules are not evaluated" for inc in rs.includes
        )
        out = replace(out, completeness=Completeness.PARTIAL, reasons=out.reasons + reasons)
    return out


def _set_family(type_: str) -> int:
    """4 or 6 for a set of addresses (``type ipv4_addr``, ``typeof ip saddr``); 0 else."""
    if " . " in type_ or ":" in type_:
        return 0
    words = type_.split()
    if "ipv4_addr" in words or (words and words[0] == "ip"):
        return 4
    if "ipv6_addr" in words or (words and words[0] == "ip6"):
        return 6
    return 0


def set_objects(rs: Ruleset, name: str) -> tuple[list[Entry], list[str]]:
    """The objects ``--scope`` can name: every named set of addresses, as ``TABLE/SET`` (its
    elements as written; elements added at run time are not in the ruleset)."""
    entries: list[Entry] = []
    names: list[str] = []
    for table in rs.tables.values():
        for nset in table.sets.values():
            family = _set_family(nset.type)
            if nset.kind != "set" or not family:
                continue
            group = f"{table.name}/{nset.name}"
            names.append(group)
            origin = Origin(name, nset.line, f"set {table.label} {nset.name}")
            for elem in nset.elems:
                try:
                    intervals = _addresses(elem.key, family)
                except _Problem:
                    continue  # refused when the ruleset was read (_validate)
                entries.extend(Entry(family, a, b, origin, group) for a, b in intervals)
    return entries, names


def _sequence(stages: Sequence[list[Segment]], main: list[Segment], bits: int) -> list[Segment]:
    """Base chains one after the other, in the order a packet meets them: a drop anywhere stops
    it (the first dropping chain's rule is shown), else a conditional anywhere leaves it open,
    else it is accepted, and the rule shown is the first audited-hook chain's."""
    if len(stages) == 1:
        return list(main)
    out: list[Segment] = []
    for seg in combine(stages, bits):
        if seg.outcome == "accept":
            out.extend(clip(main, [(seg.first, seg.last)]))
        else:
            out.append(seg)
    return out


def _placed(table: Table, chain: Chain, segments: tuple[Segment, ...]) -> Stage:
    return Stage(
        "nftables",
        table.name,
        chain.name,
        chain.hook or "",
        chain.priority,
        chain.type or "filter",
        segments,
        table.family,
    )


def _end_accepts(s: Segment) -> Segment:
    """A chain evaluated alone: falling off its end lets the packet go on."""
    if s.outcome != "return":
        return s
    return Segment(s.first, s.last, "accept", s.rule)


def _only_some(s: Segment, why: str) -> Segment:
    if s.outcome != "drop":
        return s
    rule = RuleRef(s.rule.origin, s.rule.text, "; ".join(x for x in (s.rule.why, why) if x))
    return Segment(s.first, s.last, "conditional", rule)


_TEXT_HEAD = re.compile(
    rb"(table\s+((ip|ip6|inet|arp|bridge|netdev)\s+)?[\w.-]+\s*(\{.*)?"
    rb"|flush\s+ruleset\b.*|define\s+\w+\s*=.*|include\s+\".*"
    rb"|(add|create|insert|delete|flush)\s+(table|chain|rule|set|map|element)\s.*)"
)


def sniff_text(data: bytes) -> bool:
    """nft text: a ``table ... {``, ``flush ruleset``, ``define``, ``include`` or ``add ...``
    command first, or an ``#!/usr/sbin/nft`` interpreter line."""
    for raw in data[:4096].lstrip(b"\xef\xbb\xbf").splitlines():
        line = raw.strip()
        if not line:
            continue
        if line.startswith(b"#!"):
            if b"nft" in line:
                return True
            continue
        if line.startswith(b"#"):
            continue
        return _TEXT_HEAD.fullmatch(line) is not None
    return False


def sniff_json(data: bytes) -> bool:
    """nft JSON: an object whose first key is ``"nftables"``."""
    return re.match(rb'\s*\{\s*"nftables"\s*:', data[:4096].lstrip(b"\xef\xbb\xbf")) is not None


def _validate(rs: Ruleset, name: str) -> None:
    """Addresses and ports are read when the ruleset is, so that a broken one is an error at
    its line even in a chain the service never reaches (nft itself would refuse the file)."""
    for table in rs.tables.values():
        for nset in table.sets.values():
            fam = 4 if "ipv4_addr" in nset.type else 6 if "ipv6_addr" in nset.type else 0
            if fam and " . " not in nset.type and ":" not in nset.type:
                for e in nset.elems:
                    try:
                        _addresses(e.key, fam)
                    except _Problem as p:
                        raise ReaderError(
                            f"set {nset.name}: {p}", source=name, line=nset.line
                        ) from None
        for chain in table.chains.values():
            for rule in chain.rules:
                for item in rule.items:
                    if isinstance(item, Match) and isinstance(item.left, Sel):
                        _validate_match(item, rule, name)


def _validate_match(m: Match, rule: Rule, name: str) -> None:
    assert isinstance(m.left, Sel)  # noqa: S101
    words = m.left.name.split()
    right = m.right
    atoms = [e.key for e in right.elems] if isinstance(right, AnonSet) else [right]
    try:
        if len(words) == 2 and words[0] in ("ip", "ip6") and words[1] in ("saddr", "daddr"):
            for a in atoms:
                if not isinstance(a, Ref):
                    _addresses(a, 4 if words[0] == "ip" else 6)
        elif (
            len(words) == 2
            and words[1] == "dport"
            and (words[0] in _PORT_PROTOCOLS or words[0] == "th")
        ):
            for a in atoms:
                if not isinstance(a, Ref):
                    _numbers(a, "port", words[0])
    except _Problem as p:
        raise ReaderError(str(p), source=name, line=rule.line) from None


def read_ruleset(data: bytes, ctx: ReadContext, fmt: str) -> Ruleset:
    """The ruleset as read, not evaluated (``fmt``: ``nftables`` or ``nftables-json``)."""
    text = decode_text(data, ctx)
    if fmt == "nftables-json":
        rs = _JsonParser(text, ctx.name).parse()
    else:
        rs = _TextParser(text, ctx.name).parse()
    _validate(rs, ctx.name)
    return rs


class NftablesReader(Reader):
    name = "nftables"
    description = "nft list ruleset / nft -f file: the base chains on the input (or forward) hook"
    suffixes = (".nft", ".nftables")
    ruleset = True

    @staticmethod
    def sniff(data: bytes) -> bool:
        return sniff_text(data)

    def parse(self, data: bytes, ctx: ReadContext) -> RangeSet:
        return evaluate(read_ruleset(data, ctx, self.name), ctx, data, self.name)


class NftablesJsonReader(Reader):
    name = "nftables-json"
    description = "nft -j list ruleset (JSON): the base chains on the input (or forward) hook"
    ruleset = True

    @staticmethod
    def sniff(data: bytes) -> bool:
        return sniff_json(data)

    def parse(self, data: bytes, ctx: ReadContext) -> RangeSet:
        return evaluate(read_ruleset(data, ctx, self.name), ctx, data, self.name)
