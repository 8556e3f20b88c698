"""What every ruleset reader hands back, and how its verdicts become a RangeSet.

A ruleset reader parses its format, lowers it to :mod:`auditor.ruleset.ir` and has
:mod:`auditor.ruleset.engine` evaluate it: per family, disjoint segments of the address space,
each allowed, denied or conditional with the rule that decided it. :func:`verdicts_rangeset`
turns them into the RangeSet the core compares: the allowed part as entries (their origin the
accepting rule), conditional addresses making the source partial, with the rules that made them
so; ``auditor explain`` and rule placement read the verdicts themselves.
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
    RangeSet,
    RuleRef,
    Severity,
    SourceInfo,
    Verdicts,
)

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
