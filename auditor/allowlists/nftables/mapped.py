"""IPv4-mapped IPv6 addresses written in a ruleset (``ip6 saddr ::ffff:192.0.2.0/120``): nft keeps
them as IPv6, and no IPv4 packet ever carries one, so each gets the warning every reader gives,
with where it is written and the IPv4 form to write.

The parsed ruleset is walked once, rules and sets as written, so an address is named once
however often the evaluation reads it (an inet table for both families, a set by each rule)."""

from __future__ import annotations

from collections.abc import Iterator

from auditor import ipspace
from auditor.allowlists.base import MAX_FINDINGS_PER_KIND
from auditor.allowlists.nftables.ast import (
    AnonSet,
    Bits,
    Cat,
    Elem,
    Masked,
    Match,
    Pfx,
    Rng,
    Ruleset,
    Val,
    Value,
    Verdict,
    VMap,
)
from auditor.errors import AddressError
from auditor.model import Finding, Origin, Severity

_KIND = "ipv4-mapped"


def _texts(v: Value | None, line: int | None) -> Iterator[tuple[str, int | None]]:
    """Every literal that may be an address or network, as written, with the line of the
    element it sits in (``line`` when it is in none)."""
    if isinstance(v, Val):
        yield v.text, line
    elif isinstance(v, Pfx):
        yield f"{v.addr}/{v.length}", line
    elif isinstance(v, Rng):
        if isinstance(v.lo, Val) and isinstance(v.hi, Val):
            yield f"{v.lo.text}-{v.hi.text}", line
    elif isinstance(v, AnonSet):
        for e in v.elems:
            yield from _elem_texts(e, line)
    elif isinstance(v, Cat | Bits):
        for part in v.parts if isinstance(v, Cat) else v.items:
            yield from _texts(part, line)
    elif isinstance(v, Masked):
        yield from _texts(v.value, line)  # the mask is no address of a sender


def _elem_texts(e: Elem, line: int | None) -> Iterator[tuple[str, int | None]]:
    at = e.line if e.line is not None else line
    yield from _texts(e.key, at)
    if not isinstance(e.data, Verdict):
        yield from _texts(e.data, at)


def _mapped(text: str) -> ipspace.Parsed | None:
    # most literals are ports, names and plain addresses: parse only what may be mapped
    if ":" not in text or "ffff" not in text.lower():
        return None
    try:
        parsed = ipspace.parse(text, "fix")
    except AddressError:
        return None
    return parsed if parsed.mapped else None


def mapped_findings(rs: Ruleset, name: str) -> list[Finding]:
    """One ``ipv4-mapped`` warning per address written mapped, in rules and in sets."""
    found: list[tuple[str, ipspace.Parsed, Origin]] = []
    for table in rs.tables.values():
        for nset in table.sets.values():
            for e in nset.elems:
                for text, line in _elem_texts(e, nset.line):
                    parsed = _mapped(text)
                    if parsed is not None:
                        found.append((text, parsed, Origin(name, line, e.path)))
        for chain in table.chains.values():
            for rule in chain.rules:
                for item in rule.items:
                    value = item.right if isinstance(item, Match) else None
                    value = item.data if isinstance(item, VMap) else value
                    for text, line in _texts(value, rule.line):
                        parsed = _mapped(text)
                        if parsed is not None:
                            found.append((text, parsed, Origin(name, line, rule.path)))
    out = [
        Finding(_KIND, Severity.WARNING, ipspace.mapped_note(text, parsed), origin)
        for text, parsed, origin in found[:MAX_FINDINGS_PER_KIND]
    ]
    if len(found) > MAX_FINDINGS_PER_KIND:
        more = len(found) - MAX_FINDINGS_PER_KIND
        message = f"{more} more '{_KIND}' findings not listed"
        out.append(Finding(_KIND, Severity.INFO, message, Origin(name)))
    return out
