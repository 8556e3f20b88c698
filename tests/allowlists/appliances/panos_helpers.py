"""Reading PAN-OS configurations in tests: the verdict for one address."""

from __future__ import annotations

from pathlib import Path

from auditor import ipspace
from auditor.allowlists import ReadContext, reader_for
from auditor.model import RangeSet, Segment
from auditor.service import Service


def read(
    text: str | bytes,
    chain: str | None = "untrust:trust",
    to: str | None = "203.0.113.25",
    service: str = "tcp/25",
    name: str = "fw.set",
) -> RangeSet:
    data = text.encode() if isinstance(text, str) else text
    ctx = ReadContext(name, "declared", service=Service.parse(service), chain=chain, to=to)
    return reader_for("panos").parse(data, ctx)


def segment(rs: RangeSet, address: str) -> Segment:
    fam, value, _ = ipspace.parse_address(address)
    verdicts = next(v for v in rs.verdicts if v.family == fam)
    got = verdicts.lookup(value)
    assert got is not None
    return got


def outcome(rs: RangeSet, address: str) -> str:
    return segment(rs, address).outcome


def corpus() -> Path | None:
    here = Path(__file__).resolve().parents[3]
    for parent in (here, *here.parents):
        if (parent / "shared" / "corpus" / "firewall").is_dir():
            return parent / "shared" / "corpus" / "firewall"
    return None
