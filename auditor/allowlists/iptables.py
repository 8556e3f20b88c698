"""``iptables-save`` / ``ip6tables-save`` exports (and ``iptables-restore`` files): the filter
table evaluated for the service, first match, chain by chain.

What is understood, for a NEW connection to the service (``--service``, default tcp/25) in
the audited chain (``--chain``, default INPUT; FORWARD for a gateway):

- chains and their policies (``:INPUT DROP [0:0]``, ``-P``, ``-N``), ``-A`` rules in order;
  ``-j ACCEPT``, ``DROP``, ``REJECT``, ``RETURN``, jumps to user chains, ``-g`` (goto: a
  RETURN there returns from the calling chain too); LOG, MARK and other non-terminating
  targets are passed over;
- ``-s``/``! -s`` (comma lists), ``-p``, ``--dport``/``! --dport`` (``a:b`` ranges),
  ``-m multiport --dports``, ``-m iprange --src-range``, ``-m set --match-set NAME src``
  (members from an ``ipset save`` file given with ``--declared``; without it the rule makes
  its addresses conditional), ``-m conntrack --ctstate`` / ``-m state --state`` (evaluated
  for NEW), ``--syn``, ``-m comment``, ``-m addrtype --dst-type LOCAL``;
- ``-d`` is evaluated when ``--to ADDRESS`` is given, otherwise a rule restricted to some
  destinations makes its sources conditional;
- ``-i lo`` never matches a connection from another host; any other ``-i``, rate limits,
  ``recent``, ``time``, ``owner`` and modules not listed here make the rule's addresses
  conditional, named in the reasons, never skipped silently.

iptables and ip6tables exports are separate files: a file covers one family (from its
header, else its addresses), and the other family is not covered by it.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field

from auditor import ipspace
from auditor.allowlists.base import ReadContext, Reader, ReaderError, decode_text, register
from auditor.allowlists.firewall import (
    Claim,
    FirewallResult,
    Outcome,
    RuleRef,
    Segment,
    Verdicts,
    clip,
    combine,
    complement,
    first_claims,
    merge,
    verdicts_rangeset,
)
from auditor.errors import AddressError
from auditor.model import Finding, Origin, RangeSet, Severity, SourceInfo

_TERMINAL = {"ACCEPT": "accept", "DROP": "drop", "REJECT": "drop", "RETURN": "return"}
_PASS_OVER = frozenset(
    {"LOG", "NFLOG", "ULOG", "MARK", "CONNMARK", "TRACE", "NOTRACK", "CT", "AUDIT", "SET",
     "CLASSIFY", "DSCP", "TOS", "TTL", "HL", "TCPMSS", "CHECKSUM", "SECMARK", "CONNSECMARK",
     "IDLETIMER", "LED", "RATEEST", "TEE"}
)  # fmt: skip
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
}
_IGNORED_MODULES = frozenset({"tcp", "udp", "comment", "icmp", "icmp6", "icmpv6", "ipv6header"})
_PROTO_NUMBERS = {"6": "tcp", "17": "udp", "1": "icmp", "58": "ipv6-icmp"}


@dataclass(frozen=True)
class Probe:
    protocol: str
    port: int


@dataclass
class Rule:
    chain: str
    line: int
    text: str
    target: str | None = None
    goto: bool = False
    protocol: str | None = None
    protocol_negated: bool = False
    sources: list[tuple[int, int]] | None = None
    """None: any source."""
    destinations: list[tuple[int, int]] | None = None
    dports: list[tuple[int, int]] | None = None
    dports_negated: bool = False
    new_ok: bool = True
    """False when a state/conntrack match excludes NEW connections, or ``! --syn``."""
    why: list[str] = field(default_factory=list)
    """Conditions the export cannot settle; non-empty makes the rule conditional."""
    in_lo: bool = False

    def matches(self, probe: Probe) -> bool:
        """Whether the rule can match a NEW connection to the probe's port (sources aside)."""
        if not self.new_ok or self.in_lo:
            return False
        if self.protocol is not None and self.protocol != "all":
            same = self.protocol == probe.protocol
            if same == self.protocol_negated:
                return False
        if self.dports is not None:
            inside = any(a <= probe.port <= b for a, b in self.dports)
            if inside == self.dports_negated:
                return False
        return True


