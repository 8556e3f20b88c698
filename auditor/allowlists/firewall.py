"""What firewall readers share: first-match evaluation over the source address space.

A ruleset does not list an allowlist; it decides, for each packet, a verdict. The readers
answer the question an admin asks, "which source addresses can open a connection to this
service", by evaluating the rules in order for every source address at once:

- A chain is a list of *claims*: the source intervals a rule matches for the service, in
  rule order, each with the rule's outcome. For every address the first claim wins (first
  match), computed for all addresses in one sweep (:func:`first_claims`), so a 50,000-rule
  chain costs a sort, not 50,000 set differences.
- Outcomes: ``accept``, ``drop`` (DROP and REJECT), ``return`` (back to the calling chain;
  at the end of a built-in chain, its policy) and ``conditional`` (the deciding rule depends
  on something the export does not show: an interface, an ipset whose members were not
  given, a rate limit, a time). Conditional addresses are never counted as allowed.
- A service with several ports (``tcp/25,465,587``) is evaluated once per port; an address
  is allowed only when every port accepts it (:func:`combine`).

The result is a :class:`Verdicts` per family: disjoint segments, each with the rule that
decided it (file:line and the rule's text), which :func:`verdicts_rangeset` turns into the
RangeSet the core compares (the allowed part) plus what ``auditor explain`` shows.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from auditor.model import (
    Completeness,
    Entries,
    Entry,
    Finding,
    Origin,
    Outcome,
    RangeSet,
    RuleRef,
    Segment,
    Severity,
    SourceInfo,
    Stage,
    Verdicts,
)
from auditor.ruleset.sweep import (
    Claim,
    client_ports,
    clip,
    combine,
    complement,
    fill_gaps,
    first_claims,
    merge,
)

__all__ = [  # their homes are auditor.model and auditor.ruleset.sweep
    "Claim",
    "Outcome",
    "RuleRef",
    "Segment",
    "Stage",
    "Verdicts",
    "clip",
    "client_ports",
    "combine",
    "complement",
    "fill_gaps",
    "first_claims",
    "merge",
]


MAX_REASONS = 5


@dataclass
class FirewallResult:
    """What a firewall reader hands back: verdicts per family it covers, and findings."""

    info: SourceInfo
    verdicts: list[Verdicts] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    unsupported: list[str] = field(default_factory=list)
    objects: Callable[[], tuple[list[Entry], list[str]]] | None = None
    """Makes, when a scope asks, the addresses of the ruleset's named objects (each entry's
    group the object's name) and the name of every object, empty ones included."""


def verdicts_rangeset(result: FirewallResult) -> RangeSet:
    """The allowed part as entries (origin: the accepting rule); conditional addresses make the
    source partial, with the rules that made them so."""
    name = result.info.name
    entries: list[Entry] = []
    reasons: list[str] = []
    seen_rules: set[RuleRef] = set()
    for v in result.verdicts:
        for seg in v.segments:
            if seg.outcome == "accept":
                origin = Origin(name, seg.rule.origin.line, seg.rule.text)
                entries.append(Entry(v.family, seg.first, seg.last, origin))
            elif seg.outcome == "conditional" and seg.rule not in seen_rules:
                seen_rules.add(seg.rule)
                if len(reasons) < MAX_REASONS:
                    reasons.append(f"conditional: {seg.rule.describe()}")
    conditional = sum(1 for v in result.verdicts for s in v.segments if s.outcome == "conditional")
    if len(seen_rules) > MAX_REASONS:
        reasons.append(f"{len(seen_rules) - MAX_REASONS} more rules make addresses conditional")
    findings = list(result.findings)
    for text in result.unsupported:
        findings.append(Finding("unsupported", Severity.WARNING, text, Origin(name)))
    return RangeSet(
        info=result.info,
        entries=Entries.from_entries(name, entries),
        completeness=Completeness.PARTIAL if conditional else Completeness.COMPLETE,
        reasons=tuple(reasons),
        findings=tuple(findings),
        verdicts=tuple(result.verdicts),
        families=tuple(v.family for v in result.verdicts),
        make_objects=_objects(name, result.objects) if result.objects is not None else None,
    )


def _objects(name: str, make: Callable[[], tuple[list[Entry], list[str]]]) -> Callable[[], Entries]:
    def entries() -> Entries:
        found, names = make()
        return Entries.from_entries(name, found, names)

    return entries
