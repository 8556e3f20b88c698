"""The evaluation of check_host() over the whole address space, once per family: terms in
order, first match wins, with the lookup and void limits (RFC 7208 sections 4.6 and 5)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Literal

from auditor import ipspace
from auditor.spf.lookups import Answer, Dns, _absent, _mx_hosts
from auditor.spf.macros import _Unlistable, expand
from auditor.spf.record import (
    _DNS_TERMS,
    MAX_DEPTH,
    MAX_LOOKUPS,
    MAX_MX,
    MAX_PUBLISHED_LOOKUPS,
    MAX_VOID,
    DnsFailure,
    Record,
    SpfError,
    Term,
    _RecordError,
)

Piece = tuple[int, int, tuple[str, ...]]
"""(first, last, chain): an authorised range and the terms that led to it."""


@dataclass
class _Stop(Exception):
    """The evaluation ends in an error for every client that reaches this point; ``passed``
    holds what earlier terms passed, which check_host() still returns pass for."""

    kind: Literal["permerror", "temperror", "limit"]
    message: str
    passed: list[Piece] = field(default_factory=list)


@dataclass
class _Walk:
    dns: Dns
    family: int
    enforce: bool
    lookups: int = 0
    voids: int = 0
    unlistable: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    over_limit: str | None = None

    @property
    def bits(self) -> int:
        return 32 if self.family == 4 else 128

    def count_lookup(self, term: str, chain: tuple[str, ...]) -> None:
        limit = MAX_LOOKUPS if self.enforce else MAX_PUBLISHED_LOOKUPS
        if self.lookups >= limit:
            where = " > ".join((*chain, term))
            raise _Stop("limit", f"more than {limit} DNS-querying terms; stopped at {where}")
        self.lookups += 1

    def void(self, term: str, chain: tuple[str, ...]) -> None:
        self.voids += 1
        if self.enforce and self.voids > MAX_VOID:
            where = " > ".join((*chain, term))
            raise _Stop("limit", f"more than {MAX_VOID} void lookups; stopped at {where}")

    def answer(self, name: str, rdtype: str) -> Answer:
        answer = self.dns.get(name, rdtype)
        if answer.status == "error":
            raise _Stop("temperror", answer.message)
        return answer

    def evaluate(self, domain: str, chain: tuple[str, ...], seen: tuple[str, ...]) -> list[Piece]:
        """The pieces of the address space for which check_host(domain) is pass; _Stop when
        the evaluation ends in an error for the clients that reach that point."""
        if len(seen) > MAX_DEPTH:
            raise _Stop("permerror", f"includes nested deeper than {MAX_DEPTH}")
        found = self.dns.record(domain)
        if isinstance(found, DnsFailure):
            raise _Stop("temperror", found.message)
        if isinstance(found, SpfError):
            raise _Stop("permerror", found.message)
        if found is None:
            where = f"{' > '.join(chain)}: " if chain else ""
            raise _Stop("permerror", f"{where}{domain} {_absent(self.dns.get(domain, 'TXT'))}")
        return self._terms(found, chain or (domain,), (*seen, domain.lower()))

    def _terms(self, record: Record, chain: tuple[str, ...], seen: tuple[str, ...]) -> list[Piece]:
        full = (0, (1 << self.bits) - 1)
        remaining = ipspace.Intervals([full[0]], [full[1]])
        passed: list[Piece] = []
        for term in record.terms:
            try:
                if term.mechanism in _DNS_TERMS:
                    self.count_lookup(term.text, chain)
                matched = self._match(term, record, chain, seen)
            except _Stop as stop:
                # what the include passed before it stopped is still a match for those
                # clients; everyone else who reaches this term gets the error
                if term.mechanism == "include" and term.qualifier == "+":
                    passed.extend(_clip(stop.passed, remaining))
                stop.passed = passed
                raise
            if matched is None:
                continue
            pieces, space = matched
            if term.qualifier == "+":
                passed.extend(_clip(pieces, remaining))
            remaining = ipspace.difference(remaining, space)
            if not len(remaining):
                return passed
        if record.redirect and not record.has_all:
            label = f"redirect={record.redirect}"
            try:
                self.count_lookup(label, chain)
                target = self._target(record.redirect, record.domain, label, chain)
                if target is None:
                    return passed
                if target.lower() in seen:
                    raise _Stop("permerror", f"redirect loop: {' > '.join((*chain, label))}")
                inner = self.evaluate(target, (*chain, label), seen)
            except _Stop as stop:
                passed.extend(_clip(stop.passed, remaining))
                stop.passed = passed
                raise
            passed.extend(_clip(inner, remaining))
        return passed

    def _target(self, spec: str, domain: str, term: str, chain: tuple[str, ...]) -> str | None:
        try:
            return expand(spec, domain)
        except _Unlistable as e:
            self.unlistable.append(
                f"{' > '.join((*chain, term))} (macro {e} depends on the client)"
            )
            return None
        except _RecordError as e:
            raise _Stop("permerror", f"{term}: {e}") from None

    def _match(
        self, term: Term, record: Record, chain: tuple[str, ...], seen: tuple[str, ...]
    ) -> tuple[list[Piece], ipspace.Intervals] | None:
        """The pieces (with chains) a term matches and the same as intervals; None for a term
        that matches nothing for this family."""
        here = (*chain, term.text)
        mech = term.mechanism
        if mech == "all":
            return _pieces([(0, (1 << self.bits) - 1)], here)
        if mech in ("ip4", "ip6"):
            if term.family != self.family or term.first < 0:
                return None
            return _pieces([(term.first, term.last)], here)
        if mech == "ptr":
            self.unlistable.append(f"{' > '.join(here)} (ptr depends on the client's reverse DNS)")
            return None
        name = (
            self._target(term.domain, record.domain, term.text, chain)
            if term.domain
            else record.domain
        )
        if name is None:
            return None
        if mech == "include":
            if name.lower() in seen:
                raise _Stop("permerror", f"include loop: {' > '.join(here)}")
            inner = self.evaluate(name, here, seen)
            merged = ipspace.normalize([p[0] for p in inner], [p[1] for p in inner])
            return inner, merged
        if mech == "exists":
            answer = self.answer(name, "A")
            if answer.status in ("void", "invalid"):
                self.void(term.text, chain)
                return None
            return _pieces([(0, (1 << self.bits) - 1)], here)
        if mech == "a":
            return self._addresses([name], term, here, chain)
        answer = self.answer(name, "MX")  # mx
        if answer.status in ("void", "invalid"):
            self.void(term.text, chain)
            return None
        hosts = _mx_hosts(answer)
        if len(answer.values) > MAX_MX:
            raise _Stop("permerror", f"{' > '.join(here)}: {name} has more than {MAX_MX} MX names")
        return self._addresses(hosts, term, here, chain, count_void=False)

    def _addresses(
        self,
        names: Sequence[str],
        term: Term,
        here: tuple[str, ...],
        chain: tuple[str, ...],
        count_void: bool = True,
    ) -> tuple[list[Piece], ipspace.Intervals] | None:
        rdtype = "A" if self.family == 4 else "AAAA"
        plen = term.cidr4 if self.family == 4 else term.cidr6
        ranges = []
        for name in names:
            answer = self.answer(name, rdtype)
            if answer.status in ("void", "invalid"):
                if count_void:
                    self.void(term.text, chain)
                continue
            for value in answer.values:
                fam, addr, mapped = ipspace.parse_address(str(value))
                if fam != self.family or mapped:  # a mapped client is IPv4 (section 5)
                    continue
                size = 1 << (self.bits - plen)
                first = addr & ~(size - 1)
                ranges.append((first, first + size - 1))
        if not ranges:
            return None
        return _pieces(ranges, here)


def _pieces(
    ranges: Sequence[tuple[int, int]], chain: tuple[str, ...]
) -> tuple[list[Piece], ipspace.Intervals]:
    merged = ipspace.normalize([a for a, _ in ranges], [b for _, b in ranges])
    starts, ends = ipspace.as_lists(merged)
    return [(a, b, chain) for a, b in zip(starts, ends, strict=True)], merged


def _clip(pieces: Sequence[Piece], keep: ipspace.Intervals) -> Iterator[Piece]:
    """Each piece cut to the parts inside ``keep`` (sorted, disjoint intervals)."""
    import bisect

    starts, ends = ipspace.as_lists(keep)
    for first, last, chain in pieces:
        i = bisect.bisect_left(ends, first)
        while i < len(starts) and starts[i] <= last:
            yield max(first, starts[i]), min(last, ends[i]), chain
            i += 1