@dataclass
class Ruleset:
    family: int
    chains: dict[str, list[Rule]] = field(default_factory=dict)
    policies: dict[str, tuple[str, int, str]] = field(default_factory=dict)
    """Built-in chain: (policy, line, text)."""
    unsupported: list[str] = field(default_factory=list)


def _tokens(line: str) -> list[str]:
    if '"' in line or "'" in line or "\\" in line:
        return shlex.split(line)
    return line.split()


def sniff(data: bytes) -> bool:
    """An iptables-save export: ``*filter`` or chain lines before anything else."""
    for raw in data[:4096].splitlines():
        line = raw.strip()
        if not line or line.startswith(b"#"):
            continue
        return line.startswith((b"*filter", b"*nat", b"*mangle", b"*raw", b"*security")) or bool(
            re.match(rb"^(:[A-Za-z_][\w.-]* [A-Z-]+|-[ANP] [A-Za-z_][\w.-]*)( |$)", line)
        )
    return False


class _Parser:
    def __init__(self, text: str, ctx: ReadContext) -> None:
        self.ctx = ctx
        self.text = text
        head = text[:300]
        self.family = 6 if "ip6tables" in head else 4 if "iptables" in head else 0

    def error(self, line: int, message: str, hint: str | None = None) -> ReaderError:
        return ReaderError(message, source=self.ctx.name, line=line, hint=hint)

    def addresses(self, value: str, line: int) -> list[tuple[int, int]]:
        out = []
        for part in value.split(","):
            try:
                parsed = ipspace.parse(part, "fix")
            except AddressError as e:
                raise self.error(line, str(e)) from None
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
        rules: list[Rule] = []
        chains: dict[str, list[Rule]] = {}
        policies: dict[str, tuple[str, int, str]] = {}
        unsupported: list[str] = []
        table = "filter"
        saw_table = False
        for lineno, raw in enumerate(self.text.split("\n"), 1):
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            if line.startswith("*"):
                table, saw_table = line[1:].strip(), True
                continue
            if line == "COMMIT":
                continue
            if table != "filter":
                continue
            if line.startswith(":"):
                parts = line[1:].split()
                if len(parts) < 2:
                    raise self.error(lineno, f"cannot read the chain line {line!r}")
                chains.setdefault(parts[0], [])
                if parts[1] != "-":
                    policies[parts[0]] = (parts[1], lineno, line)
                continue
            tokens = _tokens(line)
            op = tokens[0]
            if op in ("-N", "--new-chain") and len(tokens) >= 2:
                chains.setdefault(tokens[1], [])
            elif op in ("-P", "--policy") and len(tokens) >= 3:
                policies[tokens[1]] = (tokens[2], lineno, line)
            elif op in ("-A", "--append") and len(tokens) >= 2:
                rule = self.rule(tokens[1], tokens[2:], lineno, line)
                chains.setdefault(rule.chain, []).append(rule)
                rules.append(rule)
            elif op in ("-I", "--insert") and len(tokens) >= 2:
                rest = tokens[2:]
                pos = 1
                if rest and rest[0].isdigit():
                    pos, rest = int(rest[0]), rest[1:]
                rule = self.rule(tokens[1], rest, lineno, line)
                chains.setdefault(rule.chain, []).insert(pos - 1, rule)
            else:
                unsupported.append(f"{self.ctx.name}:{lineno}: {line[:80]!r} not understood")
        if not saw_table and not chains:
            raise self.error(1, "no filter table and no chain: this is not an iptables-save export")
        return Ruleset(self.family or 4, chains, policies, unsupported)

    def rule(self, chain: str, args: list[str], lineno: int, text: str) -> Rule:
        rule = Rule(chain, lineno, text)
        i = 0
        negate = False
        module = ""

        def value() -> str:
            nonlocal i
            i += 1
            if i >= len(args):
                raise self.error(lineno, f"{args[i - 1]} needs a value")
            v = args[i]
            return v

        while i < len(args):
            a = args[i]
            if a == "!":
                negate = True
                i += 1
                continue
            if i + 1 < len(args) and args[i + 1] == "!" and a.startswith("-"):
                # old syntax: -s ! 10.0.0.0/8
                negate = True
                args = args[: i + 1] + args[i + 2 :]
            if a in ("-p", "--protocol"):
                proto = value().lower()
                rule.protocol = _PROTO_NUMBERS.get(proto, proto)
                rule.protocol_negated = negate
            elif a in ("-s", "--source", "--src"):
                src = self.addresses(value(), lineno)
                rule.sources = _and(rule.sources, _not(src, negate, self.bits))
            elif a in ("-d", "--destination", "--dst"):
                dst = self.addresses(value(), lineno)
                rule.destinations = _and(rule.destinations, _not(dst, negate, self.bits))
            elif a in ("-i", "--in-interface"):
                name = value()
                if name == "lo" and not negate:
                    rule.in_lo = True  # loopback: never a connection from another host
                elif not (name == "lo" and negate):
                    rule.why.append(f"the interface is {'not ' if negate else ''}{name}")
            elif a in ("-o", "--out-interface"):
                name = value()
                if self.ctx.chain != "INPUT":
                    rule.why.append(f"the output interface is {'not ' if negate else ''}{name}")
            elif a in ("-j", "--jump", "-g", "--goto"):
                rule.target = value()
                rule.goto = a in ("-g", "--goto")
                i += 1
                # target options (--reject-with, --log-prefix "...") belong to the target
                while i < len(args) and not args[i].startswith(("-m", "--match")):
                    i += 1
                continue
            elif a in ("-m", "--match"):
                module = value().lower()
                if module in _CONDITIONAL_MODULES:
                    rule.why.append(f"{_CONDITIONAL_MODULES[module]} (-m {module})")
                elif module not in _IGNORED_MODULES | {
                    "multiport", "iprange", "set", "conntrack", "state", "addrtype"
                }:  # fmt: skip
                    rule.why.append(f"-m {module}, which is not evaluated")
            elif a in ("--dport", "--destination-port", "--dports", "--destination-ports"):
                rule.dports = _ports(value(), self, lineno)
                rule.dports_negated = negate
            elif a == "--ports":
                rule.why.append("--ports matches source or destination ports")
                value()
            elif a in ("--sport", "--source-port", "--sports", "--source-ports"):
                value()
                rule.why.append("a source port")
            elif a == "--syn":
                rule.new_ok = rule.new_ok and not negate
            elif a in ("--ctstate", "--state"):
                states = {s.upper() for s in value().split(",")}
                rule.new_ok = rule.new_ok and (("NEW" in states) != negate)
            elif a == "--src-range":
                lo, _, hi = value().partition("-")
                src = self.addresses(f"{lo}-{hi}", lineno)
                rule.sources = _and(rule.sources, _not(src, negate, self.bits))
            elif a == "--dst-range":
                lo, _, hi = value().partition("-")
                dst = self.addresses(f"{lo}-{hi}", lineno)
                rule.destinations = _and(rule.destinations, _not(dst, negate, self.bits))
            elif a == "--match-set":
                name = value()
                flags = value().split(",")
                self.match_set(rule, name, flags[0], negate, lineno)
            elif a == "--dst-type":
                kind = value()
                if kind.upper() != "LOCAL" or negate or self.ctx.chain != "INPUT":
                    rule.why.append(f"the destination address type ({kind})")
            elif a == "--src-type":
                rule.why.append(f"the source address type ({value()})")
            elif a == "--comment":
                value()
            elif a in ("-c", "--set-counters"):
                i += 2
                continue
            elif a.startswith("-"):
                # an option of a module that does not change who may connect (--tcp-flags
                # takes two values: mask and set)
                if a == "--tcp-flags":
                    rule.why.append("TCP flags")
                    i += 2
                elif a not in ("--icmp-type", "--icmpv6-type"):
                    if module in _CONDITIONAL_MODULES or a in ("--reject-with",):
                        pass
                    elif i + 1 < len(args) and not args[i + 1].startswith("-"):
                        rule.why.append(f"{a} {args[i + 1]}")
                    else:
                        rule.why.append(a)
                if i + 1 < len(args) and not args[i + 1].startswith("-"):
                    i += 1
            else:
                raise self.error(lineno, f"unexpected {a!r} in the rule")
            negate = False
            i += 1
        if rule.destinations is not None:
            if self.ctx.to is None:
                rule.why.append("the destination address (give --to to evaluate it)")
            else:
                fam, to, _ = ipspace.parse_address(self.ctx.to)
                inside = fam == self.bits_family and any(a <= to <= b for a, b in rule.destinations)
                if not inside:
                    rule.new_ok = False  # never matches traffic to --to
        return rule

    @property
    def bits(self) -> int:
        return 128 if self.family == 6 else 32

    @property
    def bits_family(self) -> int:
        return self.family or 4

    def match_set(self, rule: Rule, name: str, direction: str, negate: bool, lineno: int) -> None:
        if direction != "src":
            rule.why.append(f"ipset {name} on the {direction} address")
            return
        members = self.ctx.sets.get(name)
        if members is None:
            rule.why.append(
                f"ipset {name} (its members were not given: add the `ipset save` output"
                " with --declared)"
            )
            return
        fam_members = [(a, b) for f, a, b in members if f == self.bits_family]
        rule.sources = _and(rule.sources, _not(merge(fam_members), negate, self.bits))


