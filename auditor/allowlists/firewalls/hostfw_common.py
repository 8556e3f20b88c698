"""What the host firewall readers (:mod:`auditor.allowlists.firewalls.ufw_status`,
:mod:`auditor.allowlists.firewalls.firewalld_zone`) share: their rules, one family each in
evaluation order, the probes a service needs, and first match over the rules with the default
filling the rest.

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

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import NamedTuple

from auditor import ipspace
from auditor.allowlists.base import ReadContext, ReaderError, address_findings
from auditor.allowlists.firewall import (
    Claim,
    FirewallResult,
    Outcome,
    RuleRef,
    Segment,
    Verdicts,
    clip,
    combine,
    fill_gaps,
    first_claims,
    merge,
    verdicts_rangeset,
)
from auditor.errors import AddressError
from auditor.model import Finding, Origin, RangeSet, SourceInfo
from auditor.service import Service

Interval = tuple[int, int]
FAMILIES = (4, 6)


def _full(family: int) -> tuple[Interval, ...]:
    return ((0, ipspace.MAX[family]),)


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
