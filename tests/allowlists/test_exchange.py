"""Exchange receive connectors: RemoteIPRanges from Get-ReceiveConnector | Format-List."""

from __future__ import annotations

from pathlib import Path

import pytest

from auditor.allowlists import ReadContext, ReaderError, reader_for
from auditor.allowlists.mail.exchange_connector import sniff
from auditor.model import Completeness, RangeSet, Severity
from auditor.service import Service
from auditor.sources.files import detect_format

from .helpers import of_kind, texts

FIXTURES = Path(__file__).parent.parent / "fixtures" / "mailserver" / "exchange"


def read(data: str | Path, service: str | None = None, name: str = "connectors.txt") -> RangeSet:
    if isinstance(data, Path):
        name, raw = str(data), data.read_bytes()
    else:
        raw = data.encode()
    svc = Service.parse(service) if service else None
    return reader_for("exchange-connector").parse(raw, ReadContext(name, "declared", service=svc))


def test_connectors_and_wrapped_ranges() -> None:
    rs = read(FIXTURES / "connectors.txt")
    assert rs.completeness is Completeness.COMPLETE
    assert texts(rs) == [
        ("192.0.2.0/24", 7),
        ("198.51.100.1-198.51.100.20", 7),
        ("2001:db8::/48", 7),
        ("203.0.113.5/32", 7),
        ("198.51.100.64/26", 8),  # printed as 198.51.100.64(255.255.255.192)
        ("2001:db8:ff00::/40", 8),
        ("203.0.113.128/25", 8),
        # Format-List broke this range inside the word: the pieces are joined again
        ("192.0.2.250-192.0.2.255", 9),
    ]
    assert rs.groups == ("EXCH01\\Default Frontend EXCH01",)
    assert {e.group for e in rs.entries} == {"EXCH01\\Default Frontend EXCH01"}


def test_other_ports_and_disabled_connectors_are_left_out() -> None:
    rs = read(FIXTURES / "connectors.txt")
    (port,) = of_kind(rs, "other-port")
    assert "Client Frontend EXCH01 listens on port 587, not tcp/25" in port.message
    assert port.origin is not None and port.origin.line == 15
    (disabled,) = of_kind(rs, "disabled")
    assert "Old Relay is disabled" in disabled.message
    # asked about submission, the client connector (the whole address space) counts
    rs = read(FIXTURES / "connectors.txt", service="tcp/587")
    assert rs.groups == ("EXCH01\\Client Frontend EXCH01",)
    # Exchange's default ::-ffff:...:ffff is IPv6 only, ::ffff:0:0/96 included: IPv4
    # clients are matched by its 0.0.0.0-255.255.255.255
    assert texts(rs) == [("0.0.0.0/0", 16), ("::/0", 16)]
    assert rs.space.size(4) == 1 << 32
    assert not of_kind(rs, "ipv4-mapped")
    rs = read(FIXTURES / "connectors.txt", service="any")
    assert len(rs.groups) == 2


def test_truncated_list_makes_the_source_partial() -> None:
    rs = read(FIXTURES / "truncated.txt")
    assert rs.completeness is Completeness.PARTIAL
    assert "cut short" in rs.reasons[0]
    (note,) = of_kind(rs, "truncated")
    assert note.severity is Severity.ERROR
    assert "$FormatEnumerationLimit = -1" in note.message
    assert [t for t, _ in texts(rs)] == [f"10.0.0.{i}/32" for i in range(1, 5)]
    assert rs.groups == ("Relay EXCH02",)


def test_name_without_identity_and_crlf() -> None:
    rs = read("Name : Relay\r\nRemoteIPRanges : {192.0.2.1}\r\n")
    assert rs.groups == ("Relay",)
    assert texts(rs) == [("192.0.2.1/32", 2)]


def test_expanded_ip_range_objects() -> None:
    rs = read(
        "LowerBound  : 192.0.2.0\nUpperBound  : 192.0.2.255\nNetmask     : 255.255.255.0\n"
        "CIDRLength  : 24\nRangeFormat : CIDR\n\n"
        "Expression  : 198.51.100.1-198.51.100.9\nRangeFormat : LoHi\n"
    )
    assert texts(rs) == [("192.0.2.0/24", 1), ("198.51.100.1-198.51.100.9", 7)]


def test_host_bits_are_reported() -> None:
    rs = read("Name : R\nRemoteIPRanges : {192.168.3.1/24}\n")
    assert texts(rs) == [("192.168.3.0/24", 2)]
    assert of_kind(rs, "host-bits")


def test_bad_entries() -> None:
    rs = read("Name : R\nRemoteIPRanges : {192.0.2.1, fe80::1%11, 10.0.0.0(255.0.255.0)}\n")
    assert rs.completeness is Completeness.PARTIAL
    assert len(of_kind(rs, "bad-entry")) == 2
    assert texts(rs) == [("192.0.2.1/32", 2)]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("192.0.2.0/24\n", "no RemoteIPRanges line"),
        ("Name : R\nBindings : {0.0.0.0:587}\nRemoteIPRanges : {192.0.2.1}\n", "no connector"),
        ("Name : R\nRemoteIPRanges : {192.0.2.1}\nthis is not a field\n", "Name : value"),
    ],
)
def test_errors(text: str, message: str) -> None:
    with pytest.raises(ReaderError) as err:
        read(text)
    assert message in err.value.message


def test_detection() -> None:
    data = (FIXTURES / "connectors.txt").read_bytes()
    assert sniff(data)
    assert detect_format("connectors", data) == "exchange-connector"
    assert detect_format("-", data) == "exchange-connector"
    assert not sniff(b"192.0.2.0/24\nRemoteIPRanges\n")
