"""What the host firewall readers (:mod:`auditor.allowlists.firewalls.ufw_status`,
:mod:`auditor.allowlists.firewalls.firewalld_zone`) share: their rules, one family each in
evaluation order, lowered into one chain of the ruleset form (:mod:`auditor.ruleset.ir`) that
ends in the default, which :mod:`auditor.ruleset.engine` evaluates first match.

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

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal, NamedTuple

from auditor import ipspace
from auditor.allowlists.base import ReadContext, ReaderError, address_findings
from auditor.allowlists.firewall import FirewallResult, verdicts_rangeset
from auditor.errors import AddressError
from auditor.model import (
    Entry,
    Finding,
    Origin,
    Outcome,
    RangeSet,
    RuleRef,
    SourceInfo,
    Verdicts,
)
from auditor.ruleset import ir

Interval = tuple[int, int]
FAMILIES = (4, 6)
Verdict = Literal["accept", "drop"]


def _full(family: int) -> tuple[Interval, ...]:
    return ((0, ipspace.MAX[family]),)


class Traffic(NamedTuple):
    """Traffic a rule matches: a protocol (None: TCP and UDP) and a port range."""

    protocol: str | None
    first: int
    last: int


@dataclass(frozen=True)
class HostRule:
    """One rule, for one family, in evaluation order."""

    family: int
    sources: tuple[Interval, ...]
    traffic: tuple[Traffic, ...] | None
    """None: every protocol and port."""
    outcome: Verdict
    """What the rule does to a connection it matches."""
    ref: RuleRef
    whys: tuple[str, ...] = ()
    """What the export does not show (an interface, a destination); non-empty makes the rule
    conditional."""
    narrow: tuple[str, ...] = ()
    """Which connections the rule matches depends on what the export does not show (an
    application profile or service not known here, a source port): conditional for a port,
    and a rule for some connections only for ``--service any``."""
    unsure: str = ""
    """Non-empty when even a match does not settle the outcome (a rate limit, a rewrite)."""


def _traffics(rule: HostRule) -> list[ir.Traffic]:
    """The rule's traffic as conjunctions: one per set of protocols sharing its ports."""
    if rule.traffic is None:
        return [ir.Traffic(whys=rule.narrow)]
    ports: dict[str | None, list[Interval]] = {}
    for t in rule.traffic:
        ports.setdefault(t.protocol, []).append((t.first, t.last))
    protocols: dict[tuple[Interval, ...], set[str | None]] = {}
    for protocol, ranges in ports.items():
        protocols.setdefault(tuple(ranges), set()).add(protocol)
    return [
        ir.Traffic(
            None if None in names else frozenset(n for n in names if n is not None),
            dports=(ir.Ports(ranges),),
            whys=rule.narrow,
        )
        for ranges, names in protocols.items()
    ]


def lower(rules: Sequence[HostRule], family: int, default: tuple[Outcome, RuleRef]) -> ir.Ruleset:
    """The family's rules, in order, as one chain whose policy is the default (conditional
    when the export does not show it)."""
    out = [
        ir.Rule(r.ref, ir.Action(r.outcome, unsure=r.unsure), r.sources, traffic=t, whys=r.whys)
        for r in rules
        if r.family == family
        for t in _traffics(r)
    ]
    chain = ir.Chain("rules", tuple(out), default[1], default[0])
    return ir.Ruleset(family, {"rules": chain}, (ir.Gate("rules", main=True),))


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
    verdicts: list[Verdicts],
    findings: list[Finding],
    unsupported: list[str],
    objects: Callable[[], tuple[list[Entry], list[str]]] | None = None,
) -> RangeSet:
    info = SourceInfo.for_bytes(ctx.name, ctx.role, fmt, data, ctx.now)
    return verdicts_rangeset(FirewallResult(info, verdicts, findings, unsupported, objects))