def _ports(text: str, parser: _Parser, line: int) -> list[tuple[int, int]]:
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
    return out


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
    def __init__(self, ruleset: Ruleset, ctx: ReadContext, probe: Probe) -> None:
        self.rs = ruleset
        self.ctx = ctx
        self.probe = probe
        self.bits = 128 if ruleset.family == 6 else 32
        self.memo: dict[str, list[Segment]] = {}
        self.stack: list[str] = []

    def ref(self, rule: Rule, why: str = "") -> RuleRef:
        return RuleRef(Origin(self.ctx.name, rule.line), rule.text, why)

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
        full = [(0, (1 << self.bits) - 1)]
        for order, rule in enumerate(self.rs.chains.get(name, ())):
            if not rule.matches(self.probe):
                continue
            sources = rule.sources if rule.sources is not None else full
            if not sources:
                continue
            target = rule.target
            if rule.why:
                if target is None or target in _PASS_OVER:
                    continue  # it would not decide anything either way
                claims.append(
                    Claim(order, sources, "conditional", self.ref(rule, "; ".join(rule.why)))
                )
                continue
            if target is None or target in _PASS_OVER:
                continue
            if target in _TERMINAL:
                claims.append(Claim(order, sources, _TERMINAL[target], self.ref(rule)))  # type: ignore[arg-type]
            elif target in self.rs.chains:
                sub = clip(self.chain(target), sources)
                if rule.goto:
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
            else:
                claims.append(
                    Claim(
                        order,
                        sources,
                        "conditional",
                        self.ref(rule, f"target {target} is not evaluated"),
                    )
                )
        self.stack.pop()
        result = first_claims(claims)
        self.memo[name] = result
        return result

    def builtin(self, name: str) -> list[Segment]:
        """The built-in chain with its policy filling what no rule decided."""
        policy, line, text = self.rs.policies.get(name, ("ACCEPT", 0, f"default policy of {name}"))
        outcome: Outcome = "accept" if policy == "ACCEPT" else "drop"
        ref = RuleRef(Origin(self.ctx.name, line or None), f"policy {policy} of {name}")
        decided = [s for s in self.chain(name) if s.outcome != "return"]
        claims = [Claim(0, [(s.first, s.last)], s.outcome, s.rule) for s in decided]
        claims.append(Claim(1, [(0, (1 << self.bits) - 1)], outcome, ref))
        return first_claims(claims)


def probes(ctx: ReadContext) -> list[Probe]:
    service = ctx.service
    if service is None or service.protocol == "any":
        return [Probe("tcp", 25)] if service is None else [Probe("tcp", 0), Probe("udp", 0)]
    out = []
    for a, b in service.ports:
        out.append(Probe(service.protocol, a))
        if b != a:
            out.append(Probe(service.protocol, b))
    return out


@register
class IptablesReader(Reader):
    name = "iptables-save"
    description = "iptables-save / ip6tables-save export: the filter table, first match"
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
        per_probe = [_Evaluator(ruleset, ctx, p).builtin(chain) for p in probes(ctx)]
        bits = 128 if ruleset.family == 6 else 32
        segments = combine(per_probe, bits)
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
            info, [Verdicts(ruleset.family, tuple(segments))], findings, ruleset.unsupported
        )
        return verdicts_rangeset(result)
