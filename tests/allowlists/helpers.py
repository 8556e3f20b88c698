"""Small helpers for the list-reader tests."""

from __future__ import annotations

from auditor.allowlists import ReadContext, reader_for
from auditor.ipspace import HostBitsPolicy, IPSpace
from auditor.model import Finding, RangeSet, Role


def read(
    fmt: str,
    data: bytes | str,
    *,
    name: str = "list.txt",
    role: Role = "declared",
    host_bits: HostBitsPolicy = "fix",
    lenient: bool = False,
) -> RangeSet:
    raw = data.encode("utf-8") if isinstance(data, str) else data
    return reader_for(fmt).parse(raw, ReadContext(name, role, host_bits, lenient))


def space(*items: str) -> IPSpace:
    return IPSpace.from_text(items)


def texts(rs: RangeSet) -> list[tuple[str, int | None]]:
    """(entry text, line) for every entry, in line order."""
    return sorted(((e.text, e.origin.line) for e in rs.entries), key=lambda t: (t[1] or 0, t[0]))


def of_kind(rs: RangeSet, kind: str) -> list[Finding]:
    return [f for f in rs.findings if f.kind == kind]


def lines_of(findings: list[Finding]) -> list[int]:
    """The line numbers of findings, sorted; a finding without a line counts as 0."""
    return sorted((f.origin.line or 0) if f.origin else 0 for f in findings)
