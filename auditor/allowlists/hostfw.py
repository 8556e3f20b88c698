"""Host firewalls with their own front end: ``ufw status`` output and firewalld zone files.

``ufw-status``
    The output of ``ufw status``, ``ufw status verbose`` or ``ufw status numbered``
    (ufw(8); the layout is ufw's own ``get_status``: ``To``, ``Action``, ``From`` columns).
    ufw puts its user rules into one chain per family (``ufw-user-input``) and evaluates them
    in the order listed, first match; what no rule matches gets the default incoming policy.
    What is understood:

    - ``ALLOW`` (accept), ``DENY`` and ``REJECT`` (drop), ``LIMIT`` (conditional: ufw(8)
      "deny connections if an IP address has attempted to initiate 6 or more connections in
      the last 30 seconds", so the outcome depends on the client's recent connections);
      ``IN`` (or no direction, as plain ``ufw status`` shows incoming rules) applies to
      connections to this host, ``OUT`` never does, ``FWD`` (route rules) only with
      ``--chain FORWARD``, which evaluates them with the routed default;
    - ``To``: ``25``, ``25/tcp``, ``22,25/tcp``, ``100:200/tcp`` (a port without a protocol is
      TCP and UDP), ``Anywhere``, ``Anywhere/tcp``, an application profile (``Postfix`` =
      25/tcp, ``Postfix SMTPS`` = 465/tcp, ``Postfix Submission`` = 587/tcp, ``OpenSSH``,
      ``Apache``/``Nginx``/``Dovecot`` profiles, as the packages ship them; any other profile
      makes the rule conditional: its ports are in ``ufw app info NAME``), the verbose form
      ``25/tcp (Postfix)``, a destination address (``192.0.2.1 25/tcp``: evaluated with
      ``--to``, else conditional), ``on eth0`` (the incoming interface: conditional; ``on lo``
      never matches a remote client);
    - ``From``: ``Anywhere``, an address or network, with a source port or profile
      (conditional: the client's source port is not known), ``(log)``/``(log-all)`` and
      ``# comments``;
    - ``(v6)`` marks the IPv6 twin ufw adds for a rule without addresses; a row with an IPv6
      address is IPv6, any other row IPv4.

    ``Default: deny (incoming), ...`` (``ufw status verbose``) gives the policy for addresses
    no rule decides; without it they are conditional ("run ufw status verbose").
    ``Status: inactive`` means ufw filters nothing: every address is allowed for both
    families, reported as a finding. When rules without addresses exist but no IPv6 twin is
    listed, ufw runs with ``IPV6=no`` and IPv6 is not covered by the output.
    ufw's ``before.rules`` (loopback, established connections, ICMP, DHCP, mDNS, UPnP) are not
    in the output; for a new TCP connection from another host they decide nothing.

``firewalld-zone``
    A firewalld zone file (firewalld.zone(5), firewalld.richlanguage(5)). A zone applies to
    packets from its ``<source>`` addresses, else to packets arriving on its
    ``<interface>``s (firewalld.zones(5): sources take precedence over interfaces). Within
    the zone, in firewalld's order (firewalld.richlanguage(5), "Rule priorities" and the
    ``pre``/``log``/``deny``/``allow``/``post`` chains): rich rules with a negative priority
    (lowest first), then priority-0 rich rules that reject or drop, then priority-0 rich rules
    that accept together with the zone's services, ports and protocols, then rich rules with a
    positive priority, then the zone target (``default`` and ``%%REJECT%%`` reject, ``DROP``,
    ``ACCEPT``). A ``<forward-port>`` for the service rewrites the destination before the
    filter sees the packet (conditional).

    Services are the stock definitions (``smtp`` 25/tcp, ``smtps`` 465/tcp,
    ``smtp-submission`` 587/tcp, ``ssh``, ``http``, ``https``, ``imap(s)``, ``pop3(s)``,
    ``dns`` ...; see :data:`FIREWALLD_SERVICES`); any other name makes its rule conditional,
    since its ports are in a service file that was not given. Rich rules understand
    ``family``, ``priority``, ``<source address|ipset|mac [invert]>``, ``<destination
    address [invert]>`` (evaluated with ``--to``), ``<service>``, ``<port>``,
    ``<protocol>``, ``<source-port>`` (conditional), ``<forward-port>``, ``<accept/>``,
    ``<reject/>``, ``<drop/>`` and ``<limit>`` under the action (conditional); a rule
    without an action only logs and decides nothing.

    Which connections reach the zone: its sources are certain; the rest of the address space
    is decided by another zone (outcome ``return``: not allowed here). A zone bound to
    interfaces (or to an ipset/MAC source) applies to addresses only when the connection
    arrives that way, which a zone file does not show: those verdicts are conditional. A zone
    with neither sources nor interfaces is evaluated as the zone every connection reaches
    (the default zone), and a finding says so. ``AllowZoneDrifting`` (firewalld before 1.0)
    is not modelled. ``--chain`` other than INPUT is refused: zones filter connections to
    this host; forwarding goes through policies.

    The XML is parsed with the standard library's expat, which resolves no external entity;
    a document type or entity declaration is refused outright (a zone file never needs one,
    and refusing it rules out entity expansion), since ``defusedxml`` is not a dependency.
    A ``<policy>`` file is refused with an explanation.

``--service any`` asks whether an address may open every connection, any protocol and port
(as for the cloud readers: an allow counts only if it covers every protocol and port; a deny
of anything counts). A rule that matches every connection (ufw: a ``To`` without port,
protocol or profile and a ``From`` without source port; firewalld: a rich rule without
``<service>``, ``<port>``, ``<protocol>``, ``<source-port>`` or ``<forward-port>``) is
evaluated as usual. A rule restricted to some protocols or ports (a port, a protocol, an
application profile or firewalld service, known or not, a source port) denies the address
when it denies (ufw ``DENY``/``REJECT``, rich ``reject``/``drop``), grants nothing when it
accepts (ufw ``ALLOW``, firewalld services and ports: the address goes on to the next rule),
and is conditional when it only may refuse (ufw ``LIMIT``, a rate limit, a ``forward-port``),
settled to a deny where the rules after it deny anyway. Other conditions (an interface, a
destination, an ipset) stay conditional. The default policy and the zone target apply as
usual.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import NamedTuple
from xml.parsers import expat

from auditor import ipspace
from auditor.allowlists.base import (
    ReadContext,
    Reader,
    ReaderError,
    address_findings,
    decode_text,
)
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
    fill_gaps,
    first_claims,
    merge,
    verdicts_rangeset,
)
from auditor.errors import AddressError
from auditor.model import Finding, Origin, RangeSet, Severity, SourceInfo
from auditor.service import Service

Interval = tuple[int, int]
FAMILIES = (4, 6)


def _full(family: int) -> tuple[Interval, ...]:
    return ((0, ipspace.MAX[family]),)


# --- what both readers share: rules, probes, first match ---------------------------------------


class Traffic(NamedTuple):
    """Traffic a rule matches: a protocol (None: TCP and UDP) and a port range."""

    protocol: str | None
    first: int
    last: int

    def matches(self, probe: Probe) -> bool:
        if probe.protocol == "any":
            return False  # a rule for some traffic never matches all of it (see for_any)
        if self.protocol is not None and self.protocol != probe.protocol:
            return False
        return self.first <= probe.port <= self.last


class Probe(NamedTuple):
    protocol: str
    """``tcp``, ``udp`` or ``any`` (every connection: ``--service any``)."""
    port: int


@dataclass(frozen=True)
class HostRule:
    """One rule, for one family, in evaluation order."""

    order: int
    family: int
    sources: tuple[Interval, ...]
    traffic: tuple[Traffic, ...] | None
    """None: every protocol and port."""
    outcome: Outcome
    """What the rule does to a connection it matches."""
    ref: RuleRef
    why: str = ""
    """What the export does not show; non-empty makes the rule conditional."""
    known: bool = True
    """False when even a match does not settle the outcome (a rate limit, a rewrite)."""
    narrow_why: str | None = None
    """Set when the rule matches only some connections (ports, a protocol, a profile or
    service, a source port): what still makes it conditional apart from which connections it
    matches ("" when nothing does). ``--service any`` reads it with :func:`for_any`."""

    def applies(self, probe: Probe) -> bool:
        return self.traffic is None or any(t.matches(probe) for t in self.traffic)


def for_any(rule: HostRule) -> HostRule | None:
    """The rule as ``--service any`` ("may the address open every connection?") reads it.

    A rule for every connection is evaluated as it is. A rule for some connections only:
    a deny denies the address (some connection is refused); an accept grants nothing, so it
    is passed over (None: the connections it does not match go on to the next rules, which
    decide); an accept that may refuse instead (a rate limit, a rewritten destination)
    becomes a conditional deny, settled where the rules after it deny anyway."""
    if rule.narrow_why is None and rule.traffic is None:
        return rule
    why = rule.why if rule.narrow_why is None else rule.narrow_why
    if rule.outcome == "accept" and rule.known:
        return None
    if rule.outcome == "accept":
        why = why or rule.why or "what the rule does to the connections it matches"
        return replace(rule, traffic=None, outcome="drop", why=why, known=True, narrow_why=None)
    return replace(rule, traffic=None, why=why, narrow_why=None)


def probes(service: Service | None, rules: Iterable[HostRule]) -> list[Probe]:
    """One probe per port class of the service (``--service``; None: tcp/25): a port range
    is probed at its ends and wherever a rule's port range starts or ends inside it. ``any``
    is one probe for every connection (rules read with :func:`for_any`)."""
    if service is None:
        return [Probe("tcp", 25)]
    if service.protocol == "any":
        return [Probe("any", 0)]
    edges: set[int] = set()
    for rule in rules:
        for t in rule.traffic or ():
            edges.update((t.first, t.last + 1))
    out: list[Probe] = []
    for a, b in service.ports:
        ports = {a, b} | {p for p in edges if a < p <= b}
        out.extend(Probe(service.protocol, p) for p in sorted(ports))
    return out


def _minus(a: Sequence[Interval], b: Sequence[Interval]) -> list[Interval]:
    ia = ipspace.Intervals([x for x, _ in a], [y for _, y in a])
    ib = ipspace.Intervals([x for x, _ in b], [y for _, y in b])
    starts, ends = ipspace.as_lists(ipspace.difference(ia, ib))
    return list(zip(starts, ends, strict=True))


class _Refs:
    """One RuleRef per (rule, condition), so segments of one rule merge and reasons dedupe."""

    def __init__(self) -> None:
        self.cache: dict[tuple[RuleRef, str], RuleRef] = {}

    def with_why(self, ref: RuleRef, why: str) -> RuleRef:
        if not why:
            return ref
        key = (ref, why)
        if key not in self.cache:
            text = f"{ref.why}; {why}" if ref.why else why
            self.cache[key] = RuleRef(ref.origin, ref.text, text)
        return self.cache[key]


def evaluate(
    rules: Sequence[HostRule],
    family: int,
    probe: Probe,
    default: tuple[Outcome, RuleRef],
    refs: _Refs,
) -> list[Segment]:
    """First match over the rules of one family for one probe, the default filling the rest.

    A conditional rule that does not matter is settled: where the rules below it (and the
    default) give the same outcome as the rule would when it matches, the address is decided
    either way (a conditional ALLOW above an ALLOW for everyone). The ``any`` probe reads
    every rule with :func:`for_any` first."""
    bits = ipspace.BITS[family]
    if probe.protocol == "any":
        rules = [r for r in map(for_any, rules) if r is not None]
    active = [r for r in rules if r.family == family and r.sources and r.applies(probe)]
    slots: list[list[Claim]] = []
    for r in active:
        if r.why:
            slots.append([Claim(r.order, r.sources, "conditional", refs.with_why(r.ref, r.why))])
        else:
            slots.append([Claim(r.order, r.sources, r.outcome, r.ref)])
    for i in reversed(range(len(active))):
        r = active[i]
        if not r.why or not r.known:
            continue
        later = [c for slot in slots[i + 1 :] for c in slot]
        rest = fill_gaps(first_claims(later), bits, *default)
        same = merge([(s.first, s.last) for s in clip(rest, r.sources) if s.outcome == r.outcome])
        if not same:
            continue
        # decided either way: shown with the rule that decides when this one does not match
        settled = [Claim(r.order, [(s.first, s.last)], s.outcome, s.rule) for s in clip(rest, same)]
        left = _minus(r.sources, same)
        if left:
            settled.append(Claim(r.order, left, "conditional", refs.with_why(r.ref, r.why)))
        slots[i] = settled
    claims = [c for slot in slots for c in slot]
    return fill_gaps(first_claims(claims), bits, *default)


def _destination(ctx: ReadContext, family: int, intervals: Sequence[Interval]) -> str | None:
    """Whether a rule restricted to destination addresses can match: None when it never
    matches a connection to ``--to``, else why it is conditional ("" when it is not)."""
    if ctx.to is None:
        return "the destination address (give --to to evaluate it)"
    try:
        fam, value, _ = ipspace.parse_address(ctx.to)
    except AddressError as e:
        raise ReaderError(f"--to {ctx.to!r}: {e}", source=ctx.name) from None
    if fam != family:
        return f"the IPv{family} destination address (--to gives an IPv{fam} address)"
    return "" if any(a <= value <= b for a, b in intervals) else None


def _parse_cidr(text: str, ctx: ReadContext, line: int, findings: list[Finding]) -> ipspace.Parsed:
    try:
        parsed = ipspace.parse(text, ctx.host_bits)
    except AddressError as e:
        raise ReaderError(str(e), source=ctx.name, line=line) from None
    if "-" in text:
        raise ReaderError(f"{text!r} is a range, not an address", source=ctx.name, line=line)
    findings.extend(address_findings(text, parsed, Origin(ctx.name, line)))
    return parsed


def _result(
    data: bytes,
    ctx: ReadContext,
    fmt: str,
    per_family: dict[int, list[list[Segment]]],
    findings: list[Finding],
    unsupported: list[str],
) -> RangeSet:
    info = SourceInfo.for_bytes(ctx.name, ctx.role, fmt, data, ctx.now)
    verdicts = [
        Verdicts(fam, tuple(combine(per_probe, ipspace.BITS[fam])))
        for fam, per_probe in sorted(per_family.items())
    ]
    return verdicts_rangeset(FirewallResult(info, verdicts, findings, unsupported))


# --- ufw status ---------------------------------------------------------------------------------

UFW_APPS: dict[str, tuple[Traffic, ...]] = {
    # /etc/ufw/applications.d as the packages ship them (postfix, openssh-server, apache2,
    # nginx, dovecot-*)
    "Postfix": (Traffic("tcp", 25, 25),),
    "Postfix SMTPS": (Traffic("tcp", 465, 465),),
    "Postfix Submission": (Traffic("tcp", 587, 587),),
    "OpenSSH": (Traffic("tcp", 22, 22),),
    "Apache": (Traffic("tcp", 80, 80),),
    "Apache Secure": (Traffic("tcp", 443, 443),),
    "Apache Full": (Traffic("tcp", 80, 80), Traffic("tcp", 443, 443)),
    "Nginx HTTP": (Traffic("tcp", 80, 80),),
    "Nginx HTTPS": (Traffic("tcp", 443, 443),),
    "Nginx Full": (Traffic("tcp", 80, 80), Traffic("tcp", 443, 443)),
    "Dovecot IMAP": (Traffic("tcp", 143, 143),),
    "Dovecot POP3": (Traffic("tcp", 110, 110),),
    "Dovecot Secure IMAP": (Traffic("tcp", 993, 993),),
    "Dovecot Secure POP3": (Traffic("tcp", 995, 995),),
}

_UFW_ACTIONS: dict[str, Outcome] = {
    "ALLOW": "accept",
    "DENY": "drop",
    "REJECT": "drop",
    "LIMIT": "accept",
}
_UFW_POLICIES: dict[str, Outcome] = {"allow": "accept", "deny": "drop", "reject": "drop"}
_ACTION = re.compile(r"(?<=\s)(ALLOW|DENY|REJECT|LIMIT)(?: (IN|OUT|FWD))?(?=\s|$)")
_NUMBER = re.compile(r"\[\s*\d+\]\s*")
_PORTS = re.compile(r"([0-9]+(?::[0-9]+)?(?:,[0-9]+(?::[0-9]+)?)*)(?:/([a-z0-9]+))?")
_ATTRIBS = re.compile(r"\s*\((?:log|log-all|out)(?:,\s*(?:log|log-all|out))*\)$")
_VERBOSE_APP = re.compile(r"(.*?)\s*\(([^()]+?)( \(v6\))?\)")
_DEFAULT = re.compile(r"Default:\s*(.*)")
_STATUS = re.compile(rb"\A(?:\xef\xbb\xbf)?\s*Status: (active|inactive)\s*(\n|\Z)")


def sniff_ufw(data: bytes) -> bool:
    """``ufw status`` output: ``Status: active`` or ``Status: inactive`` first."""
    return bool(_STATUS.match(data[:200]))


@dataclass
class _Location:
    """One side of a ufw rule row (``To`` or ``From``)."""

    family: int | None = None
    addresses: tuple[Interval, ...] | None = None
    ports: tuple[tuple[int, int], ...] | None = None
    protocol: str | None = None
    app: str | None = None
    interface: str | None = None
    v6: bool = False


class _UfwParser:
    def __init__(self, text: str, ctx: ReadContext) -> None:
        self.text = text
        self.ctx = ctx
        self.findings: list[Finding] = []
        self.refs = _Refs()

    def error(self, line: int, message: str, hint: str | None = None) -> ReaderError:
        return ReaderError(message, source=self.ctx.name, line=line, hint=hint)

    def location(self, text: str, line: int) -> _Location:
        loc = _Location()
        m = re.search(r"\s+on\s+(\S+)$", text)
        if m:
            loc.interface = m.group(1)
            text = text[: m.start()]
        verbose = _VERBOSE_APP.fullmatch(text)
        if verbose and verbose.group(2) != "v6":
            # ufw status verbose: "25/tcp (Postfix)", "25/tcp (Postfix (v6))"; the ports are
            # shown, the profile name is for the reader
            text, loc.app = verbose.group(1), verbose.group(2)
            loc.v6 = bool(verbose.group(3))
        if re.search(r"\s*\(v6\)$", text):
            loc.v6 = True
            text = re.sub(r"\s*\(v6\)$", "", text)
        words = text.split()
        if not words:
            raise self.error(line, "a column of the rule is empty")
        head, proto = words[0], None
        base, slash, tail = head.rpartition("/")
        if slash and re.fullmatch(r"[a-z][a-z0-9-]*", tail):
            head, proto = base, tail.lower()
        rest = words
        if head == "Anywhere":
            rest = words[1:]
            loc.protocol = proto
        elif not _PORTS.fullmatch(words[0]) and re.fullmatch(r"[0-9A-Fa-f:.]+(/[0-9]+)?", head):
            parsed = _parse_cidr(head, self.ctx, line, self.findings)
            loc.family = parsed.family
            loc.addresses = ((parsed.first, parsed.last),)
            loc.protocol = proto
            rest = words[1:]
        if rest:
            ports = _PORTS.fullmatch(" ".join(rest))
            if ports:
                loc.ports = tuple(_port_range(p) for p in ports.group(1).split(","))
                loc.protocol = ports.group(2) or loc.protocol
            elif loc.app is None:
                loc.app = " ".join(rest)
            else:
                raise self.error(line, f"cannot read {text!r}")
        return loc

    def parse(self) -> tuple[list[HostRule], dict[str, tuple[str, int]], int]:
        """The rules, the default policies (name -> (word, line)) and the Status line."""
        lines = self.text.split("\n")
        status_line = next((n for n, raw in enumerate(lines, 1) if raw.strip()), 0)
        policies: dict[str, tuple[str, int]] = {}
        rules: list[HostRule] = []
        in_table = False
        for lineno, raw in enumerate(lines, 1):
            line = raw.strip()
            if not line or lineno == status_line:
                continue
            if not in_table:
                if line.startswith(("Logging:", "New profiles:")):
                    continue
                m = _DEFAULT.match(line)
                if m:
                    for part in m.group(1).split(","):
                        pm = re.fullmatch(r"\s*(\w+) \((incoming|outgoing|routed)\)\s*", part)
                        if pm is None:
                            raise self.error(lineno, f"cannot read the default policy {part!r}")
                        policies[pm.group(2)] = (pm.group(1).lower(), lineno)
                    continue
                if line.split() == ["To", "Action", "From"]:
                    continue
                if set(line.replace(" ", "")) == {"-"}:
                    in_table = True
                    continue
                raise self.error(
                    lineno,
                    f"unexpected line {line[:60]!r} before the rule table",
                    hint="give the output of `ufw status verbose`, in English (LANG=C)",
                )
            rules.extend(self.row(line, lineno))
        return rules, policies, status_line

    def row(self, line: str, lineno: int) -> list[HostRule]:
        body = _NUMBER.sub("", line, count=1) if line.startswith("[") else line
        m = _ACTION.search(body)
        if m is None:
            raise self.error(
                lineno,
                f"cannot read the rule {line[:80]!r}: no ALLOW, DENY, REJECT or LIMIT",
            )
        to_text = body[: m.start()].strip()
        from_text = body[m.end() :]
        hash_at = re.search(r"(^|\s)#", from_text)
        if hash_at:
            from_text = from_text[: hash_at.start()]
        from_text = _ATTRIBS.sub("", from_text.strip())
        if not to_text or not from_text:
            raise self.error(lineno, f"cannot read the rule {line[:80]!r}: a column is missing")
        action, direction = m.group(1), m.group(2) or "IN"
        dst, src = self.location(to_text, lineno), self.location(from_text, lineno)
        forward = direction == "FWD"
        chain = self.ctx.chain or "INPUT"
        if direction == "OUT" or forward != (chain == "FORWARD"):
            return []  # outgoing rules, or route rules on INPUT (and the reverse)
        families = {f for f in (dst.family, src.family) if f is not None}
        if len(families) > 1:
            raise self.error(lineno, "the rule mixes IPv4 and IPv6 addresses")
        family = families.pop() if families else (6 if dst.v6 or src.v6 else 4)
        ref = RuleRef(Origin(self.ctx.name, lineno), line)
        why: list[str] = []
        if action == "LIMIT":
            why.append(
                "rate-limited (ufw limit: a client with 6 or more connection attempts in 30"
                " seconds is refused)"
            )
        for loc in (dst, src):
            if loc.interface is None:
                continue
            if loc.interface == "lo" and loc is dst and not forward:
                return []  # loopback: never a connection from another host
            where = "arriving on" if (loc is dst) != forward else "leaving through"
            why.append(f"only for connections {where} {loc.interface}")
        if dst.addresses is not None:
            cond = _destination(self.ctx, family, dst.addresses)
            if cond is None:
                return []
            if cond:
                why.append(cond)
        # reasons about which connections the rule matches: --service any does without them
        narrow: list[str] = []
        if src.ports is not None or src.app is not None:
            narrow.append("the client's source port")
        protocol = dst.protocol or src.protocol
        traffic: tuple[Traffic, ...] | None
        if dst.ports is not None:
            traffic = tuple(Traffic(protocol, a, b) for a, b in dst.ports)
        elif dst.app is not None and dst.app in UFW_APPS:
            traffic = UFW_APPS[dst.app]
        elif dst.app is not None:
            traffic = None
            narrow.append(f"application profile {dst.app!r}: its ports are in `ufw app info`")
        elif protocol is not None:
            traffic = (Traffic(protocol, 0, 65535),)
        else:
            traffic = None
        restricted = traffic is not None or bool(narrow)
        sources = src.addresses if src.addresses is not None else _full(family)
        return [
            HostRule(
                lineno,
                family,
                sources,
                traffic,
                _UFW_ACTIONS[action],
                ref,
                "; ".join(why + narrow),
                known=action != "LIMIT",
                narrow_why="; ".join(why) if restricted else None,
            )
        ]


def _port_range(text: str) -> tuple[int, int]:
    lo, _, hi = text.partition(":")
    return int(lo), int(hi or lo)


class UfwStatusReader(Reader):
    name = "ufw-status"
    description = "ufw status [verbose|numbered] output: ufw's rules in order, first match"
    ruleset = True

    @staticmethod
    def sniff(data: bytes) -> bool:
        return sniff_ufw(data)

    def parse(self, data: bytes, ctx: ReadContext) -> RangeSet:
        text = decode_text(data, ctx)
        m = _STATUS.match(text.encode("utf-8")[:200])
        if m is None:
            raise ReaderError(
                "this is not `ufw status` output (no 'Status: active' or 'Status: inactive'"
                " line first)",
                source=ctx.name,
                line=1,
                hint="give the output of `ufw status verbose`",
            )
        chain = ctx.chain or "INPUT"
        if chain not in ("INPUT", "FORWARD"):
            raise ReaderError(
                f"ufw has no chain {chain!r}",
                source=ctx.name,
                hint="use --chain INPUT (this host) or FORWARD (route rules)",
            )
        parser = _UfwParser(text, ctx)
        findings = parser.findings
        if m.group(1) == b"inactive":
            filled = [(n, raw.strip()) for n, raw in enumerate(text.split("\n"), 1) if raw.strip()]
            line = filled[0][0]
            if len(filled) > 1:
                raise ReaderError(
                    f"unexpected {filled[1][1][:60]!r} after 'Status: inactive'",
                    source=ctx.name,
                    line=filled[1][0],
                )
            ref = RuleRef(Origin(ctx.name, line), "Status: inactive")
            findings.append(
                Finding(
                    "firewall-inactive",
                    Severity.WARNING,
                    "ufw is inactive: it filters nothing, so every address may connect as far"
                    " as ufw is concerned (another firewall on the host is not shown here)",
                    Origin(ctx.name, line),
                )
            )
            per_family = {fam: [[Segment(0, ipspace.MAX[fam], "accept", ref)]] for fam in FAMILIES}
            return _result(data, ctx, self.name, per_family, findings, [])
        rules, policies, status_line = parser.parse()
        key = "routed" if chain == "FORWARD" else "incoming"
        default: tuple[Outcome, RuleRef]
        if key in policies:
            word, line = policies[key]
            text_line = text.split("\n")[line - 1].strip()
            if word in _UFW_POLICIES:
                default = (_UFW_POLICIES[word], RuleRef(Origin(ctx.name, line), text_line))
            elif word == "disabled":
                default = (
                    "conditional",
                    RuleRef(
                        Origin(ctx.name, line),
                        text_line,
                        "ufw does not filter routed traffic (disabled)",
                    ),
                )
            else:
                raise ReaderError(f"unknown default policy {word!r}", source=ctx.name, line=line)
        else:
            default = (
                "conditional",
                RuleRef(
                    Origin(ctx.name, status_line),
                    f"default {key} policy",
                    "the default policy is not shown: run `ufw status verbose`",
                ),
            )
        families: tuple[int, ...] = FAMILIES
        unaddressed_v4 = any(
            r.family == 4 and r.sources == _full(4) and "destination" not in r.why for r in rules
        )
        if unaddressed_v4 and not any(r.family == 6 for r in rules):
            families = (4,)
            findings.append(
                Finding(
                    "family-not-covered",
                    Severity.INFO,
                    "no IPv6 rule is listed although rules without addresses get an IPv6"
                    " twin: ufw runs with IPV6=no, and IPv6 is not covered by this output",
                    Origin(ctx.name),
                )
            )
        per_family = {
            fam: [
                evaluate(rules, fam, probe, default, parser.refs)
                for probe in probes(ctx.service, rules)
            ]
            for fam in families
        }
        return _result(data, ctx, self.name, per_family, findings, [])


# --- firewalld zones ----------------------------------------------------------------------------

_TCP = "tcp"
_UDP = "udp"


@dataclass(frozen=True)
class FirewalldService:
    traffic: tuple[Traffic, ...]
    destinations: tuple[tuple[int, str], ...] = ()
    """(family, network): the service only reaches these destinations, and only in these
    families (``mdns`` to 224.0.0.251 and ff02::fb)."""


def _svc(*ports: tuple[str, int], dest: tuple[tuple[int, str], ...] = ()) -> FirewalldService:
    return FirewalldService(tuple(Traffic(p, n, n) for p, n in ports), dest)


FIREWALLD_SERVICES: dict[str, FirewalldService] = {
    # the stock service files (/usr/lib/firewalld/services/NAME.xml)
    "smtp": _svc((_TCP, 25)),
    "smtps": _svc((_TCP, 465)),
    "smtp-submission": _svc((_TCP, 587)),
    "ssh": _svc((_TCP, 22)),
    "http": _svc((_TCP, 80)),
    "https": _svc((_TCP, 443)),
    "http3": _svc((_UDP, 443)),
    "imap": _svc((_TCP, 143)),
    "imaps": _svc((_TCP, 993)),
    "pop3": _svc((_TCP, 110)),
    "pop3s": _svc((_TCP, 995)),
    "managesieve": _svc((_TCP, 4190)),
    "dns": _svc((_TCP, 53), (_UDP, 53)),
    "ftp": _svc((_TCP, 21)),
    "tftp": _svc((_UDP, 69)),
    "ntp": _svc((_UDP, 123)),
    "cockpit": _svc((_TCP, 9090)),
    "dhcp": _svc((_UDP, 67)),
    "dhcpv6": _svc((_UDP, 547)),
    "dhcpv6-client": _svc((_UDP, 546), dest=((6, "fe80::/64"),)),
    "mdns": _svc((_UDP, 5353), dest=((4, "224.0.0.251/32"), (6, "ff02::fb/128"))),
    "samba-client": _svc((_UDP, 137), (_UDP, 138)),
}

_TARGETS: dict[str, Outcome] = {
    "default": "drop",
    "%%REJECT%%": "drop",
    "REJECT": "drop",
    "DROP": "drop",
    "ACCEPT": "accept",
}
# Zone elements that decide nothing about a new TCP/UDP connection to this host.
_ZONE_IGNORED = frozenset(
    {"short", "description", "forward", "masquerade", "icmp-block", "icmp-block-inversion",
     "icmp-type", "tcp-mss-clamp"}
)  # fmt: skip
_RICH_ACTIONS: dict[str, Outcome] = {"accept": "accept", "reject": "drop", "drop": "drop"}
_RICH_LOGS = frozenset({"log", "audit", "nflog"})
_TRUE = frozenset({"true", "yes"})


@dataclass
class _Node:
    tag: str
    attrib: dict[str, str]
    line: int
    children: list[_Node] = field(default_factory=list)


class _Refused(Exception):
    def __init__(self, line: int, what: str) -> None:
        super().__init__(what)
        self.line = line
        self.what = what


_DECLARATION = re.compile(rb"<!\s*(DOCTYPE|ENTITY)", re.IGNORECASE)


def parse_xml(data: bytes, ctx: ReadContext) -> _Node:
    """The element tree with each element's line; document type and entity declarations are
    refused before and while parsing (a zone file has none)."""
    m = _DECLARATION.search(data)
    if m:
        raise _refusal(ctx, data[: m.start()].count(b"\n") + 1, m.group(1).decode().upper())
    parser = expat.ParserCreate()
    stack: list[_Node] = []
    roots: list[_Node] = []

    def start(tag: str, attrib: dict[str, str]) -> None:
        node = _Node(tag, attrib, parser.CurrentLineNumber)
        (stack[-1].children if stack else roots).append(node)
        stack.append(node)

    def end(tag: str) -> None:
        stack.pop()

    def doctype(*_: object) -> None:
        raise _Refused(parser.CurrentLineNumber, "DOCTYPE")

    def entity(*_: object) -> None:
        raise _Refused(parser.CurrentLineNumber, "ENTITY")

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.StartDoctypeDeclHandler = doctype
    parser.EntityDeclHandler = entity
    try:
        parser.Parse(data, True)
    except _Refused as e:
        raise _refusal(ctx, e.line, e.what) from None
    except expat.ExpatError as e:
        raise ReaderError(
            f"not well-formed XML: {expat.ErrorString(e.code)} (column {e.offset + 1})",
            source=ctx.name,
            line=e.lineno,
        ) from None
    return roots[0]


def _refusal(ctx: ReadContext, line: int, what: str) -> ReaderError:
    return ReaderError(
        f"the XML has a {what} declaration, which is refused (entity expansion)",
        source=ctx.name,
        line=line,
        hint="a firewalld zone file has no DOCTYPE or ENTITY declarations; remove them",
    )


def sniff_firewalld(data: bytes) -> bool:
    """A firewalld zone or policy: the root element is ``<zone`` or a ``<policy`` with
    ingress/egress zones."""
    head = data[:4096].lstrip(b"\xef\xbb\xbf \t\r\n")
    head = re.sub(rb"\A<\?xml[^>]*\?>\s*", b"", head)
    head = re.sub(rb"\A(<!--.*?-->\s*)*", b"", head, flags=re.DOTALL)
    if re.match(rb"<zone[\s>/]", head):
        return True
    return bool(re.match(rb"<policy[\s>/]", head)) and b"-zone " in data[:65536]


class _Zone:
    """One zone's rules, per family, in firewalld's evaluation order."""

    def __init__(self, root: _Node, ctx: ReadContext) -> None:
        self.ctx = ctx
        self.root = root
        self.findings: list[Finding] = []
        self.unsupported: list[str] = []
        self.refs = _Refs()
        self.sources: dict[int, list[Interval]] = {4: [], 6: []}
        self.bindings: list[tuple[int, str]] = []
        """(line, what): interfaces, ipset and MAC sources (conditional bindings)."""
        self.rules: list[HostRule] = []
        self.pending: list[tuple[tuple[int, int, int], HostRule]] = []

    def error(self, node: _Node, message: str, hint: str | None = None) -> ReaderError:
        return ReaderError(message, source=self.ctx.name, line=node.line, hint=hint)

    def ref(self, node: _Node, text: str | None = None) -> RuleRef:
        return RuleRef(Origin(self.ctx.name, node.line), text or _show(node))

    def add(
        self,
        key: tuple[int, int, int],
        node: _Node,
        families: Iterable[int],
        sources: dict[int, tuple[Interval, ...]] | None,
        traffic: tuple[Traffic, ...] | None,
        outcome: Outcome,
        why: str = "",
        known: bool = True,
        destinations: dict[int, tuple[Interval, ...]] | None = None,
        ref: RuleRef | None = None,
        narrow_why: str | None = None,
    ) -> None:
        ref = ref or self.ref(node)
        for fam in families:
            rule_why, rule_narrow = why, narrow_why
            if destinations is not None:
                if fam not in destinations:
                    continue
                cond = _destination(self.ctx, fam, destinations[fam])
                if cond is None:
                    continue
                rule_why = "; ".join(w for w in (why, cond) if w)
                if narrow_why is not None:
                    rule_narrow = "; ".join(w for w in (narrow_why, cond) if w)
            src = sources[fam] if sources is not None else _full(fam)
            rule = HostRule(0, fam, src, traffic, outcome, ref, rule_why, known, rule_narrow)
            self.pending.append((key, rule))

    def parse(self) -> None:
        target = self.root.attrib.get("target", "default")
        if target not in _TARGETS:
            raise self.error(
                self.root,
                f"unknown zone target {target!r}",
                hint="firewalld knows default, ACCEPT, %%REJECT%% and DROP",
            )
        for pos, node in enumerate(self.root.children):
            tag = node.tag
            if tag in _ZONE_IGNORED:
                continue
            if tag == "interface":
                self.bindings.append((node.line, f"arriving on {self.need(node, 'name')}"))
            elif tag == "source":
                self.zone_source(node)
            elif tag in ("service", "port", "protocol", "source-port"):
                self.element(node, (2, 0, pos), None, FAMILIES, "accept", "")
            elif tag == "forward-port":
                self.element(node, (-1, 0, pos), None, FAMILIES, "accept", "")
            elif tag == "rule":
                self.rich(node, pos)
            else:
                self.unsupported.append(f"{self.ctx.name}:{node.line}: <{tag}> is not evaluated")
        self.pending.sort(key=lambda item: item[0])
        self.rules = [replace(r, order=order) for order, (_, r) in enumerate(self.pending)]

    def need(self, node: _Node, name: str) -> str:
        value = node.attrib.get(name)
        if not value:
            raise self.error(node, f"<{node.tag}> needs a {name!r} attribute")
        return value

    def addresses(self, node: _Node, text: str) -> ipspace.Parsed:
        return _parse_cidr(text, self.ctx, node.line, self.findings)

    def zone_source(self, node: _Node) -> None:
        if "address" in node.attrib:
            parsed = self.addresses(node, node.attrib["address"])
            self.sources[parsed.family].append((parsed.first, parsed.last))
        elif "ipset" in node.attrib:
            self.bindings.append((node.line, f"from ipset {node.attrib['ipset']}"))
        elif "mac" in node.attrib:
            self.bindings.append((node.line, f"from MAC address {node.attrib['mac']}"))
        else:
            raise self.error(node, "<source> needs an address, ipset or mac attribute")

    def element(
        self,
        node: _Node,
        key: tuple[int, int, int],
        sources: dict[int, tuple[Interval, ...]] | None,
        families: Iterable[int],
        outcome: Outcome,
        why: str,
        ref: RuleRef | None = None,
        destinations: dict[int, tuple[Interval, ...]] | None = None,
        known: bool = True,
    ) -> None:
        """A service, port, protocol, source-port or forward-port, in the zone or in a rich
        rule (with that rule's sources, destination, action and conditions). Each matches only
        some connections: ``--service any`` reads it with :func:`for_any`."""
        tag = node.tag
        reasons = [why] if why else []
        narrow: list[str] = []  # which connections it matches: --service any does without
        traffic: tuple[Traffic, ...] | None
        if tag == "service":
            name = self.need(node, "name")
            service = FIREWALLD_SERVICES.get(name)
            if service is None:
                traffic = None
                narrow.append(
                    f"service {name!r}: its ports are in its service file, which was not given"
                )
            else:
                traffic = service.traffic
                if service.destinations:
                    dests: dict[int, tuple[Interval, ...]] = {}
                    for fam, net in service.destinations:
                        p = ipspace.parse(net)
                        dests[fam] = ((p.first, p.last),)
                    if destinations is not None:
                        reasons.append("the destination address")
                    destinations = dests
        elif tag in ("port", "source-port", "forward-port"):
            traffic = _fw_ports(self, node)
            if tag == "source-port":
                narrow.append("the client's source port")
            elif tag == "forward-port":
                reasons.append("the destination is rewritten (forward-port)")
                known = False
                key = (-1, key[1], key[2])
        elif tag == "protocol":
            value = self.need(node, "value").lower()
            traffic = (Traffic(value, 0, 65535),)
        else:
            raise self.error(node, f"<{tag}> is not an element firewalld knows here")
        self.add(
            key,
            node,
            families,
            sources,
            traffic,
            outcome,
            "; ".join(reasons + narrow),
            known,
            destinations,
            ref,
            "; ".join(reasons),
        )

    def rich(self, node: _Node, pos: int) -> None:
        family_attr = node.attrib.get("family")
        if family_attr not in (None, "ipv4", "ipv6"):
            raise self.error(node, f"unknown rich rule family {family_attr!r}")
        try:
            priority = int(node.attrib.get("priority", "0"))
        except ValueError:
            raise self.error(
                node, f"the priority {node.attrib['priority']!r} is not a number"
            ) from None
        families = {4, 6} if family_attr is None else {4 if family_attr == "ipv4" else 6}
        sources: dict[int, tuple[Interval, ...]] | None = None
        destinations: dict[int, tuple[Interval, ...]] | None = None
        why: list[str] = []
        element: _Node | None = None
        action: _Node | None = None
        for child in node.children:
            tag = child.tag
            if tag in ("source", "destination"):
                inverted = child.attrib.get("invert", "").lower() in _TRUE
                if "address" in child.attrib:
                    parsed = self.addresses(child, child.attrib["address"])
                    if parsed.family not in families:
                        raise self.error(
                            child,
                            f"an IPv{parsed.family} address in a rule for IPv{families.pop()} only",
                        )
                    families = {parsed.family}
                    own = [(parsed.first, parsed.last)]
                    bits = ipspace.BITS[parsed.family]
                    picked = tuple(complement(own, bits) if inverted else own)
                    if tag == "source":
                        sources = {parsed.family: picked}
                    else:
                        destinations = {parsed.family: picked}
                elif "ipset" in child.attrib or "mac" in child.attrib:
                    kind = "ipset" if "ipset" in child.attrib else "mac"
                    side = "client" if tag == "source" else "destination"
                    why.append(
                        f"the {side} {'not ' if inverted else ''}in {kind} {child.attrib[kind]}"
                    )
                else:
                    raise self.error(child, f"<{tag}> needs an address, ipset or mac attribute")
            elif tag in ("service", "port", "protocol", "source-port", "forward-port"):
                element = child
            elif tag in ("icmp-block", "icmp-type", "masquerade", "tcp-mss-clamp"):
                return  # never decides a TCP/UDP connection to this host
            elif tag in _RICH_LOGS:
                continue
            elif tag in _RICH_ACTIONS or tag == "mark":
                action = child
            else:
                self.unsupported.append(
                    f"{self.ctx.name}:{child.line}: <{tag}> in a rich rule is not evaluated"
                )
                return
        ref = self.ref(node)
        order = sorted(families)
        if element is not None and element.tag == "forward-port":
            key = (-1, priority, pos)
            self.element(element, key, sources, order, "accept", "; ".join(why), ref, destinations)
            return
        if action is None or action.tag == "mark":
            return  # logs or marks only: the packet goes on to the next rule
        outcome = _RICH_ACTIONS[action.tag]
        limited = any(c.tag == "limit" for c in action.children)
        if limited:
            why.append(f"a rate limit ({_limit(action)})")
        if priority < 0:
            bucket = 0
        elif priority > 0:
            bucket = 3
        else:
            bucket = 1 if outcome == "drop" else 2
        key = (bucket, priority, pos)
        text = "; ".join(why)
        if element is None:
            self.add(key, node, order, sources, None, outcome, text, not limited, destinations, ref)
        else:
            self.element(
                element, key, sources, order, outcome, text, ref, destinations, not limited
            )

    def verdicts(self) -> dict[int, list[list[Segment]]]:
        target = self.root.attrib.get("target", "default")
        default_ref = RuleRef(Origin(self.ctx.name, self.root.line), f'zone target="{target}"')
        default: tuple[Outcome, RuleRef] = (_TARGETS[target], default_ref)
        per_family: dict[int, list[list[Segment]]] = {}
        has_sources = any(self.sources.values())
        if not has_sources and not self.bindings:
            self.findings.append(
                Finding(
                    "zone-assumed-default",
                    Severity.WARNING,
                    "the zone lists no source and no interface: evaluated as the zone every"
                    " connection reaches (DefaultZone in firewalld.conf); if it is not the"
                    " default zone, it decides nothing here",
                    Origin(self.ctx.name, self.root.line),
                )
            )
        binding_why = "the zone applies only to connections " + ", or ".join(
            what for _, what in self.bindings
        )
        outside = RuleRef(
            Origin(self.ctx.name, self.root.line),
            "not a source of this zone: another zone decides",
            binding_why if self.bindings else "",
        )
        for fam in FAMILIES:
            bits = ipspace.BITS[fam]
            per_probe = []
            for probe in probes(self.ctx.service, self.rules):
                segs = evaluate(self.rules, fam, probe, default, self.refs)
                if not has_sources and not self.bindings:
                    per_probe.append(segs)
                    continue
                inside = merge(self.sources[fam])
                kept = clip(segs, inside)
                rest_iv = complement(inside, bits) if inside else list(_full(fam))
                if self.bindings:
                    rest = [
                        Segment(
                            s.first, s.last, "conditional", self.refs.with_why(s.rule, binding_why)
                        )
                        for s in clip(segs, rest_iv)
                    ]
                else:
                    rest = [Segment(a, b, "return", outside) for a, b in rest_iv]
                per_probe.append(sorted(kept + rest, key=lambda s: s.first))
            per_family[fam] = per_probe
        return per_family


def _fw_ports(zone: _Zone, node: _Node) -> tuple[Traffic, ...]:
    port = zone.need(node, "port")
    protocol = zone.need(node, "protocol").lower()
    m = re.fullmatch(r"([0-9]{1,5})(?:-([0-9]{1,5}))?", port)
    if m is None:
        raise zone.error(node, f"cannot read the port {port!r}", hint="a number, or low-high")
    lo, hi = int(m.group(1)), int(m.group(2) or m.group(1))
    if not 0 <= lo <= hi <= 65535:
        raise zone.error(node, f"the port range {port!r} is not valid")
    return (Traffic(protocol, lo, hi),)


def _limit(action: _Node) -> str:
    return ", ".join(c.attrib.get("value", "?") for c in action.children if c.tag == "limit")


def _show(node: _Node) -> str:
    """The element as one line of XML, for the rule text (attribute values as parsed)."""
    attrs = "".join(f' {k}="{v}"' for k, v in node.attrib.items())
    if not node.children:
        return f"<{node.tag}{attrs}/>"
    inner = "".join(_show(c) for c in node.children)
    return f"<{node.tag}{attrs}>{inner}</{node.tag}>"


class FirewalldZoneReader(Reader):
    name = "firewalld-zone"
    description = "firewalld zone XML: sources, services, ports and rich rules in firewalld's order"
    ruleset = True

    @staticmethod
    def sniff(data: bytes) -> bool:
        return sniff_firewalld(data)

    def parse(self, data: bytes, ctx: ReadContext) -> RangeSet:
        if (ctx.chain or "INPUT") != "INPUT":
            raise ReaderError(
                f"a firewalld zone filters connections to this host, not the {ctx.chain} chain",
                source=ctx.name,
                hint="use --chain INPUT; forwarding goes through firewalld policies",
            )
        root = parse_xml(data, ctx)
        if root.tag == "policy":
            raise ReaderError(
                "this is a firewalld policy, not a zone: policies filter traffic between"
                " zones, which is not evaluated",
                source=ctx.name,
                line=root.line,
                hint="give the zone file (/etc/firewalld/zones/NAME.xml) of the zone"
                " connections to this host reach",
            )
        if root.tag != "zone":
            raise ReaderError(
                f"the root element is <{root.tag}>, not <zone>",
                source=ctx.name,
                line=root.line,
                hint="give a firewalld zone file (/etc/firewalld/zones/NAME.xml)",
            )
        zone = _Zone(root, ctx)
        zone.parse()
        per_family = zone.verdicts()
        return _result(data, ctx, self.name, per_family, zone.findings, zone.unsupported)
